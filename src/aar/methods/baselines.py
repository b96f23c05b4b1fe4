"""Built-in W2S baselines.

- ``vanilla``: the student trains on the teacher's hard labels (Burns et al. 2023, naive finetuning).
- ``soft``: the student trains on the teacher's probabilities.
- ``confident``: keep only the most confident fraction of teacher labels (confidence filtering).
- ``aux_conf``: the auxiliary confidence loss of Burns et al. 2023, Sec. 4.3.2.
- ``ccs``: contrast-consistent search (Burns et al. 2022, "Discovering Latent Knowledge in Language
  Models Without Supervision", arXiv:2212.03827) on the strong model's embeddings of each pair's two
  responses; weak labels only pick the orientation and the temperature. Pair tasks only.
- ``knn_consistency``: label propagation over the strong model's neighbourhood graph (Zhou et al. 2004,
  "Learning with Local and Global Consistency"): the strong representation's own consistency smooths
  the teacher's labels before the student trains on them.
"""

from __future__ import annotations

import numpy as np
import torch

from aar.errors import AarError
from aar.methods.base import Method, MethodContext, Predictor
from aar.models.heads import AdamW, LossConfig


class Vanilla(Method):
    name = "vanilla"
    summary = "student on hard weak labels"

    def train(self, ctx: MethodContext) -> Predictor:
        return ctx.fit((ctx.weak_soft > 0.5).astype(np.float32))


class SoftLabels(Method):
    name = "soft"
    summary = "student on soft weak labels"
    defaults = {"temperature": 1.0}

    def train(self, ctx: MethodContext) -> Predictor:
        t = ctx.params["temperature"]
        if t <= 0:
            raise AarError("soft: temperature must be > 0")
        p = np.clip(ctx.weak_soft, 1e-6, 1 - 1e-6)
        sharpened = 1 / (1 + np.exp(-np.log(p / (1 - p)) / t))
        return ctx.fit(sharpened.astype(np.float32))


class ConfidentFilter(Method):
    name = "confident"
    summary = "student on the most confident weak labels only"
    defaults = {"keep": 0.5}

    def train(self, ctx: MethodContext) -> Predictor:
        keep = ctx.params["keep"]
        if not 0 < keep <= 1:
            raise AarError("confident: keep must be in (0, 1]")
        confidence = np.abs(ctx.weak_soft - 0.5)
        rows = np.argsort(-confidence, kind="stable")[: max(2, round(keep * len(confidence)))]
        targets = (ctx.weak_soft[rows] > 0.5).astype(np.float32)
        if len(np.unique(targets)) < 2:
            raise AarError("confident: the kept examples have one class; raise 'keep'")
        return ctx.fit(targets, rows=rows)


class AuxConfidence(Method):
    name = "aux_conf"
    summary = "auxiliary confidence loss (Burns et al. 2023)"
    defaults = {"alpha": 0.75, "warmup": 0.2}

    def train(self, ctx: MethodContext) -> Predictor:
        alpha, warmup = ctx.params["alpha"], ctx.params["warmup"]
        if not 0 <= alpha <= 1 or not 0 <= warmup <= 1:
            raise AarError("aux_conf: alpha and warmup must be in [0, 1]")
        loss = LossConfig(kind="aux_conf", aux_alpha=alpha, aux_warmup=warmup)
        return ctx.fit((ctx.weak_soft > 0.5).astype(np.float32), loss=loss)


class _DirectionPredictor:
    """P(first better) = sigmoid(scale * <w, x / norm>): linear in the pair difference, antisymmetric."""

    def __init__(self, w: np.ndarray, norm: np.ndarray, scale: float):
        self.w, self.norm, self.scale = w, norm, scale

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-self.scale * ((x / self.norm) @ self.w)))


def _fit_scale(score: np.ndarray, targets: np.ndarray) -> float:
    """One-parameter logistic fit of targets on score (no bias keeps the predictor antisymmetric)."""
    s = torch.tensor(score, dtype=torch.float64)
    y = torch.tensor(targets, dtype=torch.float64)
    a = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([a], max_iter=100)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(a * s, y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(a.item())


class ContrastConsistent(Method):
    name = "ccs"
    summary = "contrast-consistent search on the strong model (pairs); weak labels set sign and scale"
    defaults = {"restarts": 5, "steps": 600, "lr": 0.01, "temperature": 4.0}
    formats = ("pair",)
    needs_vectors = True

    def train(self, ctx: MethodContext) -> Predictor:
        if ctx.format != "pair":
            raise AarError(f"ccs needs a pair task (prompt/first/second); task {ctx.task!r} is {ctx.format}")
        first, second = ctx.strong_views["first"], ctx.strong_views["second"]
        both = np.concatenate([first, second])
        mean, norm = both.mean(0), both.std(0) + 1e-6
        xp = torch.tensor((first - mean) / norm, dtype=torch.float32)
        xn = torch.tensor((second - mean) / norm, dtype=torch.float32)
        gen = torch.Generator().manual_seed(ctx.seed)
        best_loss, best_w = float("inf"), None
        diff = (xp - xn).double()
        top_pc = torch.linalg.svd(diff - diff.mean(0), full_matrices=False).Vh[0].float()
        for restart in range(int(ctx.params["restarts"])):
            # first start on the top principal component of the contrast differences (Burns et al. 2022's
            # CRC baseline), the rest random: CCS's loss is non-convex and random starts alone stall
            start = top_pc if restart == 0 else torch.randn(xp.shape[1], generator=gen)
            w = start.clone().requires_grad_(True)
            b = torch.zeros(1, requires_grad=True)
            opt = AdamW([w, b], lr=ctx.params["lr"])  # no weight decay: Adam
            for _ in range(int(ctx.params["steps"])):
                # unit-norm direction at a fixed temperature: the loss can only fall by finding a direction
                # along which the data is confidently split, not by inflating the weights
                u = ctx.params["temperature"] * w / w.norm()
                pp, pn = torch.sigmoid(xp @ u + b), torch.sigmoid(xn @ u + b)
                loss = ((pp - (1 - pn)) ** 2).mean() + (torch.minimum(pp, pn) ** 2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            if loss.item() < best_loss:
                best_loss, best_w = loss.item(), (w / w.norm()).detach().numpy().astype(np.float64)
        assert best_w is not None
        score = ((first - second) / norm) @ best_w
        scale = _fit_scale(score, ctx.weak_soft)  # sign: agree with the teacher; size: calibration
        return _DirectionPredictor(best_w, norm, scale)


class KnnConsistency(Method):
    name = "knn_consistency"
    summary = "propagate weak labels over the strong model's k-NN graph, then train the student"
    defaults = {"k": 10, "alpha": 0.5, "iterations": 10, "hard": True}
    needs_vectors = True

    def train(self, ctx: MethodContext) -> Predictor:
        k, alpha = int(ctx.params["k"]), float(ctx.params["alpha"])
        if k < 1 or not 0 <= alpha <= 1:
            raise AarError("knn_consistency: k must be >= 1 and alpha in [0, 1]")
        x = ctx.strong_x - (0 if ctx.antisymmetric else ctx.strong_x.mean(0))
        x = x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)
        sim = x @ x.T
        np.fill_diagonal(sim, 0)
        key = np.abs(sim) if ctx.antisymmetric else sim  # a swapped pair is a neighbour with flipped label
        k = min(k, len(x) - 1)
        nbrs = np.argpartition(-key, k, axis=1)[:, :k]
        flip = np.take_along_axis(sim, nbrs, axis=1) < 0 if ctx.antisymmetric else np.zeros_like(nbrs, bool)
        q = ctx.weak_soft.astype(np.float64).copy()
        for _ in range(int(ctx.params["iterations"])):
            neighbour = np.where(flip, 1 - q[nbrs], q[nbrs]).mean(1)
            q = alpha * ctx.weak_soft + (1 - alpha) * neighbour
        targets = (q > 0.5).astype(np.float32) if ctx.params["hard"] else q.astype(np.float32)
        return ctx.fit(targets)


# registered by aar.methods.registry on first lookup (this module does not import the registry: no cycle)
BUILTINS: tuple[type[Method], ...] = (Vanilla, SoftLabels, ConfidentFilter, AuxConfidence, ContrastConsistent,
                                      KnnConsistency)
