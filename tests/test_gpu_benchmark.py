"""The GPU benchmark (`benchmarks/gpu_w2s.py`) runs its full code path on CPU with ``--tiny``: both
architectures built from configs, LoRA training and readout through ``aar.models.lora_train``, the
projection, and the correctness check, which must pass: LoRA learns a labelling that needs the whole row,
and a row's readout does not change with the padding of its batch (a mask that lets padding in fails it)."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_tiny_benchmark_measures_projects_and_learns(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_w2s.py"), "--tiny", "--check",
                          "--tasks", "chat,code", "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_w2s.json").read_text())
    assert [(m["model"], m["task"]) for m in report["measures"]] == [
        ("teacher", "chat"), ("teacher", "code"), ("student", "chat"), ("student", "code")]
    for m in report["measures"]:
        assert m["train_tokens_per_s"] > 0 and m["readout_tokens_per_s"] > 0
        assert 1.0 <= m["train_padding"] < 2.0
        assert m["train_mfu"] is None and m["peak_memory_gib"] is None  # no known peak and no CUDA on CPU
    assert set(report["projected_hours"]) == {"chat", "code"} and all(h > 0 for h in report["projected_hours"].values())
    assert report["recipe"]["r"] == 32 and report["recipe"]["lr"] == 1e-4  # the reference's recipe
    assert report["check"]["passed"] and report["check"]["accuracy"] >= 0.9
    assert report["check"]["padding_max_diff"] <= report["check"]["padding_tolerance"] == 1e-4
    table = (tmp_path / "gpu_w2s.md").read_text()
    assert "| student | code |" in table and "projected h per experiment" in table


def test_gpu_check_refuses_clearly_without_a_gpu(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHON": sys.executable}
    run = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), str(tmp_path / "out")],
                         capture_output=True, text=True, env=env, timeout=120)
    assert run.returncode == 2 and "no CUDA device" in run.stderr
    assert "torch 2.13.0" in (tmp_path / "out" / "env.txt").read_text()
