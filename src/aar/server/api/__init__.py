"""HTTP routers of the evaluation server, one module per resource."""

from pydantic import BaseModel, ConfigDict


class Body(BaseModel):
    """Request bodies reject unknown fields: a client cannot smuggle in an author, a score or a split."""

    model_config = ConfigDict(extra="forbid")
