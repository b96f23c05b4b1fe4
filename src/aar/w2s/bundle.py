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
import secrets
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from aar.secret_keys import installation_key
from aar.w2s.pipeline import LAB_SPLITS


def seed_key() -> bytes:
    """This installation's key for opaque and verification seeds (see :mod:`aar.secret_keys`)."""
    return installation_key("seed")


def opaque_seed(seed: int) -> int:
    """The seed a method sees for trusted seed ``seed``: stable (experiments are reproducible), unlinkable."""
    digest = hashlib.blake2b(str(int(seed)).encode(), key=seed_key(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**31 - 1)


def write_bundle(testbed, seeds: list[int], path: Path,
                 weak_override: Callable[[int, np.ndarray], np.ndarray] | None = None,
                 splits: tuple[str, ...] = LAB_SPLITS, noise_features: bool = False) -> dict[str, int]:
    """Write the bundle for ``seeds``; returns the number of items of each split to predict. The backend
    travels by id and is rebuilt in the child. ``weak_override(seed, weak_soft)`` replaces the teacher's
    labels (the integrity teacher ablation). ``splits``: what the method predicts; only the transfer gauntlet
    adds the holdout, after the campaign. Contexts stay keyed by the trusted seed (the parent pairs results
    with it); the seed inside each context is opaque. ``noise_features`` replaces every strong feature (pool,
    views and the splits to predict) by Gaussian noise of the same shape: the integrity source ablation."""
    contexts = {seed: replace(testbed.context(seed, {}), backend=None, seed=opaque_seed(seed)) for seed in seeds}
    if weak_override is not None:
        contexts = {seed: replace(ctx, weak_soft=weak_override(seed, ctx.weak_soft)) for seed, ctx in contexts.items()}
    eval_x = {s: testbed.strong_features.combined[s] for s in splits}
    if noise_features:
        if not testbed.strong_backend.vectors:
            raise ValueError("the source ablation needs a feature-vector backend")
        noise = np.random.default_rng(secrets.randbits(64))

        def like(x: np.ndarray) -> np.ndarray:
            return noise.standard_normal(x.shape).astype(np.float32)

        contexts = {seed: replace(ctx, strong_x=like(ctx.strong_x), strong_views={k: like(v) for k, v in
                                                                                  ctx.strong_views.items()})
                    for seed, ctx in contexts.items()}
        eval_x = {s: like(x) for s, x in eval_x.items()}
    prompts = None
    if not testbed.strong_backend.vectors:  # an LM student's inputs are row ids: ship those rows' prompts only
        ids = np.concatenate([ctx.strong_x for ctx in contexts.values()] + list(eval_x.values()))
        prompts = testbed.strong_backend.prompt_table(ids)
    with path.open("wb") as f:
        pickle.dump({"backend": testbed.config.strong, "contexts": list(contexts.values()), "eval_x": eval_x,
                     "prompts": prompts, "format": testbed.task.format}, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.chmod(path, 0o644)  # the sandbox's unprivileged user reads it; it holds no label
    return {s: len(x) for s, x in eval_x.items()}
