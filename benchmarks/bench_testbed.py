"""Benchmark: feature caching time per model and task (cold, in a fresh AAR_HOME), task build time, and
seconds per experiment (one method, one seed, cached features). Prints numbers; asserts nothing.

Usage: python benchmarks/bench_testbed.py [--tasks chat,math,code] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", default="chat,math,code")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--home", default=None, help="AAR_HOME to use (default: a fresh temp dir = cold)")
    args = parser.parse_args()
    os.environ["AAR_HOME"] = args.home or tempfile.mkdtemp(prefix="aar-bench-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from aar.models.encoders import get_encoder
    from aar.models.features import task_features
    from aar.tasks import build_task
    from aar.w2s import Testbed, TestbedConfig
    from aar.w2s.cache import ArtifactCache

    print(f"AAR_HOME={os.environ['AAR_HOME']}")
    total_cache = 0.0
    for name in args.tasks.split(","):
        t0 = time.perf_counter()
        task = build_task(name)
        print(f"{name}: task build {time.perf_counter() - t0:.1f}s "
              f"({sum(len(v) for v in task.splits.values())} examples)")
        for model in ("glove-50d", "minilm-l6"):
            t0 = time.perf_counter()
            task_features(task, get_encoder(model))
            elapsed = time.perf_counter() - t0
            total_cache += elapsed
            print(f"{name}: feature caching {model} {elapsed:.1f}s")
        bed = Testbed(TestbedConfig(task=name))
        for method in ("vanilla", "aux_conf"):
            times = []
            for r in range(args.repeats):
                bed.cache = ArtifactCache(root=__import__("pathlib").Path(tempfile.mkdtemp()))  # force recompute
                t0 = time.perf_counter()
                bed.method_run(method, seed=r)  # includes the weak teacher for that seed
                times.append(time.perf_counter() - t0)
            print(f"{name}: experiment {method} (1 seed, cached features, teacher+student) "
                  f"median {statistics.median(times):.2f}s max {max(times):.2f}s")
    print(f"total feature caching (all models, listed tasks): {total_cache:.1f}s")


if __name__ == "__main__":
    main()
