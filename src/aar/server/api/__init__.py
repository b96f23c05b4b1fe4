"""HTTP routers of the evaluation server, one module per resource."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

ParamValue = str | int | float | bool
# a method's parameters as an agent may send them (submissions and experiments alike)
Params = dict[Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,39}$")], ParamValue]


class Body(BaseModel):
    """Request bodies reject unknown fields: a client cannot smuggle in an author, a score or a split."""

    model_config = ConfigDict(extra="forbid")


def decode_archive(archive: str, entry: str) -> bytes:
    """A base64 tar.gz snapshot from a request, checked before anything is written: it unpacks within the
    size limits and holds the entry's file (422 otherwise)."""
    import base64
    import binascii

    from fastapi import HTTPException

    from aar.errors import AarError
    from aar.snapshots import check_entry, members

    try:
        data = base64.b64decode(archive, validate=True)
        check_entry(entry, members(data))
    except binascii.Error:
        raise HTTPException(422, "archive must be base64 (standard alphabet) of a tar.gz") from None
    except AarError as exc:
        raise HTTPException(422, str(exc)) from None
    return data


def store_snapshot(session, data: bytes) -> str:
    """Store a snapshot once per content hash (a concurrent store of the same bytes is equal); its sha256."""
    import hashlib

    from sqlalchemy.exc import IntegrityError

    from aar.server.models import Snapshot

    sha = hashlib.sha256(data).hexdigest()
    if session.get(Snapshot, sha) is None:
        session.add(Snapshot(sha256=sha, size=len(data), data=data))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
    return sha
