"""Run an untrusted method in a separate process that never holds a label.

The trusted parent (a verification worker) writes a *bundle*: for each seed, the method context (strong
features of ``train_unlabel``, the teacher's soft labels there, label-free examples, groups) and the
strong features of the evaluation splits, which carry no labels either. The child imports the submitted
code, trains one student per seed and writes probabilities as ``.npz``; the parent reads them back with
``allow_pickle=False`` and validates shape and range. The child's environment is an allow-list (no server
or API tokens), and it runs in the sandbox (:mod:`aar.sandbox`): the server's data directory is not
mounted, there is no network, and a timeout kills its whole process tree.
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import traceback
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from aar.errors import AarError
from aar.sandbox import Sandbox, SandboxPolicy
from aar.sandbox.runner import default_sandbox
from aar.w2s.pipeline import LAB_SPLITS

ERROR_FILE = "error.txt"
MAX_ERROR_CHARS = 2000


def write_bundle(testbed, seeds: list[int], path: Path,
                 weak_override: Callable[[int, np.ndarray], np.ndarray] | None = None,
                 splits: tuple[str, ...] = LAB_SPLITS) -> None:
    """Everything a method may see, for each seed; the backend travels by id and is rebuilt in the child.
    ``weak_override(seed, weak_soft)`` replaces the teacher's labels (the integrity teacher ablation).
    ``splits``: what the method predicts; only the transfer gauntlet adds the holdout, after the campaign."""
    contexts = {seed: replace(testbed.context(seed, {}), backend=None) for seed in seeds}
    if weak_override is not None:
        contexts = {seed: replace(ctx, weak_soft=weak_override(seed, ctx.weak_soft)) for seed, ctx in contexts.items()}
    eval_x = {s: testbed.strong_features.combined[s] for s in splits}
    prompts = None
    if not testbed.strong_backend.vectors:  # an LM student's inputs are row ids: ship those rows' prompts only
        ids = np.concatenate([ctx.strong_x for ctx in contexts.values()] + list(eval_x.values()))
        prompts = testbed.strong_backend.prompt_table(ids)
    with path.open("wb") as f:
        pickle.dump({"backend": testbed.config.strong, "contexts": contexts, "eval_x": eval_x, "prompts": prompts,
                     "format": testbed.task.format}, f, protocol=pickle.HIGHEST_PROTOCOL)


def run_isolated(bundle: Path, code_dir: Path, entry: str, params: dict, out_dir: Path, timeout_s: float,
                 heartbeat: Callable[[], None] | None = None, sandbox: Sandbox | None = None,
                 threads: int | None = None) -> dict[int, dict]:
    """Run the child in the sandbox to completion; return ``{seed: {split: probs}}`` for the bundle's splits.

    The child sees the bundle and the code read-only and writes only ``out_dir``. ``heartbeat`` is called
    while it runs; if it raises (lease lost, server gone), the child is killed and the exception propagates.
    ``threads``: the child's BLAS/OpenMP threads, when several children share the cores.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    env = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)} if threads else {}
    policy = SandboxPolicy(workspace=out_dir, read_only={bundle: bundle, code_dir: code_dir}, wall_s=timeout_s,
                           cpu_s=int(timeout_s * (os.cpu_count() or 1)) + 60, output_bytes=16 * 1024, env=env)
    cmd = [sys.executable, "-I", "-m", "aar.w2s.isolated", str(bundle), str(code_dir), entry, json.dumps(params),
           str(out_dir)]
    result = (sandbox or default_sandbox()).run(policy, cmd, heartbeat=heartbeat)
    if result.timed_out:
        raise AarError(f"method timed out after {timeout_s:.0f} s")
    if result.returncode != 0:
        error = out_dir / ERROR_FILE
        if error.exists():
            raise AarError(error.read_text(errors="replace")[:MAX_ERROR_CHARS])
        raise AarError(f"method process exited with code {result.returncode}: "
                       f"{result.output[-MAX_ERROR_CHARS:]}")
    return read_outputs(bundle, out_dir)


def read_outputs(bundle: Path, out_dir: Path) -> dict[int, dict]:
    with bundle.open("rb") as f:  # our own file: trusted
        spec = pickle.load(f)
    results = {}
    for seed in spec["contexts"]:
        path = out_dir / f"seed_{seed}.npz"
        if not path.exists():
            raise AarError(f"method produced no predictions for seed {seed}")
        with np.load(path, allow_pickle=False) as data:
            results[seed] = {}
            for split, x in spec["eval_x"].items():
                probs = np.asarray(data[split], dtype=np.float64) if split in data.files else None
                if probs is None or probs.shape != (len(x),) or not np.all(np.isfinite(probs)):
                    raise AarError(f"method returned malformed {split} predictions for seed {seed}")
                results[seed][split] = np.clip(probs, 0.0, 1.0)
    return results


def _child(bundle: Path, code_dir: Path, entry: str, params: dict, out_dir: Path) -> None:
    from aar.integrity.audit import Monitor, item_lines
    from aar.methods.registry import get_method
    from aar.models.base import get_backend

    with bundle.open("rb") as f:
        spec = pickle.load(f)
    texts = [t for ctx in spec["contexts"].values() for e in ctx.unlabeled for t in e.inputs.values()]
    monitor = Monitor(out_dir, item_lines(texts), allowed=(str(code_dir.resolve()), str(bundle.resolve().parent)))
    monitor.install()  # before any submitted code is imported
    sys.path.insert(0, str(code_dir))  # multi-file methods import their siblings
    if ":" in entry:  # a file of the submitted code
        file_name, _, class_name = entry.rpartition(":")
        cls = get_method(f"{code_dir / file_name}:{class_name}")
    else:  # a built-in or installed method, by name
        cls = get_method(entry)
    backend = get_backend(spec["backend"])
    if spec.get("prompts") is not None:
        backend.use_prompt_table(spec["prompts"], spec["format"])
    first = next(iter(spec["contexts"].values()))
    if cls.needs_vectors and not backend.vectors:
        raise AarError(f"method {cls.name!r} needs feature vectors; backend {backend.id!r} has none")
    if first.format not in cls.formats:
        raise AarError(f"method {cls.name!r} supports {', '.join(cls.formats)} tasks, not {first.format}")
    resolved = cls.resolve_params(params)
    for seed, ctx in spec["contexts"].items():
        ctx = replace(ctx, backend=backend, params=resolved)
        predictor = cls().train(ctx)
        out = {split: np.asarray(predictor.predict_proba(x), dtype=np.float64) for split, x in spec["eval_x"].items()}
        np.savez(out_dir / f"seed_{seed}.npz", **out)
        print(f"seed {seed} done", flush=True)
    monitor.close()


def _user_error(exc: BaseException, code_dir: str) -> str:
    """The submitter's view of a failure: frames of its own files (shown relative to the snapshot) and the
    exception; frames of the server's code and every server path are left out."""
    if isinstance(exc, AarError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(code_dir + "/")]
        lines = [f'  File "{f.filename[len(code_dir) + 1:]}", line {f.lineno}, in {f.name}\n    {f.line or ""}'
                 for f in frames[-5:]]
        text = "\n".join(["Traceback (your code, most recent call last):", *lines,
                          "".join(traceback.format_exception_only(exc)).strip()])
    return text.replace(code_dir + "/", "")


def main(argv: list[str]) -> int:
    bundle, code_dir, entry, params, out_dir = argv
    out = Path(out_dir)
    try:
        _child(Path(bundle), Path(code_dir), entry, json.loads(params), out)
    except BaseException as exc:  # report user-code failures as text, with server paths removed
        text = _user_error(exc, code_dir.rstrip("/"))
        for secret_path in (out_dir + "/", bundle, str(Path(__file__).resolve().parents[2]) + "/"):
            text = text.replace(secret_path, "")
        (out / ERROR_FILE).write_text(text[-MAX_ERROR_CHARS:])
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
