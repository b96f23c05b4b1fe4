"""``recipe``: one composable W2S method whose parameters switch its stages on and off, so a researcher (human,
LLM or the heuristic) searches a space of compositions instead of six fixed built-ins.

Stages, in the order they run (each off at its default, so ``recipe`` with no parameters is ``vanilla``):

1. **Targets**: the teacher's hard labels, or its probabilities sharpened by ``temperature`` (> 0: soft
   targets, as in ``soft``).
2. **Label selection**: keep the ``keep`` most confident fraction of the teacher's labels (``confident``).
3. **Out-of-fold student** (``oof_folds`` >= 2): the student is fitted on all folds but one and predicts the
   held-out fold, so every kept row gets a student opinion that did not see its own label.
   ``oof_mode = "filter"`` keeps only the rows where that opinion agrees with the teacher (a view-agreement
   filter: the teacher's view of the input and the strong model's must agree); ``"relabel"`` moves each
   target toward the out-of-fold opinion by ``oof_mix`` (the student corrects labels it can predict from
   the other rows; Burns et al. 2023's bootstrapping idea without the leak of in-sample predictions). With
   hard labels a mix flips a label only where ``(1 - mix) + mix * opinion`` crosses 0.5, so a mix of 0.5
   changes nothing and the default 0.7 flips labels the student opposes with probability above 0.71.
4. **Fit** with the auxiliary confidence loss when ``aux_alpha`` > 0 (Burns et al. 2023, Sec. 4.3.2), and
   average ``ensemble`` students fitted from different seeds (a seed ensemble lowers the student's variance,
   the part of its error that is not the teacher's).
5. **Self-training** (``self_train`` rounds): the fitted student labels the whole pool, its opinion is mixed
   into the teacher's targets by ``self_mix``, and the student is fitted again (Lee 2013, pseudo-labelling;
   Xie et al. 2020, noisy student).

Early stopping is not a stage: the CPU students are strongly regularised probes trained to convergence
(``aar.models.base``), where stopping early made results seed-dependent instead of better.
"""

from __future__ import annotations

import numpy as np

from aar.errors import AarError
from aar.methods.base import Method, MethodContext, Predictor
from aar.models.heads import LossConfig

OOF_MODES = ("filter", "relabel")


class _Average:
    """Mean probability of several predictors (a seed ensemble)."""

    def __init__(self, members: list[Predictor]):
        self.members = members

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return np.mean([m.predict_proba(x) for m in self.members], axis=0)


def _sharpen(p: np.ndarray, temperature: float) -> np.ndarray:
    """Hard labels at temperature 0; otherwise the teacher's logits divided by ``temperature``."""
    if temperature == 0:
        return (p > 0.5).astype(np.float64)
    q = np.clip(p, 1e-6, 1 - 1e-6)
    return 1 / (1 + np.exp(-np.log(q / (1 - q)) / temperature))


class Recipe(Method):
    name = "recipe"
    summary = "composable: targets, selection, out-of-fold filter/relabel, aux loss, seed ensemble, self-training"
    baseline = False
    defaults = {"temperature": 0.0, "keep": 1.0, "oof_folds": 0, "oof_mode": "filter", "oof_mix": 0.7,
                "aux_alpha": 0.0, "aux_warmup": 0.2, "ensemble": 1, "self_train": 0, "self_mix": 0.7}

    def train(self, ctx: MethodContext) -> Predictor:
        p = self._checked(ctx.params)
        weak = ctx.weak_soft.astype(np.float64)
        targets = _sharpen(weak, p["temperature"])
        rows = np.arange(len(weak))
        if p["keep"] < 1:
            confidence = np.abs(weak - 0.5)
            rows = np.sort(np.argsort(-confidence, kind="stable")[: max(2, round(p["keep"] * len(weak)))])
        if p["oof_folds"] >= 2:
            rows, targets = self._out_of_fold(ctx, p, rows, targets, weak)
        if len(np.unique(targets[rows] > 0.5)) < 2:
            raise AarError("recipe: the rows left have one class; raise 'keep' or drop the out-of-fold filter")
        predictor = self._fit(ctx, p, rows, targets)
        for _ in range(p["self_train"]):
            student = predictor.predict_proba(ctx.strong_x)
            mixed = (1 - p["self_mix"]) * targets + p["self_mix"] * student
            targets = mixed if p["temperature"] > 0 else (mixed > 0.5).astype(np.float64)
            predictor = self._fit(ctx, p, rows, targets)
        return predictor

    @staticmethod
    def _checked(params: dict) -> dict:
        p = dict(params)
        checks = [(p["temperature"] >= 0, "temperature must be >= 0 (0: hard labels)"),
                  (0 < p["keep"] <= 1, "keep must be in (0, 1]"),
                  (p["oof_folds"] == 0 or 2 <= p["oof_folds"] <= 10, "oof_folds must be 0 (off) or 2..10"),
                  (p["oof_mode"] in OOF_MODES, f"oof_mode must be one of {', '.join(OOF_MODES)}"),
                  (0 <= p["oof_mix"] <= 1 and 0 <= p["self_mix"] <= 1, "oof_mix and self_mix must be in [0, 1]"),
                  (0 <= p["aux_alpha"] <= 1 and 0 <= p["aux_warmup"] <= 1, "aux_alpha, aux_warmup in [0, 1]"),
                  (1 <= p["ensemble"] <= 8, "ensemble must be 1..8 students"),
                  (0 <= p["self_train"] <= 3, "self_train must be 0..3 rounds")]
        for ok, message in checks:
            if not ok:
                raise AarError(f"recipe: {message}")
        return p

    @staticmethod
    def _fit(ctx: MethodContext, p: dict, rows: np.ndarray, targets: np.ndarray) -> Predictor:
        loss = LossConfig(kind="aux_conf", aux_alpha=p["aux_alpha"], aux_warmup=p["aux_warmup"]) \
            if p["aux_alpha"] > 0 else LossConfig()
        members = [ctx.fit(targets[rows].astype(np.float32), rows=rows, loss=loss, seed=ctx.seed + 7919 * i)
                   for i in range(p["ensemble"])]
        return members[0] if len(members) == 1 else _Average(members)

    @staticmethod
    def _out_of_fold(ctx: MethodContext, p: dict, rows: np.ndarray, targets: np.ndarray,
                     weak: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each kept row's student opinion from a fit that did not see that row."""
        folds = ctx.rng().permutation(len(rows)) % p["oof_folds"]
        opinion = np.empty(len(rows))
        for fold in range(p["oof_folds"]):
            train, held = rows[folds != fold], rows[folds == fold]
            student = ctx.fit(targets[train].astype(np.float32), rows=train)
            opinion[folds == fold] = student.predict_proba(ctx.strong_x[held])
        if p["oof_mode"] == "filter":
            return rows[(opinion > 0.5) == (weak[rows] > 0.5)], targets
        moved = targets.copy()
        moved[rows] = (1 - p["oof_mix"]) * targets[rows] + p["oof_mix"] * opinion
        if p["temperature"] == 0:
            moved[rows] = (moved[rows] > 0.5).astype(np.float64)
        return rows, moved
