"""Tables. Tokens are stored as SHA-256 digests only (they are 256-bit random, so no slow hash is needed)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from aar.results.attribution import AttributionPolicy
from aar.results.submission import SubmissionStatus as Status
from aar.results.submission import transition
from aar.results.verification import VerificationResult


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class UsageColumns:
    """LLM and compute usage: totals on an agent, increments on a usage event (same names, added 1:1)."""

    llm_calls: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cached_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    compute_s: Mapped[float] = mapped_column(Float, default=0.0)


class Campaign(Base):
    __tablename__ = "campaigns"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    dev_budget: Mapped[int] = mapped_column(Integer, default=50)
    round_digits: Mapped[int] = mapped_column(Integer, default=2)
    submit_budget: Mapped[int] = mapped_column(Integer, default=10)
    verify_seeds: Mapped[list] = mapped_column(JSON, default=lambda: [1000, 1001, 1002, 1003, 1004])
    verify_timeout_s: Mapped[int] = mapped_column(Integer, default=1800)
    agent_usd_budget: Mapped[float] = mapped_column(Float, default=5.0)
    agent_token_budget: Mapped[int] = mapped_column(BigInteger, default=5_000_000)
    agent_compute_s_budget: Mapped[float] = mapped_column(Float, default=7200.0)
    agent_wall_s_budget: Mapped[float] = mapped_column(Float, default=7200.0)
    campaign_usd_budget: Mapped[float] = mapped_column(Float, default=50.0)
    campaign_token_budget: Mapped[int] = mapped_column(BigInteger, default=100_000_000)
    campaign_compute_s_budget: Mapped[float] = mapped_column(Float, default=86400.0)
    campaign_wall_s_budget: Mapped[float] = mapped_column(Float, default=86400.0)  # from created_at
    campaign_dev_budget: Mapped[int] = mapped_column(Integer, default=100_000)  # all agents together
    dev_evals_used: Mapped[int] = mapped_column(Integer, default=0)  # the sum of its agents' counters
    allow_zero_shot: Mapped[bool] = mapped_column(Boolean, default=True)  # attribution policy
    allow_text_reading: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    @property
    def policy(self) -> AttributionPolicy:
        return AttributionPolicy(allow_zero_shot=bool(self.allow_zero_shot),
                                 allow_text_reading=bool(self.allow_text_reading))


class Agent(UsageColumns, Base):
    __tablename__ = "agents"
    __table_args__ = (UniqueConstraint("campaign_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    dev_evals_used: Mapped[int] = mapped_column(Integer, default=0)
    submissions_used: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default="created")
    stop_reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Evaluation(Base):
    """Every scored query, with the full prediction vector, so probing can be audited later."""

    __tablename__ = "evaluations"
    __table_args__ = (Index("ix_evaluations_agent_decisions", "agent_id", "decisions_sha256"),
                      Index("ix_evaluations_campaign_decisions", "campaign_id", "decisions_sha256"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    task: Mapped[str] = mapped_column(String(40))
    split: Mapped[str] = mapped_column(String(16))
    predictions_sha256: Mapped[str] = mapped_column(String(64))  # sha256_json of the {id: p} object
    predictions: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # rows before migration 0007
    item_order: Mapped[str | None] = mapped_column(ForeignKey("item_orders.sha256"), nullable=True)
    vector: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # float64 in ``item_order``
    accuracy: Mapped[float] = mapped_column(Float)
    pgr: Mapped[float | None] = mapped_column(Float, nullable=True)
    reported: Mapped[float | None] = mapped_column(Float, nullable=True)  # what the agent was told
    request_id: Mapped[str] = mapped_column(String(32))
    # which side of 0.5 each item falls on (aar.server.vectors.decisions_sha256): a repeat is answered free
    decisions_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)  # null before migration 0008


class ItemOrder(Base):
    """A canonical item order (a task's sorted dev ids), stored once and shared by every evaluation vector."""

    __tablename__ = "item_orders"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    ids: Mapped[list] = mapped_column(JSON)


class Snapshot(Base):
    """A method's code as submitted: a size-capped tar.gz, stored once per content hash."""

    __tablename__ = "snapshots"
    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Submission(Base):
    """A method registered for verification. The queue is this table: a worker claims a queued row,
    holds a lease it renews by heartbeat, and a row whose lease expired (dead worker) is re-queued."""

    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    task: Mapped[str] = mapped_column(String(40))
    entry: Mapped[str] = mapped_column(String(200))  # file.py:ClassName inside the snapshot
    params: Mapped[dict] = mapped_column(JSON)
    snapshot_sha256: Mapped[str] = mapped_column(ForeignKey("snapshots.sha256"))
    seeds: Mapped[list] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=Status.QUEUED, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    method_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # PGR, CI, p vs vanilla, accuracies
    quarantine_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # agent, code, entry, task, params: unique while not failed (parallel identical submissions make one row)
    dedupe_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True, index=True)
    # set on a method carried over from an earlier campaign (aar.server.heritage): campaign, agent, submission
    origin: Mapped[dict | None] = mapped_column(JSON, nullable=True)

    @property
    def verification(self) -> VerificationResult | None:
        """The ``result`` column, validated through its one model."""
        return VerificationResult.read(self.result)

    def move_to(self, target: Status, **fields) -> None:
        """Change status along a legal edge (IllegalTransition otherwise) and set ``fields`` with it."""
        self.status = transition(self.status, target)
        for name, value in fields.items():
            setattr(self, name, value)


class Experiment(Base):
    """An agent's experiment, run where the labels are: the server's workers run the method on a label-free
    bundle of the agent's experiment seeds and keep its dev predictions, output and progress. The queue is
    this table, claimed and leased like submissions (:mod:`aar.server.experiment_jobs`)."""

    __tablename__ = "experiments"
    __table_args__ = (UniqueConstraint("agent_id", "number", name="uq_experiments_agent_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer)  # the agent's own count: the id the agent sees and passes back
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    task: Mapped[str] = mapped_column(String(40))
    entry: Mapped[str] = mapped_column(String(200))  # a built-in method, or file.py:ClassName in the snapshot
    params: Mapped[dict] = mapped_column(JSON)
    seeds: Mapped[list] = mapped_column(JSON)  # the agent's own experiment seeds (below the verification range)
    snapshot_sha256: Mapped[str | None] = mapped_column(ForeignKey("snapshots.sha256"), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)  # queued running done failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    worker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    progress: Mapped[str | None] = mapped_column(String(200), nullable=True)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)  # the method's stdout and stderr, bounded
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    compute_s: Mapped[float] = mapped_column(Float, default=0.0)  # charged to the agent when it finished
    result: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # dev predictions per seed, timings, audit


class SeedPrediction(Base):
    """Per-seed student probabilities of a verified submission, keyed by example id (audit trail)."""

    __tablename__ = "seed_predictions"
    __table_args__ = (UniqueConstraint("submission_id", "seed", "split"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    seed: Mapped[int] = mapped_column(Integer)
    split: Mapped[str] = mapped_column(String(16))
    predictions: Mapped[dict] = mapped_column(JSON)


class Post(Base):
    """A forum post or a reply (``parent_id`` set). Author is always the posting token's agent."""

    __tablename__ = "posts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), nullable=True,
                                                  index=True)
    root_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(String(400))  # space-separated; searchable as text
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id", ondelete="SET NULL"),
                                                      nullable=True)
    origin: Mapped[dict | None] = mapped_column(JSON, nullable=True)  # a post carried over: campaign, post, author


class Vote(Base):
    """One vote per agent per post, enforced by the database; counts are aggregated from this table."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("post_id", "agent_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    value: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UsageEvent(UsageColumns, Base):
    """One accounting record from the orchestrator: an LLM call or an experiment's compute."""

    __tablename__ = "usage_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class TranscriptEvent(Base):
    """One transcript line of an agent (a message, a tool call, a start or stop), mirrored from the agent's
    own transcript file so the dashboard can show it live; ``seq`` is the agent's line number."""

    __tablename__ = "transcript_events"
    __table_args__ = (UniqueConstraint("agent_id", "seq"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    time: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict] = mapped_column(JSON)


class IntegrityFinding(Base):
    """A detector's hit. ``fingerprint`` (detector, agent, submission, task) keeps re-scans idempotent;
    ``review`` is the admin's decision: None (open), "cleared" or "confirmed"."""

    __tablename__ = "integrity_findings"
    __table_args__ = (UniqueConstraint("campaign_id", "fingerprint"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"),
                                                      nullable=True)
    detector: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict] = mapped_column(JSON)
    fingerprint: Mapped[str] = mapped_column(String(64))
    review: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
