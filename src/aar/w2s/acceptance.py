"""``aar testbed check``: is each task a usable scientific instrument? Every acceptance figure, measured.

The figures, per task (5 seeds, test split unless said otherwise):

- ``weak``: the teacher is not at chance (accuracy >= 0.55);
- ``gap``: the ceiling beats the teacher by >= 0.10 with disjoint 95% intervals;
- ``power``: vanilla PGR's 95% interval half-width <= 0.12 (the smallest effect the test set can resolve);
- ``phenomenon``: vanilla PGR significantly above 0 (interval above 0); required on 2 of 3 tasks;
- ``headroom``: vanilla PGR below 0.8;
- ``methods_matter``: some built-in method beats vanilla with a paired bootstrap p < 0.01;
- ``detectable``: the smallest PGR difference a paired comparison on this task and seed set detects at
  p < 0.01 (two-sided) with 80% power, from the paired intervals of the built-ins against vanilla
  (:mod:`aar.stats.power`): <= 0.10, so that a +0.10 gain can be told from noise; each method's own is in
  its row, next to its p-value;
- ``teacher_matters``: with an uninformative teacher (its labels permuted across items) vanilla's and the best
  built-in's PGR fall to at most 0.3: a task whose strong features solve it alone cannot tell a weak-to-strong
  method from an unsupervised one;
- ``dev_signal``: the standard deviation of single-seed dev PGR over the seeds <= 0.15 (what a researcher
  reads from one experiment is usable);
- ``leaks``: every structural probe of :mod:`aar.tasks.leaks` at most 0.02 above the majority class;
- ``private``: test and holdout inputs absent from ``public/`` and from an experiment's bundle;
- ``speed``: one in-process experiment (teacher and vanilla student, one new seed, predictions on every
  split; no ceiling, which an experiment does not need) <= 2 s median.

The README's testbed table is this command's output; the cold ``make run`` budget is measured by the benchmark
(``benchmarks/bench_campaign.py``), not here.
"""

from __future__ import annotations

import pickle
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from aar import paths
from aar.errors import AarError
from aar.methods.registry import available
from aar.stats.bootstrap import finite
from aar.stats.power import interval_detectable_effect, seeds_for, typical_detectable_effect
from aar.tasks.leaks import MARGIN, probe_task
from aar.tasks.registry import task_dir
from aar.tasks.schema import FIELDS, PUBLIC_SPLITS
from aar.w2s.bundle import write_bundle
from aar.w2s.cache import ArtifactCache
from aar.w2s.pipeline import EXPERIMENT_SPLITS, RunResult, Testbed, TestbedConfig

SEEDS = 5
THRESHOLDS = {"weak": 0.55, "gap": 0.10, "half_width": 0.12, "headroom": 0.8, "p": 0.01, "dev_sd": 0.15,
              "speed_s": 2.0, "detectable": 0.10, "shuffled_pgr": 0.3}


@dataclass
class Check:
    name: str
    value: str
    passed: bool
    required: bool = True  # ``phenomenon`` is required on 2 of 3 tasks, judged across tasks


@dataclass
class TaskReport:
    task: str
    pair: str = ""
    checks: list[Check] = field(default_factory=list)
    methods: list[dict] = field(default_factory=list)
    leaks: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks if c.required)

    def as_json(self) -> dict:
        return {"task": self.task, "pair": self.pair, "passed": self.passed,
                "checks": [{"name": c.name, "value": c.value, "passed": c.passed, "required": c.required}
                           for c in self.checks], "methods": self.methods, "leaks": self.leaks}


def _single_seed(run: RunResult, i: int) -> RunResult:
    pick = {k: {s: v[s][i : i + 1] for s in v} for k, v in (("weak", run.weak), ("ceiling", run.ceiling),
                                                               ("student", run.student))}
    return replace(run, seeds=[run.seeds[i]], weak=pick["weak"], ceiling=pick["ceiling"], student=pick["student"])


def _private(bed: Testbed) -> tuple[bool, str]:
    """Test and holdout inputs appear neither in public/ nor in the bundle an experiment ships to a method."""
    hidden = [e for s in ("test", "holdout") for e in bed.task.splits[s]]
    ids = {e.id for e in hidden}
    views = FIELDS[bed.task.format][-2:]  # the item's own texts, not a prompt shared by every pair
    texts = {e.inputs[v] for e in hidden for v in views if len(e.inputs[v]) > 40}
    public = task_dir(bed.task.name) / "public"
    files = sorted(p.name for p in public.glob("*.jsonl"))
    if files != sorted(f"{s}.jsonl" for s in PUBLIC_SPLITS):
        return False, f"public/ holds {files}"
    blob = "".join(p.read_text() for p in public.glob("*.jsonl"))
    if any(i in blob for i in ids) or any(t in blob for t in texts):
        return False, "a test or holdout input is in public/"
    with tempfile.TemporaryDirectory(prefix="aar-check-") as tmp:
        path = Path(tmp) / "bundle.pkl"
        write_bundle(bed, [0], path, splits=EXPERIMENT_SPLITS)
        raw = path.read_bytes()
        bundle = pickle.loads(raw)
    if set(bundle["eval_x"]) != set(EXPERIMENT_SPLITS):
        return False, f"an experiment bundle predicts {sorted(bundle['eval_x'])}"
    hidden_rows = {bed.strong_features.combined[s][k].tobytes() for s in ("test", "holdout")
                   for k in range(len(bed.task.splits[s]))}
    shipped = [bundle["eval_x"]["dev"], *[ctx.strong_x for ctx in bundle["contexts"]]]
    if any(row.tobytes() in hidden_rows for m in shipped for row in np.asarray(m, dtype=np.float32)):
        return False, "a test or holdout feature row is in an experiment bundle"
    if any(i.encode() in raw for i in ids):
        return False, "a test or holdout id is in an experiment bundle"
    return True, "absent from public/ and from experiment bundles"


def _experiment_seconds(task: str, strong: str, weak: str, repeats: int = 5) -> float:
    with tempfile.TemporaryDirectory(prefix="aar-check-cache-") as tmp:
        bed = Testbed(TestbedConfig(task=task, weak=weak, strong=strong), cache=ArtifactCache(Path(tmp)))
        times = []
        for k in range(repeats):
            started = time.perf_counter()
            bed.method_run("vanilla", 90_000 + k)  # the teacher, then the student: what an experiment runs
            times.append(time.perf_counter() - started)
    return statistics.median(times)


def check_task(task: str, weak: str, strong: str, seeds: int = SEEDS, methods: list[str] | None = None) -> TaskReport:
    bed = Testbed(TestbedConfig(task=task, weak=weak, strong=strong))
    report = TaskReport(task, f"{bed.config.weak} -> {bed.config.strong}")
    seed_list = list(range(seeds))
    vanilla = bed.run("vanilla", seed_list)
    head = vanilla.summary("test")
    t = THRESHOLDS
    gap = head.ceiling_acc.mean - head.weak_acc.mean
    half = (head.pgr.hi - head.pgr.lo) / 2
    report.checks += [
        Check("weak", f"{head.weak_acc.fmt()} (>= {t['weak']})", head.weak_acc.mean >= t["weak"]),
        Check("gap", f"{gap:+.3f}; ceiling {head.ceiling_acc.fmt()} (>= {t['gap']}, disjoint CIs)",
              gap >= t["gap"] and head.ceiling_acc.lo > head.weak_acc.hi),
        Check("power", f"vanilla PGR {head.pgr.fmt(2)}, half-width {half:.3f} (<= {t['half_width']})",
              half <= t["half_width"]),
        Check("phenomenon", f"vanilla PGR lower bound {head.pgr.lo:+.2f} (> 0; 2 of 3 tasks)", head.pgr.lo > 0,
              required=False),
        Check("headroom", f"vanilla PGR {head.pgr.mean:.2f} (< {t['headroom']})", head.pgr.mean < t["headroom"]),
    ]
    best: tuple[float, str, float] = (1.0, "-", 0.0)
    top: tuple[float, str] = (head.pgr.mean, "vanilla")  # the highest test PGR among the built-ins
    names = methods if methods is not None else [n for n, c in available().items()
                                                 if bed.task.format in c.formats and c.baseline]
    intervals = []
    for name in names:
        if name == "vanilla":
            continue
        run = bed.run(name, seed_list)
        s, paired = run.summary("test"), run.versus(vanilla, "test")
        intervals.append((paired.diff.lo, paired.diff.hi))
        report.methods.append({"method": name, "pgr": s.pgr.as_json(), "diff_vs_vanilla": paired.diff.as_json(),
                               "p": paired.p_value,
                               "detectable": finite(interval_detectable_effect(paired.diff.lo, paired.diff.hi,
                                                                               t["p"]))})
        if paired.diff.mean > 0 and paired.p_value < best[0]:
            best = (paired.p_value, name, paired.diff.mean)
        if s.pgr.mean > top[0]:
            top = (s.pgr.mean, name)
    mde = typical_detectable_effect(intervals, t["p"])
    report.checks.append(Check("methods_matter", f"best {best[1]} dPGR {best[2]:+.2f}, p {best[0]:.4f} "
                                                 f"(< {t['p']}; detectable effect {mde:.2f})", best[0] < t["p"]))
    report.checks.append(Check(
        "detectable", f"{mde:.3f} PGR at p < {t['p']}, 80% power, {seeds} seeds (<= {t['detectable']}; about "
                      f"{seeds_for(t['detectable'], mde, seeds)} seeds or more for {t['detectable']})",
        mde <= t["detectable"]))
    report.checks.append(_teacher_matters(bed, seed_list, vanilla, top))
    dev = [_single_seed(vanilla, i).summary("dev").pgr.mean for i in range(seeds)]
    dev_sd = float(np.std(dev, ddof=1)) if seeds > 1 else float("nan")
    report.checks.append(Check("dev_signal", f"single-seed dev PGR {', '.join(f'{d:.2f}' for d in dev)}; sd "
                                             f"{dev_sd:.3f} (<= {t['dev_sd']})", dev_sd <= t["dev_sd"]))
    probes = probe_task(bed.task)
    report.leaks = [p.as_json() for p in probes]
    worst = max(probes, key=lambda p: p.accuracy - p.majority)
    report.checks.append(Check("leaks", f"worst {worst.probe} {worst.accuracy:.3f} vs majority {worst.majority:.3f} "
                                        f"(<= +{MARGIN})", not any(p.leaks for p in probes)))
    ok, why = _private(bed)
    report.checks.append(Check("private", why, ok))
    seconds = _experiment_seconds(task, bed.config.strong, weak)
    report.checks.append(Check("speed", f"{seconds:.2f} s median (<= {t['speed_s']})", seconds <= t["speed_s"]))
    return report


def _teacher_matters(bed: Testbed, seeds: list[int], vanilla: RunResult, top: tuple[float, str]) -> Check:
    """Vanilla and the best built-in again with the teacher's labels permuted across items."""
    limit = THRESHOLDS["shuffled_pgr"]
    shuffled = {"vanilla": bed.run("vanilla", seeds, teacher="shuffled").summary("test").pgr.mean}
    real = {"vanilla": vanilla.summary("test").pgr.mean, top[1]: top[0]}
    if top[1] != "vanilla":
        shuffled[top[1]] = bed.run(top[1], seeds, teacher="shuffled").summary("test").pgr.mean
    parts = [f"{name} {shuffled[name]:.2f} (real {real[name]:.2f})" for name in shuffled]
    return Check("teacher_matters", f"PGR with a shuffled teacher: {', '.join(parts)} (<= {limit})",
                 all(v <= limit for v in shuffled.values()))


@contextmanager
def fresh_installation(root: Path) -> Iterator[Path]:
    """Act as a new installation in ``root``: its own secret keys, so its own teacher items, splits and pairings
    (the testbed every installation draws for itself), while this installation's keys and data stay as they
    are. It shares this installation's feature cache, which is keyed by the texts and holds no secret."""
    shared = paths.features_dir()
    shared.mkdir(parents=True, exist_ok=True)
    root.mkdir(parents=True, exist_ok=True)
    (root / "features").symlink_to(shared, target_is_directory=True)
    with paths.home_at(root):
        yield root


def refuse_imported(tasks: list[str]) -> None:
    """Fresh keys draw built-in tasks afresh; an imported task's splits are its reference files', the same under
    every key, so there is nothing to draw."""
    from aar.tasks.registry import BUILTIN

    imported = [t for t in tasks if t not in BUILTIN]
    if imported:
        raise AarError(f"--keys draws built-in tasks afresh; {', '.join(imported)} is imported (its splits are its "
                       f"reference files', the same under every key): check it without --keys")


def check_fresh_keys(tasks: list[str], weak: str, strong: str, seeds: int, keys: int,
                     on_key: Callable[[int], None] | None = None) -> list[list[TaskReport]]:
    """Every check of every task on ``keys`` fresh installation keys, one scratch installation each (removed
    after): a figure that holds on this installation's key alone is one draw, not a property of the testbed.
    Built-in tasks only (:func:`refuse_imported`)."""
    if keys:
        refuse_imported(tasks)
    out = []
    for k in range(keys):
        if on_key is not None:
            on_key(k)
        with tempfile.TemporaryDirectory(prefix="aar-key-") as tmp, fresh_installation(Path(tmp) / "home"):
            out.append([check_task(name, weak, strong, seeds) for name in tasks])
    return out


def phenomenon_across(reports: list[TaskReport], needed: int = 2) -> Check:
    hits = [r.task for r in reports if any(c.name == "phenomenon" and c.passed for c in r.checks)]
    need = min(needed, len(reports))
    return Check("phenomenon (across tasks)", f"vanilla PGR > 0 on {len(hits)} of {len(reports)}: "
                                              f"{', '.join(hits) or 'none'} (>= {need})", len(hits) >= need)
