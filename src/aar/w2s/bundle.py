"""Label-free bundles: everything a method may see, written by the trusted side for a sandboxed child.

For each seed the bundle holds the method context (strong features of ``train_unlabel``, the teacher's soft
labels there, label-free examples, groups) and the strong features of the splits to predict, which carry no
labels either. The seed a method sees is not the trusted seed: it is a keyed hash of it
(:func:`opaque_seed`), with a key only the trusted side holds, so submitted code cannot tell which seeds it
runs on (verification seeds are a secret keyed hash, see :func:`aar.server.verify.campaign_seeds`).
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from aar.secret_keys import installation_key
from aar.tasks.schema import Example
from aar.w2s.pipeline import LAB_SPLITS, Testbed, shuffled_teacher


def seed_key() -> bytes:
    """This installation's key for opaque and verification seeds (see :mod:`aar.secret_keys`)."""
    return installation_key("seed")


def opaque_seed(seed: int) -> int:
    """The seed a method sees for trusted seed ``seed``: stable (experiments are reproducible), unlinkable."""
    digest = hashlib.blake2b(str(int(seed)).encode(), key=seed_key(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**31 - 1)


@dataclass(frozen=True)
class BundleOptions:
    """How a bundle departs from the real testbed: the knowledge-source ablations of attribution
    (:mod:`aar.execution.attribution`). Every option keeps the bundle's shape (same contexts, fields, array
    shapes and split sizes), so method code reads an ablated bundle exactly like a real one.

    - ``teacher="shuffled"``: the teacher's soft labels permuted across items (same distribution of
      confidences, no relation to the inputs). A teacher *trained* on shuffled labels was the alternative; it
      predicts near 0.5 everywhere, which changes what confidence-based methods see (every item looks unsure)
      and so tests a different thing than "the teacher's information is gone".
    - ``text="hidden"``: every raw text the method can read (the inputs of ``ctx.unlabeled``, their ids and
      group strings) replaced by opaque stand-ins: each whitespace-separated word by random letters of the
      same length, drawn afresh per occurrence, so lengths and layout stay and no word can be decoded. Strong
      features, teacher and the grouping structure are unchanged: a method that only uses models cannot
      notice, one that reads text loses what it read.
    - ``features="noise"``: every strong feature (pool, views, the splits to predict) replaced by Gaussian
      noise of the same shape (nothing of the strong model is left).
    """

    teacher: str = "real"  # real | shuffled
    text: str = "real"  # real | hidden
    features: str = "real"  # real | noise

    def __post_init__(self) -> None:
        for name, allowed in (("teacher", ("real", "shuffled")), ("text", ("real", "hidden")),
                              ("features", ("real", "noise"))):
            if getattr(self, name) not in allowed:
                raise ValueError(f"bundle option {name}={getattr(self, name)!r}; one of {allowed}")

    @property
    def real(self) -> bool:
        return self == BundleOptions()

    def key(self) -> dict[str, str]:
        """The part of a content-addressed cache key these options add (empty for a real bundle)."""
        return {} if self.real else {"teacher": self.teacher, "text": self.text, "features": self.features}


REAL = BundleOptions()


_WORD = re.compile(r"\S+")
_LETTERS = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz", dtype=np.uint8)


def placeholder(text: str, rng: np.random.Generator) -> str:
    """``text`` with every word replaced by random lower-case letters of the same length."""
    return _WORD.sub(lambda m: _LETTERS[rng.integers(0, 26, len(m.group()))].tobytes().decode(), text)


def hide_text(examples: list[Example], groups: list[str], rng: np.random.Generator,
              key: bytes) -> tuple[list[Example], list[str]]:
    """Opaque stand-ins for every text of the pool: inputs (:func:`placeholder`), ids and group strings (a keyed
    hash with a key drawn for this bundle, so equal groups stay equal and nothing else is kept)."""

    def opaque(value: str, kind: str) -> str:
        return f"{kind}:" + hashlib.blake2b(value.encode(), key=key, digest_size=8).hexdigest()

    hidden = [Example(id=opaque(e.id, "item"), group=opaque(e.group, "g"),
                      inputs={k: placeholder(v, rng) for k, v in e.inputs.items()}) for e in examples]
    return hidden, [opaque(g, "g") for g in groups]


def write_bundle(testbed: Testbed, seeds: list[int], path: Path, splits: tuple[str, ...] = LAB_SPLITS,
                 options: BundleOptions = REAL) -> dict[str, int]:
    """Write the bundle for ``seeds``; returns the number of items of each split to predict. The backend
    travels by id and is rebuilt in the child. ``splits``: what the method predicts; only the transfer gauntlet
    adds the holdout, after the campaign. Contexts stay keyed by the trusted seed (the parent pairs results
    with it); the seed inside each context is opaque. ``options``: the ablations (:class:`BundleOptions`)."""
    contexts = {seed: replace(testbed.context(seed, {}), backend=None, seed=opaque_seed(seed)) for seed in seeds}
    if options.teacher == "shuffled":
        contexts = {seed: replace(ctx, weak_soft=shuffled_teacher(seed, ctx.weak_soft))
                    for seed, ctx in contexts.items()}
    eval_x = {s: testbed.strong_features.combined[s] for s in splits}
    fresh = np.random.default_rng(secrets.randbits(64))  # nothing here may be reproducible by the method
    if options.text == "hidden":
        key = fresh.bytes(16)
        hidden = {seed: hide_text(ctx.unlabeled, ctx.groups, fresh, key) for seed, ctx in contexts.items()}
        contexts = {seed: replace(ctx, unlabeled=hidden[seed][0], groups=hidden[seed][1])
                    for seed, ctx in contexts.items()}
    if options.features == "noise":
        if not testbed.strong_backend.vectors:
            raise ValueError("the source ablation needs a feature-vector backend")

        def like(x: np.ndarray) -> np.ndarray:
            return fresh.standard_normal(x.shape).astype(np.float32)

        contexts = {seed: replace(ctx, strong_x=like(ctx.strong_x), strong_views={k: like(v) for k, v in
                                                                                  ctx.strong_views.items()})
                    for seed, ctx in contexts.items()}
        eval_x = {s: like(x) for s, x in eval_x.items()}
    prompts = None
    if not testbed.strong_backend.vectors:  # an LM student's inputs are row ids: ship those rows' prompts only
        ids = np.concatenate([ctx.strong_x for ctx in contexts.values()] + list(eval_x.values()))
        from aar.models.hf_lm import CausalLMBackend

        assert isinstance(testbed.strong_backend, CausalLMBackend)  # the only backend without vectors
        prompts = testbed.strong_backend.prompt_table(ids)
    with path.open("wb") as f:
        pickle.dump({"backend": testbed.config.strong, "contexts": list(contexts.values()), "eval_x": eval_x,
                     "prompts": prompts, "format": testbed.task.format}, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.chmod(path, 0o644)  # the sandbox's unprivileged user reads it; it holds no label
    return {s: len(x) for s, x in eval_x.items()}
