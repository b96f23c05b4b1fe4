"""Benchmark: how far a researcher's dev number sits from the test PGR verification later gives the same method,
scored the old way (the mean over the experiment's seeds, ``dev_predictions.json``: a seed ensemble) and the new
way (``evaluate`` by ``experiment_id``: each seed scored on its own and averaged, as verification scores).

For each default task and each method below, the method runs on the experiment seeds a researcher would use
(0, 1, 2) and on 5 verification-range seeds (as a campaign's hidden seeds are). Dev PGR is computed exactly on
the full dev split with the server's own reference weak and ceiling accuracies (no subsample, no reply noise:
the gap measured is the systematic one, the part a researcher cannot average away); test PGR is verification's
(:meth:`aar.w2s.pipeline.RunResult.summary`). The methods are the built-ins and recipe compositions the built-in
researchers and the LLM researchers submitted most.

Usage: python benchmarks/bench_dev_gap.py [--json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from aar.seeds import EXPERIMENT_SEED_LIMIT
from aar.server.scoring import REFERENCE_SEEDS
from aar.tasks.registry import DEFAULT_TASKS
from aar.w2s import Testbed, TestbedConfig

EXPERIMENT_SEEDS = [0, 1, 2]
VERIFY_SEEDS = [EXPERIMENT_SEED_LIMIT + 7919 * i for i in range(1, 6)]  # above the experiments' range
METHODS: list[tuple[str, dict]] = [
    ("vanilla", {}), ("soft", {}), ("confident", {}), ("aux_conf", {}), ("knn_consistency", {}),
    ("recipe", {"temperature": 1.0, "keep": 0.6}), ("recipe", {"aux_alpha": 0.75, "ensemble": 3}),
    ("recipe", {"oof_folds": 5, "oof_mode": "relabel", "temperature": 1.0}),
]


def dev_accuracies(bed: Testbed, name: str, params: dict) -> tuple[float, float]:
    """(accuracy of the seed-mean vector, mean of the per-seed accuracies) on the full dev split."""
    labels = bed.labels["dev"]
    per_seed = np.stack([bed.method_run(name, s, params)["dev"] for s in EXPERIMENT_SEEDS])
    ensemble = float(((per_seed.mean(0) > 0.5) == labels).mean())
    seeds = float(((per_seed > 0.5) == labels[None, :]).mean())
    return ensemble, seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out: dict[str, dict] = {}
    for task in DEFAULT_TASKS:
        bed = Testbed(TestbedConfig(task=task))
        y = bed.labels["dev"]
        weak = float(np.mean([((bed.weak_run(s)["dev"] > 0.5) == y).mean() for s in REFERENCE_SEEDS]))
        ceiling = float(np.mean([((bed.ceiling_run(s)["dev"] > 0.5) == y).mean() for s in REFERENCE_SEEDS]))
        rows = []
        for name, params in METHODS:
            if not bed.check_method(name).formats or bed.task.format not in bed.check_method(name).formats:
                continue
            ensemble, seeds = dev_accuracies(bed, name, params)
            test = bed.run(name, VERIFY_SEEDS, params).summary("test").pgr.mean
            rows.append({"method": name, "params": params, "test_pgr": round(test, 3),
                         "dev_pgr_mean_file": round((ensemble - weak) / (ceiling - weak), 3),
                         "dev_pgr_per_seed": round((seeds - weak) / (ceiling - weak), 3)})
        gaps = {k: np.array([r[k] - r["test_pgr"] for r in rows]) for k in ("dev_pgr_mean_file", "dev_pgr_per_seed")}
        out[task] = {"rows": rows, **{f"{k}_gap": {"mean": round(float(g.mean()), 3),
                                                  "mean_abs": round(float(np.abs(g).mean()), 3),
                                                  "worst": round(float(g[np.argmax(np.abs(g))]), 3)}
                                     for k, g in gaps.items()}}
    if args.json:
        print(json.dumps(out, indent=2))
        return
    print("| task | dev scored as | mean gap (dev - test) | mean abs gap | worst gap | methods |")
    print("| --- | --- | --- | --- | --- | --- |")
    for task, result in out.items():
        for key, label in (("dev_pgr_mean_file", "mean file (before)"), ("dev_pgr_per_seed", "per seed (now)")):
            gap = result[f"{key}_gap"]
            print(f"| {task} | {label} | {gap['mean']:+.3f} | {gap['mean_abs']:.3f} | {gap['worst']:+.3f} | "
                  f"{len(result['rows'])} |")
    print()
    for task, result in out.items():
        for r in result["rows"]:
            print(f"{task:5s} {r['method']:16s} {json.dumps(r['params']):60s} test {r['test_pgr']:+.3f}  "
                  f"dev mean-file {r['dev_pgr_mean_file']:+.3f}  per-seed {r['dev_pgr_per_seed']:+.3f}")


if __name__ == "__main__":
    main()
