"""The sandboxed method child: ``python -I -m aar.execution.child BUNDLE CODE ENTRY PARAMS RESULT ERROR AUDIT``.

It never holds a label. Before any submitted code is imported it reads its audit key from stdin and
installs the audit hook (:mod:`aar.sandbox.audit`) on the inherited audit descriptor. It trains one student
per context of the bundle, raises an audit checkpoint after each, writes the predictions as one ``.npz`` to
the inherited result descriptor and raises the audit end event. A failure is written as text to the
inherited error descriptor as one JSON record (type, not applicable, text), with server paths removed;
the trusted side treats that record as untrusted (the method holds the descriptor too).
"""

from __future__ import annotations

import json
import os
import pickle
import sys
import traceback
from dataclasses import replace
from pathlib import Path

import numpy as np

from aar.errors import AarError, NotApplicable
from aar.execution.failure import child_error
from aar.sandbox.seccomp import deny_exec

MAX_ERROR_CHARS = 2000


def _run(bundle: Path, code_dir: Path, entry: str, params: dict, result_fd: int, audit_fd: int) -> None:
    from aar.methods.registry import get_method
    from aar.models.base import get_backend
    from aar.sandbox import audit

    with bundle.open("rb") as f:  # written by the trusted side
        spec = pickle.load(f)
    texts = [t for ctx in spec["contexts"] for e in ctx.unlabeled for t in e.inputs.values()]
    key = bytes.fromhex(sys.stdin.readline().strip())  # before any submitted code: nothing else can read it
    sys.stdin = open(os.devnull)  # noqa: SIM115
    audit.install(audit_fd, key, audit.item_lines(texts), allowed=(str(code_dir), str(bundle.parent), os.getcwd()),
                  trusted=_run.__code__, task_texts=frozenset(texts))
    del key  # from here on it lives only inside the hook's hash object
    deny_exec()  # what the hook cannot see (libc through ctypes) cannot start programs either
    sys.path.insert(0, str(code_dir))  # multi-file methods import their siblings
    if ":" in entry:  # a file of the submitted code
        file_name, _, class_name = entry.rpartition(":")
        cls = get_method(f"{code_dir / file_name}:{class_name}")
    else:  # a built-in or installed method, by name
        cls = get_method(entry)
    backend = get_backend(spec["backend"])
    if spec.get("prompts") is not None:  # only the causal-LM backend reads prompts (a bundle built for it)
        from aar.models.hf_lm import CausalLMBackend

        if not isinstance(backend, CausalLMBackend):
            raise AarError(f"backend {spec['backend']!r} takes no prompt table")
        backend.use_prompt_table(spec["prompts"], spec["format"])
    first = spec["contexts"][0]
    if cls.needs_vectors and not backend.vectors:
        raise NotApplicable(f"method {cls.name!r} needs feature vectors; backend {backend.id!r} has none")
    if first.format not in cls.formats:
        raise NotApplicable(f"method {cls.name!r} supports {', '.join(cls.formats)} tasks, not {first.format}")
    resolved = cls.resolve_params(params)
    out: dict[str, np.ndarray] = {}
    for position, ctx in enumerate(spec["contexts"]):
        ctx = replace(ctx, backend=backend, params=resolved)
        predictor = cls().train(ctx)
        for split, x in spec["eval_x"].items():
            out[f"s{position}_{split}"] = np.asarray(predictor.predict_proba(x), dtype=np.float64)
        sys.audit("aar.checkpoint", position)
        print(f"seed #{position + 1} done", flush=True)
    with os.fdopen(result_fd, "wb", closefd=False) as f:
        np.savez(f, **out)  # type: ignore[arg-type]  # numpy's stub types **kwds as its bool option
    sys.audit("aar.end")


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
    bundle, code_dir, entry, params, result_fd, error_fd, audit_fd = argv
    try:
        _run(Path(bundle), Path(code_dir), entry, json.loads(params), int(result_fd), int(audit_fd))
    except BaseException as exc:  # report user-code failures as text, with server paths removed
        text = _user_error(exc, code_dir.rstrip("/"))
        for secret_path in (os.getcwd() + "/", bundle, str(Path(__file__).resolve().parents[2]) + "/"):
            text = text.replace(secret_path, "")
        record = child_error(type(exc).__name__, isinstance(exc, NotApplicable), text[-MAX_ERROR_CHARS:])
        os.write(int(error_fd), record)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
