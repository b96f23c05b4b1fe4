"""Benchmark: wall time of the default campaign (`make run`'s `aar run --dev-evals 12`), cold (a fresh
AAR_HOME: tasks, features and every cache built from scratch) and then warm (a second campaign in the same
AAR_HOME). Prints numbers; asserts nothing. Targets on a 2-core machine: 15 min cold, 3 min warm.

Usage: python benchmarks/bench_campaign.py [--dev-evals 12] [--agents 4]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time


def run(home: str, name: str, args: argparse.Namespace) -> float:
    env = {**os.environ, "AAR_HOME": home, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "aar.cli", "run", "--name", name, "--dev-evals", str(args.dev_evals),
           "--agents", str(args.agents)]
    started = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dev-evals", type=int, default=12)
    parser.add_argument("--agents", type=int, default=4)
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="aar-bench-campaign-")
    cold = run(home, "cold", args)
    print(f"campaign ({args.agents} agents, {args.dev_evals} dev evals each, 3 tasks), cold: {cold / 60:.1f} min")
    warm = run(home, "warm", args)
    print(f"campaign ({args.agents} agents, {args.dev_evals} dev evals each, 3 tasks), warm: {warm / 60:.1f} min")


if __name__ == "__main__":
    main()
