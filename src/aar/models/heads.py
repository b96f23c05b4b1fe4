"""Trainable heads on frozen features: logistic probes trained with minibatch Adam.

Soft targets, per-example weights and the auxiliary confidence loss of Burns et al. 2023 (Section 4.3.2:
L = (1 - a) CE(f, y_weak) + a CE(f, hardened f), hardened by a threshold that keeps the weak labels'
class balance, a warmed up over the first 20% of steps) all live here so every method shares one
optimiser (:class:`AdamW`, torch's update bit for bit). Seeds change initialisation and minibatch order, as
fine-tuning seeds do.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from aar.errors import AarError


@dataclass(frozen=True)
class HeadConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-2
    weight_decay: float = 1e-3
    hidden: int = 0  # 0: linear probe; >0: one hidden layer of this width
    # > 0: an L2 penalty |W|^2 / (2 c n) on the weights, scikit-learn's C (the strength per item does not
    # change with the training set's size); it replaces the decoupled weight decay. Strongly regularised
    # probes are what let a student generalise past its teacher's errors instead of fitting them
    # (README, "Testbed").
    c: float = 0.0


@dataclass(frozen=True)
class LossConfig:
    kind: str = "ce"  # "ce" or "aux_conf"
    aux_alpha: float = 0.75
    aux_warmup: float = 0.2


class Head:
    """A fitted probe. ``antisymmetric`` heads satisfy p(-x) = 1 - p(x) exactly (pair tasks)."""

    def __init__(self, net: torch.nn.Module, scale: np.ndarray, shift: np.ndarray, antisymmetric: bool):
        self.net, self.scale, self.shift, self.antisymmetric = net, scale, shift, antisymmetric

    def logits(self, x: np.ndarray) -> np.ndarray:
        xt = torch.from_numpy(((x - self.shift) / self.scale).astype(np.float32))
        with torch.inference_mode():
            return self.net(xt).squeeze(-1).numpy().astype(np.float64)

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-self.logits(x)))


class _Antisymmetric(torch.nn.Module):
    """f(x) - f(-x): swapping the two responses of a pair flips the prediction exactly."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.inner(x) - self.inner(-x)) / 2


class AdamW:
    """Adam with decoupled weight decay (Loshchilov and Hutter 2019), the very update ``torch.optim.AdamW``
    makes on CPU tensors (its single-tensor path, no AMSGrad), written out because torch.optim imports
    ``torch._dynamo`` on an optimiser's first use: 1.1 s of CPU in every process that fits a head, more than
    the fit itself at our sizes (a sandboxed experiment took 2.3 s, 1.1 of them that import). With
    ``weight_decay=0`` it is plain Adam. ``tests/test_heads.py`` checks it against torch's, bit for bit."""

    def __init__(self, params, lr: float, weight_decay: float = 0.0, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8):
        self.params = list(params)
        self.lr, self.weight_decay, self.betas, self.eps = lr, weight_decay, betas, eps
        self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
        self.steps = [0] * len(self.params)  # per parameter, as torch counts: one without a gradient is skipped

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        beta1, beta2 = self.betas
        for i, (p, exp_avg, exp_avg_sq) in enumerate(zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True)):
            if p.grad is None:
                continue
            self.steps[i] += 1
            step_size = self.lr / (1 - beta1 ** self.steps[i])
            bias_correction2_sqrt = (1 - beta2 ** self.steps[i]) ** 0.5
            if self.weight_decay != 0:
                p.mul_(1 - self.lr * self.weight_decay)
            exp_avg.lerp_(p.grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            p.addcdiv_(exp_avg, (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps), value=-step_size)


def _net(dim: int, hidden: int, antisymmetric: bool) -> torch.nn.Module:
    net: torch.nn.Module
    if hidden:
        net = torch.nn.Sequential(torch.nn.Linear(dim, hidden), torch.nn.GELU(), torch.nn.Linear(hidden, 1))
    else:
        net = torch.nn.Linear(dim, 1)
    return _Antisymmetric(net) if antisymmetric else net


def hardening_threshold(p: torch.Tensor, prior: float) -> torch.Tensor:
    """The probability above which ``aux_conf`` hardens a prediction to 1: the batch's (1 - prior) quantile, so
    the hardened labels keep the class balance of the targets (Burns et al. 2023's adaptive threshold)."""
    return torch.quantile(p.float(), 1 - prior) if 0 < prior < 1 else torch.tensor(0.5)


def loss_targets(logit: torch.Tensor, target: torch.Tensor, loss: LossConfig, progress: float,
                 prior: float, threshold: torch.Tensor | None = None) -> torch.Tensor:
    """Targets for binary cross-entropy at a training step. For ``aux_conf``, CE is linear in the target,
    so (1 - a) CE(f, y) + a CE(f, h) = CE(f, (1 - a) y + a h) with h the hardened prediction. ``threshold``:
    the whole batch's, when ``logit`` is one micro-batch of it (None: computed from ``logit``)."""
    if loss.kind == "ce":
        return target
    if loss.kind != "aux_conf":
        raise AarError(f"unknown loss {loss.kind!r}; use 'ce' or 'aux_conf'")
    alpha = loss.aux_alpha * min(1.0, progress / loss.aux_warmup) if loss.aux_warmup > 0 else loss.aux_alpha
    with torch.no_grad():
        p = torch.sigmoid(logit)
        if threshold is None:
            threshold = hardening_threshold(p, prior)
        hardened = (p > threshold.to(p.device)).float()
    return (1 - alpha) * target + alpha * hardened


def fit_head(
    x: np.ndarray,
    targets: np.ndarray,
    *,
    seed: int,
    weights: np.ndarray | None = None,
    antisymmetric: bool = False,
    config: HeadConfig = HeadConfig(),
    loss: LossConfig = LossConfig(),
) -> Head:
    """Fit P(label=1 | x) to soft ``targets`` in [0, 1]."""
    if len(x) != len(targets):
        raise AarError(f"features and targets differ in length ({len(x)} vs {len(targets)})")
    if len(x) == 0:
        raise AarError("cannot fit a head on zero examples")
    targets = np.asarray(targets, dtype=np.float32)
    if np.any(~np.isfinite(targets)) or targets.min() < 0 or targets.max() > 1:
        raise AarError("targets must be probabilities in [0, 1]")
    w = np.ones(len(x), np.float32) if weights is None else np.asarray(weights, np.float32)
    if antisymmetric:  # no centring: it would break f(-x) = -f(x)
        shift = np.zeros(x.shape[1], np.float32)
        scale = (np.sqrt((x**2).mean(0)) + 1e-6).astype(np.float32)
    else:
        shift = x.mean(0).astype(np.float32)
        scale = (x.std(0) + 1e-6).astype(np.float32)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = _net(x.shape[1], config.hidden, antisymmetric)
    xt = torch.from_numpy(((x - shift) / scale).astype(np.float32))
    yt, wt = torch.from_numpy(targets), torch.from_numpy(w)
    opt = AdamW(net.parameters(), lr=config.lr, weight_decay=0.0 if config.c > 0 else config.weight_decay)
    weights_only = [p for name, p in net.named_parameters() if name.endswith("weight")]
    l2 = 1.0 / (2 * config.c * float(w.sum())) if config.c > 0 else 0.0
    steps_per_epoch = max(1, int(np.ceil(len(x) / config.batch_size)))
    total = config.epochs * steps_per_epoch
    prior = float((targets > 0.5).mean())
    step = 0
    for _ in range(config.epochs):
        perm = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), config.batch_size):
            idx = perm[start : start + config.batch_size]
            logit = net(xt[idx]).squeeze(-1)
            target = loss_targets(logit, yt[idx], loss, step / max(1, total), prior)
            per_item = torch.nn.functional.binary_cross_entropy_with_logits(logit, target, reduction="none")
            batch_loss = (per_item * wt[idx]).sum() / wt[idx].sum().clamp(min=1e-8)
            if l2:
                batch_loss = batch_loss + l2 * sum((p**2).sum() for p in weights_only)
            opt.zero_grad()
            batch_loss.backward()
            opt.step()
            step += 1
    net.eval()
    return Head(net, scale, shift, antisymmetric)
