"""Benchmark: attribution of planted and honest methods on the default testbed. Each method is verified the way
the server's worker verifies a submission (campaign 1's five secret seeds, the default policy), then attributed
(the knowledge-source ablations); one table row each: PGR, PGR without the teacher, the raw text and the strong
model, the teacher-dependent PGR, the class, the findings the integrity scan would store, and the seconds the
ablations cost. Prints a Markdown table (the README's) and, with ``--json``, one JSON line per method.

Planted methods (``benchmarks/planted/``): zero-shot sentiment anchors (chat), a hand-written reader distilled
into the student (math, code), question-debiasing (math), and a carrier of the math dev labels (written at run
time from this installation's labels: a table decoded earlier, carried as a constant).

Usage: python benchmarks/bench_attribution.py [--json] [TASK=ENTRY[|PARAMS_JSON] ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from aar.execution import ExecutionSettings, executor_for
from aar.integrity.ablation import findings_of
from aar.results.attribution import AttributionPolicy
from aar.server.verify import campaign_seeds, verify
from aar.snapshots import pack
from aar.w2s import Testbed, TestbedConfig

PLANTED = Path(__file__).resolve().parent / "planted"
DEFAULT = ["chat=anchors.py:Anchors", "math=reader.py:Reader", "code=reader.py:Reader", "math=carrier.py:Carrier",
           "math=debias.py:Debias", "chat=vanilla", "chat=soft", "chat=confident", "chat=aux_conf",
           'chat=recipe|{"temperature":1.0,"oof_folds":5,"ensemble":3}', "math=vanilla", "math=soft",
           "math=confident", "math=aux_conf", "code=vanilla", "code=soft", "code=confident", "code=aux_conf",
           'code=recipe|{"aux_alpha":0.75,"ensemble":3}']


def write_carrier(folder: Path) -> None:
    bed = Testbed(TestbedConfig(task="math"))
    pairs = zip(bed.task.splits["dev"], bed.labels["dev"], strict=True)
    table = ",\n    ".join(f"{e.id!r}: {int(y)}" for e, y in pairs)
    (folder / "carrier.py").write_text(
        "from aar.methods.base import Method\n\n# dev labels decoded earlier (carried as a constant)\nKNOWN = {\n    "
        f"{table}\n}}\n\n\nclass Carrier(Method):\n    name = \"carrier\"\n\n    def train(self, ctx):\n"
        "        self.known = KNOWN\n        return ctx.fit(ctx.weak_soft)\n")


def interval(x) -> list:
    return [x.mean, x.lo, x.hi]


def measure(task: str, spec: str, folder: Path, seeds: list[int], executor) -> dict:
    entry, _, raw = spec.partition("|")
    params = json.loads(raw) if raw else {}
    snapshot = pack(folder, [entry.split(":")[0]] if ":" in entry else ["debias.py"])  # built-ins: any small file
    started = time.monotonic()
    result = verify(task, entry, params, seeds, snapshot, 900, executor=executor).result
    a = result.attribution
    found = findings_of(a, AttributionPolicy(), 0, "planted", task, result.pgr.mean)
    return {"task": task, "entry": spec, "pgr": interval(result.pgr), "pgr3": interval(a.pgr),
            "ablations": {k: (interval(x.pgr) if x.ok else x.status) for k, x in a.ablations.items()},
            "class": str(a.kind), "allowed": a.allowed, "teacher": interval(a.decomposition.teacher_interval),
            "prior": a.decomposition.strong_prior, "researcher": a.decomposition.researcher,
            "findings": [(f.detector, f.severity) for f in found], "reasons": a.reasons, "attr_s": a.seconds,
            "total_s": round(time.monotonic() - started, 1)}


def row(d: dict) -> str:
    def point(v) -> str:
        return v if isinstance(v, str) else "–" if v[0] is None else f"{v[0]:.2f}"

    def full(v) -> str:
        return v if isinstance(v, str) else "–" if v[0] is None else f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"

    a = d["ablations"]
    found = ", ".join(f"{x} ({y})" for x, y in d["findings"]) or "none"
    return (f"| {d['task']} | `{d['entry']}` | {full(d['pgr'])} | {point(d['pgr3'])} | {point(a['no_teacher'])} | "
            f"{point(a['no_text'])} | {point(a['no_strong'])} | {full(d['teacher'])} | `{d['class']}` | "
            f"{'yes' if d['allowed'] else 'no'} | {found} | {d['attr_s']:.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("methods", nargs="*", default=DEFAULT)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    seeds = campaign_seeds(1, [1000, 1001, 1002, 1003, 1004])
    executor = executor_for(ExecutionSettings.from_environment())
    print("| task | method | PGR (5 seeds) | PGR, first 3 seeds | without teacher | without text "
          "| without strong model | teacher-dependent PGR | class | allowed | findings | attribution s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory(prefix="aar-bench-attribution-") as tmp:
        folder = Path(tmp)
        for path in PLANTED.glob("*.py"):
            shutil.copy(path, folder / path.name)
        write_carrier(folder)
        for arg in args.methods:
            task, _, spec = arg.partition("=")
            d = measure(task, spec, folder, seeds, executor)
            print(json.dumps(d) if args.json else row(d), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
