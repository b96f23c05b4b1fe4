"""LoRA training and label-token readout on token sequences: the GPU path's inner loop, with no tokenizer.

Kept apart from :mod:`aar.models.hf_lm` (prompts, tokenisation, the backend) so that
``benchmarks/gpu_w2s.py`` times exactly this code on random-weight models built from configs, with no download.

Why it is shaped this way:

- **Left padding, explicit positions.** Every row's readout token is the last column, so the model is asked
  for the last position's logits only (``logits_to_keep=1``): the vocabulary projection runs once per row,
  not once per token. Position ids count real tokens only, so a padded row is encoded exactly as it would
  be alone; the attention mask keeps pads out of every row's attention (no cross-example leaks).
- **Length-bucketed batches.** Rows are shuffled, then sorted by length inside windows of
  ``BUCKET_WINDOW`` batches, and the batches' order is shuffled again: padding shrinks to a few percent
  while every epoch still sees a different batch composition.
- **Micro-batches by token budget.** An optimiser batch of 32 rows of up to 8,192 tokens does not fit in
  any GPU's activations; each batch is split into micro-batches of at most ``micro_tokens`` padded tokens
  and the gradients accumulate to exactly the gradient of the whole batch's weighted mean loss.
- **No host syncs in the step.** Batches and their targets are planned on the host before the loop; the
  loop never reads a device value back (no ``.item()``), so the GPU queue never drains between steps.
- **bf16 autocast, fused AdamW, linear warm-up and decay** on CUDA, as the reference recipe (Unsloth, LoRA
  r 32, alpha 32, lr 1e-4, batch 32, 5 epochs, 10% warm-up) runs; LoRA per Hu et al. 2021,
  arXiv:2106.09685.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from aar.errors import AarError
from aar.models.heads import LossConfig, hardening_threshold, loss_targets

BUCKET_WINDOW = 50  # batches per length-sorting window


@dataclass(frozen=True)
class LoRAConfig:
    """The training recipe. Defaults are the reference experiment's (Unsloth LoRA r 32 / alpha 32, lr 1e-4,
    batch 32, 5 epochs, linear schedule with 10% warm-up, context 8,192); CPU tests pass smaller values."""

    r: int = 32
    alpha: int = 32
    dropout: float = 0.05
    lr: float = 1e-4
    epochs: int = 5
    batch_size: int = 32
    warmup: float = 0.1  # share of the steps with a linear warm-up; then linear decay to 0
    max_length: int = 8192  # tokens per prompt; longer prompts lose content, never their question suffix
    max_steps: int = 0  # 0: no cap (tests and the benchmark cap it)
    micro_tokens: int = 16384  # padded tokens per micro-batch (gradient accumulation above it)
    readout_tokens: int = 65536  # padded tokens per readout batch
    gradient_checkpointing: bool = False
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        ints = {"r": self.r, "alpha": self.alpha, "epochs": self.epochs, "batch_size": self.batch_size,
                "max_length": self.max_length, "micro_tokens": self.micro_tokens,
                "readout_tokens": self.readout_tokens}
        for name, value in ints.items():
            if value < 1:
                raise AarError(f"LoRA {name} must be at least 1, not {value}")
        if self.max_steps < 0:
            raise AarError(f"LoRA max_steps must be 0 (no cap) or positive, not {self.max_steps}")
        if not 0 < self.lr < 1:
            raise AarError(f"LoRA lr must be in (0, 1), not {self.lr}")
        if not 0 <= self.warmup < 1 or not 0 <= self.dropout < 1:
            raise AarError(f"LoRA warmup and dropout must be in [0, 1), not {self.warmup} and {self.dropout}")


def apply_lora(base, recipe: LoRAConfig):
    """``base`` wrapped with LoRA adapters on every linear layer but the output head."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=recipe.r, lora_alpha=recipe.alpha, lora_dropout=recipe.dropout,
                        target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(base, config)
    if recipe.gradient_checkpointing:
        model.config.use_cache = False
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    return model


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """One epoch's batches (row indices): shuffled, length-sorted within windows, batch order shuffled."""
    order = rng.permutation(len(lengths))
    window = batch_size * BUCKET_WINDOW
    batches: list[np.ndarray] = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def split_by_tokens(rows: np.ndarray, lengths: np.ndarray, budget: int) -> list[np.ndarray]:
    """``rows`` cut into consecutive groups whose padded size (rows x longest) stays within ``budget``; a
    single row longer than the budget still forms its own group."""
    ordered = rows[np.argsort(lengths[rows], kind="stable")]
    groups: list[np.ndarray] = []
    current: list[int] = []
    longest = 0
    for row in ordered:
        size = max(longest, int(lengths[row]))
        if current and size * (len(current) + 1) > budget:
            groups.append(np.asarray(current))
            current, size = [], int(lengths[row])
        current.append(row)
        longest = size
    if current:
        groups.append(np.asarray(current))
    return groups


def collate(seqs: Sequence[Sequence[int]], pad_id: int, device: str) -> dict:
    """Left-padded ``input_ids``, ``attention_mask`` and ``position_ids`` (0 at each row's first real token)."""
    import torch

    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, width - len(s):] = s
        mask[i, width - len(s):] = 1
    positions = np.clip(np.cumsum(mask, axis=1) - 1, 0, None)
    pinned = device == "cuda"

    def move(a: np.ndarray):
        t = torch.from_numpy(a)
        return t.pin_memory().to(device, non_blocking=True) if pinned else t

    return {"input_ids": move(ids), "attention_mask": move(mask), "position_ids": move(positions)}


def _autocast(device: str):
    import torch

    if device == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def label_margin(model, batch: dict, label_ids: tuple[int, int]):
    """Logit of label 1 minus logit of label 0 at each row's last (readout) position."""
    logits = model(**batch, logits_to_keep=1, use_cache=False).logits[:, -1, :]
    neg, pos = label_ids
    return (logits[:, pos] - logits[:, neg]).float()


@dataclass(frozen=True)
class TrainStats:
    steps: int
    rows: int  # row-visits (rows x epochs actually run)
    tokens: int  # real (unpadded) tokens processed
    padded_tokens: int


def plan_steps(lengths: np.ndarray, recipe: LoRAConfig, seed: int) -> list[np.ndarray]:
    """Every optimiser step's rows, all epochs, capped at ``max_steps``."""
    rng = np.random.default_rng(seed)
    steps: list[np.ndarray] = []
    for _ in range(recipe.epochs):
        steps.extend(bucketed_batches(lengths, recipe.batch_size, rng))
        if recipe.max_steps and len(steps) >= recipe.max_steps:
            return steps[: recipe.max_steps]
    return steps


def batch_threshold(model, batches: list[dict], label_ids: tuple[int, int], device: str, prior: float):
    """``aux_conf``'s hardening threshold over a whole batch that gradient accumulation splits into micro-batches
    (``batches``, collated): one extra forward pass without gradients, so the hardened labels and their class
    balance do not depend on where the token budget cut the batch (per micro-batch, a micro-batch of mostly one
    class would harden half of it to the other)."""
    import torch

    with torch.no_grad():
        probs = []
        for batch in batches:
            with _autocast(device):
                probs.append(torch.sigmoid(label_margin(model, batch, label_ids).float()))
        return hardening_threshold(torch.cat(probs), prior)


def train_lora(model, seqs: Sequence[Sequence[int]], targets: np.ndarray, *, label_ids: tuple[int, int],
               pad_id: int, recipe: LoRAConfig, seed: int, device: str, weights: np.ndarray | None = None,
               loss: LossConfig = LossConfig()) -> TrainStats:
    """Fit the LoRA adapters of ``model`` (a PEFT model) to soft ``targets`` in [0, 1] by weighted BCE on the
    label margin."""
    import torch
    from transformers import get_linear_schedule_with_warmup

    if len(seqs) != len(targets) or len(seqs) == 0:
        raise AarError(f"need equal, non-zero numbers of inputs and targets ({len(seqs)} vs {len(targets)})")
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    if lengths.min() < 1:
        raise AarError("every training sequence needs at least one token")
    steps = plan_steps(lengths, recipe, seed)
    y = torch.as_tensor(np.asarray(targets, dtype=np.float32))
    w = torch.as_tensor(np.ones(len(seqs), np.float32) if weights is None else np.asarray(weights, np.float32))
    prior = float((np.asarray(targets) > 0.5).mean())
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=recipe.lr, weight_decay=recipe.weight_decay, fused=device == "cuda")
    schedule = get_linear_schedule_with_warmup(opt, math.ceil(recipe.warmup * len(steps)), len(steps))
    model.train()
    tokens = padded = rows_seen = 0
    for done, rows in enumerate(steps, start=1):
        total_weight = float(w[rows].sum()) or 1e-8  # host tensors: no device sync
        opt.zero_grad(set_to_none=True)
        micros = split_by_tokens(rows, lengths, recipe.micro_tokens)
        batches = [collate([seqs[i] for i in micro], pad_id, device) for micro in micros]
        threshold = None
        if loss.kind == "aux_conf" and len(micros) > 1:  # the whole batch's threshold, not each micro-batch's
            threshold = batch_threshold(model, batches, label_ids, device, prior)
        for micro, batch in zip(micros, batches, strict=True):
            index = torch.as_tensor(micro)
            target_y = y[index].to(device, non_blocking=True)
            weight = w[index].to(device, non_blocking=True)
            with _autocast(device):
                margin = label_margin(model, batch, label_ids)
            target = loss_targets(margin, target_y, loss, (done - 1) / len(steps), prior, threshold)
            per_item = torch.nn.functional.binary_cross_entropy_with_logits(margin, target, reduction="none")
            ((per_item * weight).sum() / total_weight).backward()
            padded += len(micro) * int(lengths[micro].max())
        opt.step()
        schedule.step()
        tokens += int(lengths[rows].sum())
        rows_seen += len(rows)
    model.eval()
    return TrainStats(steps=len(steps), rows=rows_seen, tokens=tokens, padded_tokens=padded)


def readout(model, seqs: Sequence[Sequence[int]], *, label_ids: tuple[int, int], pad_id: int,
            recipe: LoRAConfig, device: str) -> np.ndarray:
    """P(label 1) for every sequence, in batches of similar length (then put back in input order)."""
    import torch

    if len(seqs) == 0:
        return np.zeros(0, dtype=np.float64)
    lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
    out = np.empty(len(seqs), dtype=np.float64)
    chunks = []
    model.eval()
    with torch.inference_mode():
        for group in split_by_tokens(np.arange(len(seqs)), lengths, recipe.readout_tokens):
            batch = collate([seqs[i] for i in group], pad_id, device)
            with _autocast(device):
                chunks.append((group, torch.sigmoid(label_margin(model, batch, label_ids))))
        for group, probs in chunks:  # one device-to-host copy per batch, after all batches are queued
            out[group] = probs.double().cpu().numpy()
    return out
