"""Methods over tasks on the trusted testbed, as typed rows: what `aar baseline` prints and writes as JSON.

Method names are checked against each task's format before anything is encoded, so a typo costs a second,
not a feature build."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aar.errors import AarError
from aar.methods import available, get_method
from aar.stats import Interval, PGRSummary
from aar.stats.bootstrap import finite
from aar.stats.power import interval_detectable_effect
from aar.tasks import load_task
from aar.w2s.pipeline import RunResult, Testbed, TestbedConfig


@dataclass(frozen=True)
class BaselineRow:
    method: str
    params: dict[str, Any]
    seeds: list[int]
    summary: PGRSummary
    diff_vs_vanilla: Interval
    p_vs_vanilla: float | None  # None for vanilla itself

    def as_json(self, task: str, split: str, weak: str, strong: str) -> dict[str, Any]:
        s = self.summary
        return {"task": task, "method": self.method, "params": self.params, "split": split, "seeds": self.seeds,
                "items": s.items, "weak": weak, "strong": strong, "weak_acc": s.weak_acc.as_json(),
                "ceiling_acc": s.ceiling_acc.as_json(), "student_acc": s.student_acc.as_json(),
                "pgr": s.pgr.as_json(), "pgr_diff_vs_vanilla": self.diff_vs_vanilla.as_json(),
                "p_vs_vanilla": self.p_vs_vanilla, "detectable_at_p_0.01": finite(self.detectable)}

    @property
    def detectable(self) -> float:
        """The smallest PGR difference from vanilla this comparison finds at p < 0.01 with 80% power (NaN for
        vanilla itself: no comparison)."""
        if self.p_vs_vanilla is None:
            return math.nan
        return interval_detectable_effect(self.diff_vs_vanilla.lo, self.diff_vs_vanilla.hi)


@dataclass(frozen=True)
class BaselineTable:
    """One task: the weak-ceiling frame (from vanilla's runs) and one row per method."""

    task: str
    format: str
    split: str
    weak: str
    strong: str
    head: PGRSummary
    rows: list[BaselineRow] = field(default_factory=list)

    @property
    def gap_is_real(self) -> bool:
        """False when the ceiling's interval overlaps the weak model's: PGR then divides by noise."""
        return self.head.ceiling_acc.lo > self.head.weak_acc.hi

    def as_json(self) -> list[dict[str, Any]]:
        return [r.as_json(self.task, self.split, self.weak, self.strong) for r in self.rows]


def method_names(spec: str, task: str, fmt: str) -> list[str]:
    """``all`` (every built-in for this format), or a comma list checked against the registry and the task's
    format (the backend-specific check waits for the testbed)."""
    if spec == "all":
        return [n for n, cls in available().items() if fmt in cls.formats and cls.baseline]
    names = [m.strip() for m in spec.split(",") if m.strip()]
    if not names:
        raise AarError(f"no method in {spec!r}")
    for name in names:
        cls = get_method(name)
        if fmt not in cls.formats:
            raise AarError(f"method {cls.name!r} supports {', '.join(cls.formats)} tasks; {task!r} is a {fmt} task")
    return names


def run_baselines(tasks: list[str], method_spec: str, seeds: list[int], params: dict[str, Any], weak: str,
                  strong: str, split: str, progress: Callable[[str], Any] | None = None) -> list[BaselineTable]:
    if split not in ("test", "dev"):
        raise AarError(f"split must be 'test' or 'dev', got {split!r}")
    plans = []
    for task in tasks:  # validate every task and method before running any
        names = method_names(method_spec, task, load_task(task).format)
        if params and len(names) != 1:
            raise AarError("--param needs exactly one --method")
        plans.append((task, names))
    tables = []
    for task, names in plans:
        bed = Testbed(TestbedConfig(task=task, weak=weak, strong=strong))
        for name in names:
            bed.check_method(name)
        if progress:
            progress(f"{task}: running {len(names)} method(s) x {len(seeds)} seeds")
        vanilla = bed.run("vanilla", seeds)
        results: dict[str, RunResult] = {}
        for name in names:
            results[name] = vanilla if name == "vanilla" and not params else bed.run(name, seeds, params)
        table = BaselineTable(task, bed.task.format, split, weak, bed.config.strong, vanilla.summary(split))
        for name, result in results.items():
            test = result.versus(vanilla, split)
            table.rows.append(BaselineRow(name, result.params, result.seeds, result.summary(split), test.diff,
                                          None if name == "vanilla" else test.p_value))
        tables.append(table)
    return tables
