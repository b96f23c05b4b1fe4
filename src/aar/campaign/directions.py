"""The pool of research directions, each in a vague and a specific wording.

The seeds' finding was that diverse, vague starting directions beat specific instructions; the
``--direction-detail`` knob lets a user repeat that comparison. Directions are drawn without replacement,
so no two researchers of a campaign start from the same idea (until the pool is exhausted).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aar.errors import AarError


@dataclass(frozen=True)
class Direction:
    key: str
    vague: str
    specific: str

    def text(self, detail: str) -> str:
        return self.vague if detail == "vague" else self.specific


DIRECTIONS = [
    Direction("elicitation", "Unsupervised elicitation: find what the strong model already knows, trusting the "
              "teacher as little as possible.",
              "Run contrast-consistent search (ccs, temperature 4, 5 restarts) on pair tasks and k-NN label "
              "propagation (knn_consistency, k 10) elsewhere; tune those parameters only."),
    Direction("reweighting", "Data reweighting: not every teacher label deserves the same weight.",
              "Filter to the most confident half of the weak labels (confident, keep 0.5) and tune keep between "
              "0.3 and 0.8."),
    Direction("noisy-channel", "Treat the teacher as a noisy channel and reason about the posterior of the true "
              "label.", "Use soft labels (soft, temperature 2) and the auxiliary confidence loss (aux_conf, "
              "alpha 0.75); tune temperature and alpha."),
    Direction("distillation", "Distillation: how should a student learn from a teacher that is often wrong?",
              "Train on the teacher's soft probabilities (soft, temperature 1), then sharpen or soften them."),
    Direction("simplicity", "Simplicity bias: a strong model prefers simple explanations of the data; use that.",
              "Propagate weak labels over the strong model's k-NN graph (knn_consistency, k 20, hard labels)."),
    Direction("ensembling", "Ensembling: many weak opinions may be worth more than one.",
              "Combine neighbours' labels (knn_consistency, k 40) with soft labels (soft, temperature 1.5)."),
]


def load_directions(path: Path) -> list[Direction]:
    """One direction per non-empty line (used as both wordings); lines starting with # are comments."""
    try:
        lines = [line.strip() for line in path.read_text().splitlines()]
    except OSError as exc:
        raise AarError(f"cannot read directions from {path}: {exc.strerror}") from None
    found = [Direction(f"custom-{i}", line, line) for i, line in enumerate(
        (line for line in lines if line and not line.startswith("#")), 1)]
    if not found:
        raise AarError(f"{path} holds no directions (one per line)")
    return found


def draw(pool: list[Direction], count: int, seed: int) -> list[Direction]:
    """``count`` directions without replacement (cycling through a fresh shuffle when count > pool)."""
    rng = np.random.default_rng(seed)
    drawn: list[Direction] = []
    while len(drawn) < count:
        drawn += [pool[i] for i in rng.permutation(len(pool))][: count - len(drawn)]
    return drawn
