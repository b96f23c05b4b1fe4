"""Benchmark: the GPU path's LoRA training and label-token readout at the reference experiment's scale.

Builds the teacher (Qwen1.5-0.5B) and student (Qwen3-4B-Base) architectures from their configs with random
weights, so nothing is downloaded: speed and memory do not depend on the weights' values. It runs
:func:`aar.models.lora_train.train_lora` and :func:`~aar.models.lora_train.readout`, the code every ``hf:``
fit runs, on synthetic token sequences whose lengths follow each reference task, and prints per model and
task: tokens/s, model FLOP utilisation (MFU) against the device's bf16 dense peak, peak memory, and the
projected wall time of one full W2S experiment (teacher fit, teacher labels, ceiling fit, student fit,
readouts; 5 epochs) at the reference's dataset sizes, next to the reference's 0.8-1.75 h per seed on one
H200.

``--check`` adds two correctness checks on a small random-init model: its LoRA adapters learn a synthetic
labelling that needs attention over the whole row (label 1 iff a marker token occurs anywhere in it) to at
least 0.9 held-out accuracy, and each row's probability read in a left-padded batch of mixed lengths equals
its probability read alone (a mask that lets padding in fails this; the labelling alone would not notice).
``--tiny`` runs all of it on scaled-down configs and a few steps, on CPU in about a minute (a test runs it).

FLOPs counted (per real token, padding excluded; the "model FLOPs" of MFU, no recomputation):
training 4 N + 6 N_lora + 6 L q s (frozen base weights need activation gradients only, not weight gradients;
causal attention's two matmuls cost 2 L q s forward per token at length s, backward twice that), plus the
vocabulary projection once per row (``logits_to_keep=1``); readout 2 N + 2 N_lora + 2 L q s. N: the base's
linear-layer weights without the output head; q: query width; L: layers. Counting 6 N, as full
fine-tuning would, would read 1.5x higher.

Usage: python benchmarks/gpu_w2s.py [--tiny] [--check] [--out DIR] [--steps 8] [--tasks chat,math,code]
                                    [--gradient-checkpointing] [--peak-tflops X]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # runs from a checkout, uninstalled

from aar.models.lora_train import LoRAConfig, apply_lora, readout, train_lora

# Architectures (config.json of each hub model, the fields that set size and speed).
TEACHER = {"model_type": "qwen2", "hidden_size": 1024, "intermediate_size": 2816, "num_hidden_layers": 24,
           "num_attention_heads": 16, "num_key_value_heads": 16, "vocab_size": 151936,
           "tie_word_embeddings": True, "rope_theta": 1e6, "max_position_embeddings": 32768}  # Qwen1.5-0.5B-Chat
STUDENT = {"model_type": "qwen3", "hidden_size": 2560, "intermediate_size": 9728, "num_hidden_layers": 36,
           "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
           "tie_word_embeddings": True, "rope_theta": 1e6, "max_position_embeddings": 32768}  # Qwen3-4B-Base
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "head_dim": 16, "vocab_size": 512}

# Prompt lengths in tokens, log-normal (median, sigma), clipped to [16, 8192]. Measured with SmolLM2's
# tokenizer on rendered prompts: HH-RLHF harmless-base test pairs (dialogue + both replies), GSM8K test
# questions with a model's worked solution, and the embedded code-review task. Qwen's larger vocabulary
# gives somewhat fewer tokens, so these err long.
LENGTHS = {"chat": (204, 0.58), "math": (210, 0.31), "code": (524, 0.64)}
# The reference experiment's train_unlabel sizes; the teacher trains on a labelled set of the same size
# (Burns et al. 2023 split the training data in halves), and dev + test readouts cover EVAL_ROWS rows.
REFERENCE_ROWS = {"chat": 6826, "math": 4735, "code": 8166}
EVAL_ROWS = 1000
REFERENCE_HOURS = (0.8, 1.75)
# bf16 dense tensor-core peaks (vendor datasheets, SXM parts, no sparsity).
PEAK_TFLOPS = {"H200": 989.4, "H100": 989.4, "A100": 312.0, "L40S": 362.1, "A10G": 70.0, "L4": 121.0}
LABEL_IDS, PAD_ID, MARKER = (1, 2), 0, 3  # synthetic vocabulary: 0 pad, 1-2 labels, 3 marker, 4+ content


@dataclass
class Measure:
    model: str
    task: str
    train_tokens_per_s: float
    train_mfu: float | None
    train_padding: float  # padded / real tokens
    readout_tokens_per_s: float
    readout_mfu: float | None
    peak_memory_gib: float | None  # CUDA only


def build(arch: dict, device: str, tiny: bool):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fields = {**arch, **TINY} if tiny else dict(arch)
    config = AutoConfig.for_model(fields.pop("model_type"), **fields)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation="sdpa")
    # older transformers name the argument torch_dtype and may ignore ``dtype``: make sure of the precision
    return model.to(dtype).eval()


def linear_weights(model) -> int:
    """Weights of the base's linear layers, the output head excluded (it runs once per row)."""
    import torch

    return sum(m.weight.numel() for name, m in model.named_modules()
               if isinstance(m, torch.nn.Linear) and not name.endswith("lm_head") and "lora_" not in name)


def flops(config, n_linear: int, n_lora: int, lengths: np.ndarray, *, train: bool) -> float:
    layers, q = config.num_hidden_layers, config.num_attention_heads * getattr(
        config, "head_dim", config.hidden_size // config.num_attention_heads)
    head = 2 * config.hidden_size * config.vocab_size
    tokens, squares = float(lengths.sum()), float((lengths.astype(np.float64) ** 2).sum())
    if train:
        return (4 * n_linear + 6 * n_lora) * tokens + 6 * layers * q * squares + 2 * head * len(lengths)
    return (2 * n_linear + 2 * n_lora) * tokens + 2 * layers * q * squares + head * len(lengths)


def sample_lengths(task: str, n: int, rng: np.random.Generator, cap: int) -> np.ndarray:
    median, sigma = LENGTHS[task]
    return np.clip(np.round(median * np.exp(sigma * rng.standard_normal(n))), 16, cap).astype(np.int64)


def sequences(lengths: np.ndarray, vocab: int, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.integers(4, vocab, size=int(n)) for n in lengths]


def sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def measure(name: str, arch: dict, task: str, recipe: LoRAConfig, args, device: str, peak: float | None) -> Measure:
    import torch

    rng = np.random.default_rng(0)
    base = build(arch, device, args.tiny)
    n_linear = linear_weights(base)
    model = apply_lora(base, recipe)
    n_lora = sum(p.numel() for p in model.parameters() if p.requires_grad)
    vocab = base.config.vocab_size
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    rows = recipe.batch_size * (args.steps + args.warmup_steps)
    lengths = sample_lengths(task, rows, rng, recipe.max_length)
    seqs = sequences(lengths, vocab, rng)
    targets = rng.integers(0, 2, size=rows).astype(np.float32)
    common = {"label_ids": LABEL_IDS, "pad_id": PAD_ID, "device": device}
    warm = recipe.batch_size * args.warmup_steps
    train_lora(model, seqs[:warm], targets[:warm], recipe=replace(recipe, epochs=1), seed=0, **common)
    sync(device)
    start = time.perf_counter()
    stats = train_lora(model, seqs[warm:], targets[warm:], recipe=replace(recipe, epochs=1), seed=1, **common)
    sync(device)
    train_s = time.perf_counter() - start
    timed = lengths[warm:]
    eval_lengths = sample_lengths(task, args.readout_rows, rng, recipe.max_length)
    eval_seqs = sequences(eval_lengths, vocab, rng)
    readout(model, eval_seqs[: max(1, len(eval_seqs) // 8)], recipe=recipe, **common)
    sync(device)
    start = time.perf_counter()
    readout(model, eval_seqs, recipe=recipe, **common)
    sync(device)
    read_s = time.perf_counter() - start
    train_flops = flops(base.config, n_linear, n_lora, timed, train=True)
    read_flops = flops(base.config, n_linear, n_lora, eval_lengths, train=False)
    memory = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else None
    del model, base
    if device == "cuda":
        torch.cuda.empty_cache()
    return Measure(name, task, stats.tokens / train_s, train_flops / train_s / peak if peak else None,
                   stats.padded_tokens / stats.tokens, float(eval_lengths.sum()) / read_s,
                   read_flops / read_s / peak if peak else None, memory)


def projected_hours(task: str, by: dict[tuple[str, str], Measure], epochs: int) -> float:
    """One W2S experiment: teacher fit and its labels on train_unlabel, ceiling and student fits, and
    dev + test readouts of all three models."""
    median, sigma = LENGTHS[task]
    mean_tokens = median * math.exp(sigma**2 / 2)
    rows = REFERENCE_ROWS[task]
    teacher, student = by["teacher", task], by["student", task]
    seconds = (epochs * rows * mean_tokens / teacher.train_tokens_per_s
               + (rows + EVAL_ROWS) * mean_tokens / teacher.readout_tokens_per_s
               + 2 * epochs * rows * mean_tokens / student.train_tokens_per_s
               + 2 * EVAL_ROWS * mean_tokens / student.readout_tokens_per_s)
    return seconds / 3600


def correctness_check(device: str, tiny: bool) -> dict:
    """LoRA on a small random-init Qwen3 learns 'marker present anywhere' on left-padded rows, and padding
    does not change any row's readout (bf16 on a GPU rounds, hence its looser tolerance)."""
    import torch

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    arch = {**STUDENT, "hidden_size": 128, "intermediate_size": 256, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32, "vocab_size": 256}
    base = build(arch, device, tiny=False)
    recipe = LoRAConfig(r=16, alpha=32, lr=3e-3, epochs=6 if tiny else 12, batch_size=32, warmup=0.1, dropout=0.0)
    model = apply_lora(base, recipe)

    def rows(n: int) -> tuple[list[np.ndarray], np.ndarray]:
        lengths = rng.integers(8, 48, size=n)
        seqs = sequences(lengths, 256, rng)
        labels = rng.integers(0, 2, size=n)
        for s, y in zip(seqs, labels, strict=True):
            if y:
                s[rng.integers(0, len(s))] = MARKER
        return seqs, labels.astype(np.float32)

    train_x, train_y = rows(512 if tiny else 2048)
    test_x, test_y = rows(512)
    common = {"label_ids": LABEL_IDS, "pad_id": PAD_ID, "device": device, "recipe": recipe}
    start = time.perf_counter()
    train_lora(model, train_x, train_y, seed=0, **common)
    accuracy = float(((readout(model, test_x, **common) > 0.5) == test_y).mean())
    rows_alone = np.concatenate([readout(model, [s], **common) for s in test_x[:32]])
    padding_diff = float(np.abs(readout(model, test_x[:32], **common) - rows_alone).max())
    tolerance = 2e-2 if device == "cuda" else 1e-4
    return {"accuracy": accuracy, "padding_max_diff": padding_diff, "padding_tolerance": tolerance,
            "passed": accuracy >= 0.9 and padding_diff <= tolerance, "seconds": time.perf_counter() - start,
            "train_rows": len(train_x), "epochs": recipe.epochs}


def table(measures: list[Measure], hours: dict[str, float], peak: float | None, device_name: str) -> str:
    def pct(x: float | None) -> str:
        return "n/a" if x is None else f"{100 * x:.1f}%"

    lines = [f"device: {device_name}; bf16 peak: {f'{peak / 1e12:.0f} TFLOP/s' if peak else 'unknown'}", "",
             "| model | task | train tok/s | train MFU | padding | readout tok/s | readout MFU | peak mem GiB |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m in measures:
        lines.append(f"| {m.model} | {m.task} | {m.train_tokens_per_s:,.0f} | {pct(m.train_mfu)} | "
                     f"{m.train_padding:.2f}x | {m.readout_tokens_per_s:,.0f} | {pct(m.readout_mfu)} | "
                     f"{'n/a' if m.peak_memory_gib is None else f'{m.peak_memory_gib:.1f}'} |")
    lo, hi = REFERENCE_HOURS
    lines += ["", "| task | rows | projected h per experiment | reference h | speed-up |",
              "| --- | --- | --- | --- | --- |"]
    for task, h in hours.items():
        lines.append(f"| {task} | {REFERENCE_ROWS[task]:,} | {h:.3f} | {lo}-{hi} | {lo / h:.1f}-{hi / h:.1f}x |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="scaled-down configs, a few steps (CPU, seconds)")
    parser.add_argument("--check", action="store_true", help="also run the LoRA learnability check")
    parser.add_argument("--out", type=Path, default=None, help="write gpu_w2s.json and gpu_w2s.md here")
    parser.add_argument("--tasks", default="chat,math,code")
    parser.add_argument("--steps", type=int, default=None, help="timed optimiser steps per model and task")
    parser.add_argument("--warmup-steps", type=int, default=2)
    parser.add_argument("--readout-rows", type=int, default=None)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--micro-tokens", type=int, default=None)
    parser.add_argument("--peak-tflops", type=float, default=None, help="bf16 peak if the device is not known")
    args = parser.parse_args()
    import torch

    tasks = [t for t in args.tasks.split(",") if t]
    unknown = sorted(set(tasks) - set(LENGTHS))
    if unknown or not tasks:
        parser.error(f"unknown task(s) {unknown}; choose from {', '.join(LENGTHS)}")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    args.steps = args.steps or (2 if args.tiny else 8)
    args.readout_rows = args.readout_rows or (64 if args.tiny else 1024)
    device_name = torch.cuda.get_device_name() if device == "cuda" else "cpu"
    peak = args.peak_tflops * 1e12 if args.peak_tflops else next(
        (v * 1e12 for k, v in PEAK_TFLOPS.items() if k in device_name), None)
    recipe = LoRAConfig(gradient_checkpointing=args.gradient_checkpointing,
                        **({"micro_tokens": args.micro_tokens} if args.micro_tokens else {}))
    if args.tiny:
        recipe = replace(recipe, batch_size=8, max_length=512)
    measures: list[Measure] = []
    for name, arch in (("teacher", TEACHER), ("student", STUDENT)):
        for task in tasks:
            m = measure(name, arch, task, recipe, args, device, peak)
            measures.append(m)
            print(f"{name} {task}: train {m.train_tokens_per_s:,.0f} tok/s, readout {m.readout_tokens_per_s:,.0f} "
                  f"tok/s", flush=True)
    by = {(m.model, m.task): m for m in measures}
    hours = {task: projected_hours(task, by, LoRAConfig().epochs) for task in tasks}
    report = {"device": device_name, "peak_flops": peak, "tiny": args.tiny, "recipe": asdict(recipe),
              "lengths": LENGTHS, "reference_rows": REFERENCE_ROWS, "measures": [asdict(m) for m in measures],
              "projected_hours": hours, "reference_hours": REFERENCE_HOURS,
              "torch": torch.__version__}
    if args.check:
        report["check"] = correctness_check(device, args.tiny)
        c = report["check"]
        print(f"check: LoRA on a random-init model learns the marker labelling: held-out accuracy "
              f"{c['accuracy']:.3f}; padding changes a row's readout by at most {c['padding_max_diff']:.1e} "
              f"({'passed' if c['passed'] else 'FAILED'}, {c['seconds']:.1f} s)", flush=True)
    text = table(measures, hours, peak, device_name)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "gpu_w2s.json").write_text(json.dumps(report, indent=2))
        (args.out / "gpu_w2s.md").write_text(text + "\n")
    return 0 if report.get("check", {}).get("passed", True) else 1


if __name__ == "__main__":
    sys.exit(main())
