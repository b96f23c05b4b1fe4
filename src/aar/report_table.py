"""Runs methods over tasks and renders the baseline table (Rich) or JSON."""

from __future__ import annotations

import json
import math

from rich.console import Console
from rich.table import Table

from aar.errors import AarError
from aar.methods import available, get_method
from aar.stats import Interval
from aar.tasks import load_task
from aar.w2s import RunResult, Testbed, TestbedConfig


def _method_names(spec: str, fmt: str) -> list[str]:
    if spec == "all":
        return [n for n, cls in available().items() if fmt in cls.formats]
    names = [m.strip() for m in spec.split(",") if m.strip()]
    for name in names:
        get_method(name)
    return names


def _ci(i: Interval, digits: int = 3) -> str:
    return "n/a" if math.isnan(i.lo) else i.fmt(digits)


def _interval_json(i: Interval) -> dict:
    return {"mean": i.mean, "ci95": [None if math.isnan(i.lo) else i.lo, None if math.isnan(i.hi) else i.hi]}


def run_baselines(tasks: list[str], method_spec: str, seeds: list[int], params: dict, weak: str, strong: str,
                  split: str, as_json: bool, console: Console) -> list[dict]:
    rows: list[dict] = []
    for task in tasks:
        names = _method_names(method_spec, load_task(task).format)  # fail fast, before encoding anything
        if params and len(names) != 1:
            raise AarError("--param needs exactly one --method")
        bed = Testbed(TestbedConfig(task=task, weak=weak, strong=strong))
        for name in names:
            bed.check_method(name)
        results: dict[str, RunResult] = {}
        with console.status(f"[bold]{task}[/]: running {len(names)} method(s) x {len(seeds)} seeds",
                            spinner="dots"):
            vanilla = bed.run("vanilla", seeds)
            for name in names:
                results[name] = vanilla if name == "vanilla" and not params else bed.run(name, seeds, params)
        head = vanilla.summary(split)
        header = (f"[bold]{task}[/] ({bed.task.format}, {split} n={head.items}, seeds={len(seeds)})\n"
                  f"  weak {weak} acc {_ci(head.weak_acc)}\n  ceiling {bed.config.strong} acc {_ci(head.ceiling_acc)}\n"
                  f"  gap {head.ceiling_acc.mean - head.weak_acc.mean:+.3f}")
        if head.ceiling_acc.lo <= head.weak_acc.hi:
            header += ("\n  [yellow]warning: the ceiling does not beat the weak teacher (95% CIs overlap); "
                       "PGR divides by a gap near zero and is not meaningful for this pair[/]")
        table = Table()
        for col in ("method", "student acc [95% CI]", "PGR [95% CI]", "ΔPGR vs vanilla", "p vs vanilla"):
            table.add_column(col, justify="right" if col != "method" else "left")
        for name, result in results.items():
            s = result.summary(split)
            test = result.versus(vanilla, split)
            table.add_row(name, _ci(s.student_acc), _ci(s.pgr, 2), f"{test.diff.mean:+.3f}",
                          "-" if name == "vanilla" else f"{test.p_value:.3g}")
            rows.append({"task": task, "method": name, "params": result.params, "split": split,
                         "seeds": result.seeds, "items": s.items, "weak": weak, "strong": bed.config.strong,
                         "weak_acc": _interval_json(s.weak_acc), "ceiling_acc": _interval_json(s.ceiling_acc),
                         "student_acc": _interval_json(s.student_acc), "pgr": _interval_json(s.pgr),
                         "pgr_diff_vs_vanilla": _interval_json(test.diff), "p_vs_vanilla": test.p_value})
        if not as_json:
            console.print(header, highlight=False)
            console.print(table)
    if as_json:
        print(json.dumps(rows, indent=2))
    return rows
