"""The heuristic researcher's space of methods and its beliefs about them.

A candidate is a composition of the ``recipe`` method's stages (``aar.methods.recipe``), or one of the two
geometry built-ins that no recipe expresses (``knn_consistency``, ``ccs``). Beliefs are a Bayesian linear
model per task over which components a candidate switches on: each component adds an unknown amount to the
dev PGR of vanilla, with a prior that the researcher's direction shifts, and every dev evaluation is an
observation with the task's published noise level (``noise_sd``). The model gives each untried candidate a
predicted gain and an uncertainty, so the researcher can ask which evaluation is worth its budget
(expected improvement) and how much a task's next evaluation could still teach it.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# the levels each stage may take (the first is "off"); fewer levels than the method allows, chosen so one
# experiment stays a few seconds on a CPU (at most 4 folds, 3 ensemble members, 1 self-training round).
# One "on" level per stage (two for the out-of-fold stage): with four temperatures and four keep levels the
# first campaign's researchers put a temperature into nearly every candidate, because the candidates one or
# two stages from vanilla were mostly temperature variants, not because temperature helped.
COMPONENTS: dict[str, tuple] = {
    "temperature": (0.0, 1.0),
    "keep": (1.0, 0.6),
    "oof": ("off", "filter", "relabel"),
    "aux_alpha": (0.0, 0.75),  # aux_conf's default: at 0.5 three campaigns' code best stopped at 0.88-0.90
    "ensemble": (1, 3),
    "self_train": (0, 1),
}
OOF_FOLDS = 4
RECIPE = "recipe"  # the composable method (aar.methods.recipe); every other candidate is a geometry built-in
GEOMETRY = {"knn_consistency": {"k": 10, "alpha": 0.5}, "ccs": {}}  # built-ins a recipe cannot express
PRIOR_SD = 0.25  # prior sd of one component's effect on PGR (built-ins move chat and code by 0.0-0.6)
MAX_FITS = 10  # student fits per seed a candidate may take (folds, ensemble members, self-training rounds)

# a direction's words shift the prior mean of the components they point at (vague directions, small shifts)
DIRECTION_NUDGES: dict[str, tuple[tuple[str, Any], ...]] = {
    "filter": (("keep", 0.6), ("oof", "filter")), "confiden": (("keep", 0.6), ("aux_alpha", 0.75)),
    "noisy": (("temperature", 1.0), ("oof", "relabel")), "posterior": (("temperature", 1.0),),
    "channel": (("oof", "relabel"),), "distill": (("temperature", 1.0), ("ensemble", 3)),
    "bias": (("aux_alpha", 0.75),), "ensembl": (("ensemble", 3),), "self-training": (("self_train", 1),),
    "consisten": (("oof", "filter"), ("geometry", "knn_consistency")), "geometry": (("geometry", "knn_consistency"),),
    "elicit": (("geometry", "ccs"), ("oof", "relabel")), "unsupervised": (("geometry", "ccs"),),
    "simplic": (("keep", 0.6), ("ensemble", 3)), "weight": (("aux_alpha", 0.75), ("keep", 0.6)),
}
NUDGE = 0.05


@dataclass
class Candidate:
    """One method configuration on one task, and what the researcher learnt about it."""

    task: str
    method: str  # RECIPE or a geometry built-in
    components: dict[str, Any] = field(default_factory=dict)  # recipe stages switched on (off ones left out)
    source: str = "own"  # or "forum:<post id>"
    experiment_id: int | None = None
    predictions_path: str | None = None
    signals: dict[str, float] = field(default_factory=dict)
    screen: str = ""  # why it was not evaluated ("" while undecided or when it was)
    same_as: str | None = None  # key of an evaluated candidate whose dev decisions it (nearly) repeats
    pgr: float | None = None  # dev PGR reply, when evaluated

    @property
    def dev_pgr(self) -> float:
        """The dev PGR reply of an evaluated candidate (an error on one not evaluated yet)."""
        if self.pgr is None:
            raise ValueError(f"candidate {self.key} has not been evaluated")
        return self.pgr

    @property
    def is_recipe(self) -> bool:
        """A composition of recipe stages (otherwise a geometry built-in, which has no stages)."""
        return self.method == RECIPE

    @property
    def key(self) -> str:
        return f"{self.method}:{json.dumps(self.components, sort_keys=True)}"

    def params(self) -> dict[str, Any]:
        """The method's parameters for this candidate."""
        if not self.is_recipe:
            return dict(GEOMETRY[self.method])
        out: dict[str, Any] = {}
        for name, level in self.components.items():
            if name == "oof":
                out.update({"oof_folds": OOF_FOLDS, "oof_mode": level})
            else:
                out[name] = level
        return out

    def fits(self) -> int:
        c = self.components
        folds = OOF_FOLDS if c.get("oof", "off") != "off" else 0
        return folds + c.get("ensemble", 1) * (1 + c.get("self_train", 0))

    def describe(self) -> str:
        if not self.is_recipe:
            return self.method
        return "vanilla" if not self.components else " + ".join(f"{k}={v}" for k, v in sorted(self.components.items()))


def from_params(task: str, method: str, params: dict[str, Any], source: str) -> Candidate | None:
    """A forum post's configuration as a candidate of this space (None when it is outside it)."""
    if method in GEOMETRY:
        return Candidate(task, method, source=source)
    if method != RECIPE:
        return None
    components: dict[str, Any] = {}
    for name, value in params.items():
        if name == "oof_mode" and params.get("oof_folds", 0):
            components["oof"] = value
        elif name in COMPONENTS and value != COMPONENTS[name][0]:
            components[name] = value
    if any(v not in COMPONENTS[k] for k, v in components.items()):
        return None
    return Candidate(task, RECIPE, components, source=source)


def all_candidates(task: str, pair_task: bool) -> list[Candidate]:
    """Every candidate of the space for one task (a few hundred: the model scores them all at once)."""
    out = []
    names = list(COMPONENTS)
    for levels in itertools.product(*(COMPONENTS[n] for n in names)):
        components = {n: v for n, v in zip(names, levels, strict=True) if v != COMPONENTS[n][0]}
        cand = Candidate(task, RECIPE, components)
        if cand.fits() <= MAX_FITS:
            out.append(cand)
    out += [Candidate(task, m) for m in GEOMETRY if pair_task or m != "ccs"]
    return out


FEATURES = [(n, v) for n, levels in COMPONENTS.items() for v in levels[1:]] + [("geometry", m) for m in GEOMETRY]


def features(cand: Candidate) -> np.ndarray:
    on = {("geometry", cand.method)} if not cand.is_recipe else set(cand.components.items())
    return np.array([1.0 if f in on else 0.0 for f in FEATURES])


def direction_prior(direction: str) -> np.ndarray:
    """Prior mean of each component's effect: zero, plus a small shift for what the direction points at."""
    mean = np.zeros(len(FEATURES))
    text = direction.lower()
    for word, targets in DIRECTION_NUDGES.items():
        if word in text:
            for target in targets:
                if target in FEATURES:
                    mean[FEATURES.index(target)] += NUDGE
    return mean


class Beliefs:
    """Bayesian linear regression of (dev PGR - vanilla's dev PGR) on a candidate's components, per task."""

    def __init__(self, prior_mean: np.ndarray, noise_sd: float):
        self.prior_mean, self.noise_sd = prior_mean, max(noise_sd, 0.02)
        self.x: list[np.ndarray] = []
        self.y: list[float] = []
        self.var: list[float] = []

    def observe(self, cand: Candidate, gain: float, extra_noise: float = 1.0) -> None:
        """``extra_noise`` > 1 for second-hand results (another researcher's dev number, on its own seeds)."""
        self.x.append(features(cand))
        self.y.append(gain)
        self.var.append((self.noise_sd * extra_noise) ** 2)

    def posterior(self) -> tuple[np.ndarray, np.ndarray]:
        d = len(FEATURES)
        precision = np.eye(d) / PRIOR_SD**2
        shift = self.prior_mean / PRIOR_SD**2
        for x, y, v in zip(self.x, self.y, self.var, strict=True):
            precision += np.outer(x, x) / v
            shift += x * y / v
        cov = np.linalg.inv(precision)
        return cov @ shift, cov

    def predict(self, cands: list[Candidate]) -> tuple[np.ndarray, np.ndarray]:
        """Predicted gain over vanilla and its sd, for each candidate."""
        mean, cov = self.posterior()
        x = np.stack([features(c) for c in cands])
        return x @ mean, np.sqrt(np.einsum("ij,jk,ik->i", x, cov, x))


def expected_improvement(mean: np.ndarray, sd: np.ndarray, best: float) -> np.ndarray:
    """E[max(0, gain - best)] for gain ~ N(mean, sd^2) (the Bayesian-optimisation criterion)."""
    sd = np.maximum(sd, 1e-9)
    z = (mean - best) / sd
    pdf = np.exp(-0.5 * z**2) / math.sqrt(2 * math.pi)
    cdf = 0.5 * (1 + np.vectorize(math.erf)(z / math.sqrt(2)))
    return sd * pdf + (mean - best) * cdf


def information_bits(sd: float, noise_sd: float) -> float:
    """What one dev evaluation of a candidate with predictive sd ``sd`` tells about its gain, in bits."""
    return 0.5 * math.log2(1 + (sd / noise_sd) ** 2)
