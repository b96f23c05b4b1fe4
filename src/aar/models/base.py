"""One backend interface for every model family: ``prepare`` (encode a task into inputs), ``fit`` a
head or adapter on targets, and the returned predictor's ``predict_proba``.

- :class:`EmbeddingBackend` (CPU default): frozen packaged encoder, cached features, trainable head.
- :class:`aar.models.hf_lm.CausalLMBackend` (GPU path): Hugging Face causal LM fine-tuned with PEFT
  LoRA, read out from the logits of two label tokens. Its inputs are row ids into a prompt table, so
  methods that need vector geometry (``needs_vectors``) are refused on it with a clear error.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

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


class EmbeddingBackend:
    vectors = True

    def __init__(self, encoder: str, head: HeadConfig = HeadConfig()):
        self.encoder = get_encoder(encoder)
        self.head = head
        self.id = encoder

    def prepare(self, task: TaskData) -> TaskFeatures:
        return task_features(task, self.encoder)

    def fit(self, x: np.ndarray, targets: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            antisymmetric: bool = False, loss: LossConfig = LossConfig()) -> Head:
        return fit_head(x, targets, seed=seed, weights=weights, antisymmetric=antisymmetric,
                        config=self.head, loss=loss)


def get_backend(name: str, head: HeadConfig = HeadConfig()) -> Backend:
    """``hf:<model id or path>[#file.gguf]`` selects the causal-LM backend; anything else an encoder."""
    if name.startswith("hf:"):
        from aar.models.hf_lm import CausalLMBackend

        return CausalLMBackend.from_spec(name)
    return EmbeddingBackend(name, head)
