"""A campaign's settings, saved as ``spec.json`` in its folder: what `aar run --resume`, `aar report`,
`aar transfer` and `aar integrity` read to find the campaign's database and budgets again."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from aar import paths
from aar.errors import AarError
from aar.fsio import write_json_atomic
from aar.seeds import verification_seeds
from aar.tasks.registry import DEFAULT_TASKS


@dataclass
class CampaignSpec:
    name: str
    agents: int = 4
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_TASKS))
    backend: str = "heuristic"
    model: str | None = None
    base_url: str | None = None
    detail: str = "vague"
    directions: list[dict] = field(default_factory=list)  # drawn once, saved: [{"key", "text"}]
    dev_evals: int = 24
    submit_budget: int = 6
    verify_seeds: list[int] = field(default_factory=lambda: verification_seeds(5))
    wall_minutes: float = 60.0
    stall_minutes: float = 15.0
    max_restarts: int = 2
    seed: int = 0
    db: str | None = None
    workers: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))  # verification workers
    unsafe_sandbox: bool = False
    ray_address: str | None = None  # verification and experiments as Ray tasks on this cluster
    transfer: bool = True  # the transfer gauntlet after the results (`aar transfer`)
    transfer_top_k: int = 1
    transfer_seeds: int = 5  # how many fresh seeds (aar.seeds.transfer_seeds)
    allow_zero_shot: bool = True  # attribution policy (aar.results.attribution.AttributionPolicy)
    allow_text_reading: bool = False
    continue_from: str | None = None  # an earlier campaign whose best methods and forum start this one

    def folder(self) -> Path:
        return paths.campaign_dir(self.name)

    def db_url(self) -> str:
        return self.db or f"sqlite:///{self.folder() / 'aar.db'}"

    def save(self) -> None:
        self.folder().mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.folder() / "spec.json", asdict(self))

    @classmethod
    def load(cls, name: str) -> CampaignSpec:
        path = paths.campaign_dir(name) / "spec.json"
        if not path.exists():
            known = sorted(p.parent.name for p in path.parent.parent.glob("*/spec.json"))
            raise AarError(f"no campaign {name!r} under {path.parent.parent}"
                           + (f" (there: {', '.join(known[:10])}{', ...' if len(known) > 10 else ''})" if known
                              else " (none there yet)"))
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise AarError(f"{path}: not a campaign spec ({exc})") from exc
