"""One backend interface for every model family: ``prepare`` (encode a task into inputs), ``fit`` a
head or adapter on targets, and the returned predictor's ``predict_proba``.

- :class:`EmbeddingBackend` (CPU default): frozen packaged encoder, cached features, trainable head.
- :class:`aar.models.hf_lm.CausalLMBackend` (GPU path): Hugging Face causal LM fine-tuned with PEFT
  LoRA, read out from the logits of two label tokens. Its inputs are row ids into a prompt table, so
  methods that need vector geometry (``needs_vectors``) are refused on it with a clear error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from aar.errors import AarError
from aar.models.encoders import get_encoder
from aar.models.features import TaskFeatures, task_features
from aar.models.heads import Head, HeadConfig, LossConfig, fit_head
from aar.tasks.schema import TaskData


class Predictor(Protocol):
    def predict_proba(self, x: np.ndarray) -> np.ndarray: ...


class Backend(Protocol):
    id: str
    vectors: bool  # True when prepared inputs are feature vectors (geometry-based methods allowed)

    def prepare(self, task: TaskData) -> TaskFeatures: ...

    def fit(self, x: np.ndarray, targets: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            antisymmetric: bool = False, loss: LossConfig = LossConfig()) -> Predictor: ...


# A model on the CPU default is one or more frozen packaged encoders plus a trainable head; the head's
# capacity and regularisation are part of the model. Chosen by measurement (README, "Testbed"): the weak
# teacher is GloVe with a plain logistic probe; the strong student is MiniLM-L6 with a strongly L2-regularised
# linear probe (C = 0.001), which learns the teacher's signal but not its errors. The old MLP student on
# MiniLM+GloVe fitted the teacher's errors exactly (vanilla PGR about 0 on every task) and had a lower ceiling.
STRONG_C = 0.001
# the teacher: a plain logistic probe (scikit-learn's default C) trained to convergence. Fewer epochs left it
# early-stopped at a seed-dependent point: its labels on the pool then differed by seed (agreement with the
# converged fit 0.87), and so did the student's PGR (code: -0.35 to 0.28 over 5 seeds; converged: 0.35-0.44).
WEAK_C = 1.0
# the student: Adam at lr 0.01 oscillated around the strongly regularised optimum, so the student's PGR swung
# with the seed (code, one teacher: -0.17 to 0.42); at lr 0.003 for 60 epochs it settles (0.34 to 0.39)
STRONG_HEAD = HeadConfig(c=STRONG_C, epochs=60, lr=0.003)
MODELS: dict[str, tuple[tuple[str, ...], HeadConfig]] = {
    "glove-50d": (("glove-50d",), HeadConfig(c=WEAK_C, epochs=100, lr=0.1, batch_size=256)),
    "glove-50d-mlp": (("glove-50d",), HeadConfig(hidden=128)),
    "minilm-l6": (("minilm-l6",), STRONG_HEAD),
    "minilm-l6-unreg": (("minilm-l6",), HeadConfig()),
    "minilm-l6-mlp": (("minilm-l6",), HeadConfig(hidden=128)),
    "minilm-glove-mlp": (("minilm-l6", "glove-50d"), HeadConfig(hidden=128)),
    "minilm-glove": (("minilm-l6", "glove-50d"), STRONG_HEAD),
}



class EmbeddingBackend:
    vectors = True

    def __init__(self, name: str):
        if name not in MODELS:
            raise AarError(f"unknown model {name!r}; available: {', '.join(MODELS)} or hf:<model id or path>")
        encoders, self.head = MODELS[name]
        self.encoders = [get_encoder(e) for e in encoders]
        self.id = name

    def prepare(self, task: TaskData) -> TaskFeatures:
        """Each encoder's cached features, concatenated column-wise (pair differences stay differences)."""
        parts = [task_features(task, encoder) for encoder in self.encoders]
        if len(parts) == 1:
            return parts[0]
        combined = {s: np.concatenate([p.combined[s] for p in parts], axis=1) for s in parts[0].combined}
        views = {s: {v: np.concatenate([p.views[s][v] for p in parts], axis=1) for v in parts[0].views[s]}
                 for s in parts[0].views}
        return TaskFeatures(combined=combined, views=views, antisymmetric=parts[0].antisymmetric)

    def fit(self, x: np.ndarray, targets: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            antisymmetric: bool = False, loss: LossConfig = LossConfig()) -> Head:
        return fit_head(x, targets, seed=seed, weights=weights, antisymmetric=antisymmetric,
                        config=self.head, loss=loss)


def sandbox_needs(name: str) -> tuple[list[Path], dict[str, str], bool]:
    """Folders (mounted read-only), environment and GPU a sandboxed child needs to load backend ``name``;
    the embedding backends' encoders ship in installed packages, which every sandbox sees already."""
    if name.startswith("hf:"):
        from aar.models.hf_lm import sandbox_needs as hf_needs

        return hf_needs(name)
    return [], {}, False


def get_backend(name: str) -> Backend:
    """``hf:<model id or path>[#file.gguf]`` selects the causal-LM backend; a name in MODELS an encoder."""
    if name.startswith("hf:"):
        from aar.models.hf_lm import CausalLMBackend

        return CausalLMBackend.from_spec(name)
    return EmbeddingBackend(name)
