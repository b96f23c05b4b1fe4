"""GPU path: a Hugging Face causal LM fine-tuned with PEFT LoRA, read out from two label tokens.

Each example becomes a prompt ending in ``Answer:``; P(label = 1) is the softmax over the next-token
logits of the two label tokens (" A"/" B" for pairs, " Yes"/" No" for choices), as in the reference
experiment (weak ``Qwen/Qwen1.5-0.5B-Chat``, strong ``Qwen/Qwen3-4B-Base``). Models load by hub id or local
path; ``path#file.gguf`` loads a GGUF checkpoint (dequantised by transformers), which is how the test suite
runs this code on a packaged SmolLM2-135M. A spec may end in ``?key=value&...`` to change the training
recipe (:class:`~aar.models.lora_train.LoRAConfig`; default: the reference's), e.g.
``hf:Qwen/Qwen3-4B-Base?epochs=3&gradient_checkpointing=true``; the recipe is part of the backend id, so
cached artifacts never mix recipes.

A prompt longer than ``max_length`` loses content, never its question suffix: cutting on the right (what a
tokenizer's ``truncation=True`` does) would drop ``Answer:`` and read the label from the wrong token.
The variable parts share the budget by water-filling (short parts stay whole); a dialogue keeps its latest
turns, and answers and solutions keep their beginning and end around a ``[...]`` marker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qsl

import numpy as np

from aar import paths
from aar.errors import AarError
from aar.models.features import TaskFeatures
from aar.models.heads import LossConfig
from aar.models.lora_train import LoRAConfig, apply_lora, readout, train_lora
from aar.tasks.schema import SPLITS, Example, TaskData

__all__ = ["CausalLMBackend", "LMPredictor", "LoRAConfig", "fit_segments", "prompt_segments", "render_prompt"]

log = logging.getLogger(__name__)

LABEL_WORDS = {"pair": (" B", " A"), "choice": (" No", " Yes")}  # index = label
FIXED, KEEP_TAIL, KEEP_ENDS = "fixed", "tail", "ends"  # how a prompt segment may be shortened
CUT_MARKER = " [...] "
DEQUANTISED_ENV = "AAR_DEQUANTISED"  # in a sandbox child: the mounted folder of the job's dequantised GGUF

Segment = tuple[str, str]  # (text, how it may be shortened)


def prompt_segments(fmt: str, inputs: dict[str, str]) -> list[Segment]:
    """The prompt as parts, each tagged with how it may be shortened; the last part ends in ``Answer:``."""
    if fmt == "pair":
        return [(inputs.get("prompt", ""), KEEP_TAIL), ("\n\nResponse A:\n", FIXED), (inputs["first"], KEEP_ENDS),
                ("\n\nResponse B:\n", FIXED), (inputs["second"], KEEP_ENDS),
                ("\n\nWhich response is better, A or B?\nAnswer:", FIXED)]
    return [("Question:\n", FIXED), (inputs["question"], KEEP_ENDS), ("\n\nProposed answer:\n", FIXED),
            (inputs["choice"], KEEP_ENDS), ("\n\nIs the proposed answer correct, Yes or No?\nAnswer:", FIXED)]


def render_prompt(fmt: str, inputs: dict[str, str]) -> str:
    return "".join(text for text, _ in prompt_segments(fmt, inputs))


def _water_level(lengths: list[int], budget: int) -> int:
    """The largest cap c with sum(min(length, c)) <= budget."""
    lo, hi = 0, max(lengths, default=0)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(n, mid) for n in lengths) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return lo


def fit_segments(pieces: list[list[int]], kinds: list[str], budget: int, marker: list[int]) -> tuple[list[int], bool]:
    """Token ids of the joined segments within ``budget`` tokens, and whether any segment was shortened.
    Fixed segments stay whole; the others share what is left, each cut to a common cap (water-filling)."""
    fixed = sum(len(p) for p, kind in zip(pieces, kinds, strict=True) if kind == FIXED)
    if fixed > budget:
        raise AarError(f"max_length {budget} is shorter than the prompt template itself ({fixed} tokens)")
    variable = [len(p) for p, kind in zip(pieces, kinds, strict=True) if kind != FIXED]
    if fixed + sum(variable) <= budget:
        return [t for p in pieces for t in p], False
    cap = _water_level(variable, budget - fixed)
    out: list[int] = []
    for piece, kind in zip(pieces, kinds, strict=True):
        if kind == FIXED or len(piece) <= cap:
            out.extend(piece)
        elif kind == KEEP_TAIL:
            out.extend(piece[len(piece) - cap:] if cap else [])
        elif cap > len(marker) + 1:  # KEEP_ENDS: head and tail around the marker
            keep = cap - len(marker)
            out.extend(piece[: (keep + 1) // 2] + marker + piece[len(piece) - keep // 2:])
        else:
            out.extend(piece[:cap])
    return out, True


def parse_spec(spec: str) -> tuple[str, str | None, LoRAConfig]:
    """``hf:<model>[#file.gguf][?key=value&...]`` -> model, GGUF file, recipe; a bad key or value is an error."""
    body = spec.removeprefix("hf:")
    body, _, query = body.partition("?")
    model, _, gguf = body.partition("#")
    if not model:
        raise AarError(f"bad model spec {spec!r}; use hf:<model id or path>[#file.gguf][?key=value&...]")
    fields = {f.name: f.type for f in dataclasses.fields(LoRAConfig)}
    changes: dict[str, object] = {}
    for key, raw in parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)):
        if key not in fields:
            raise AarError(f"unknown LoRA setting {key!r} in {spec!r}; known: {', '.join(fields)}")
        kind = fields[key]
        try:
            if kind == "bool":
                if raw.lower() not in ("true", "false", "1", "0"):
                    raise ValueError(raw)
                changes[key] = raw.lower() in ("true", "1")
            else:
                changes[key] = float(raw) if kind == "float" else int(raw)
        except ValueError:
            raise AarError(f"LoRA setting {key}={raw!r} in {spec!r} is not a {kind}") from None
    return model, gguf or None, LoRAConfig(**cast(dict[str, Any], changes))  # each value parsed as its kind


def sandbox_needs(spec: str) -> tuple[list[Path], dict[str, str], bool]:
    """What a sandboxed child that loads ``spec`` needs from the host: folders to mount read-only (a local
    model folder, or the model's folder in the Hugging Face hub cache, blobs and snapshots both, since
    snapshots link into blobs; for a GGUF, its dequantised copy when the trusted side made one), environment
    (where those are), and whether to pass the GPU in. The sandbox's /dev and HOME are empty, so without
    these an ``hf:`` method would find neither."""
    import torch

    model, gguf_file, _ = parse_spec(spec)
    mounts: list[Path] = []
    env: dict[str, str] = {}
    gpu = torch.cuda.is_available()
    if gguf_file:
        folder = dequantised_dir(model, gguf_file, "cuda" if gpu else "cpu")
        if folder is not None and folder.is_dir():
            mounts.append(folder)
            env[DEQUANTISED_ENV] = str(folder)
    if Path(model).exists():
        mounts.append(Path(model).resolve())
    else:
        from huggingface_hub import constants

        cache = Path(constants.HF_HUB_CACHE)
        repo = cache / ("models--" + model.replace("/", "--"))
        if repo.is_dir():
            mounts.append(repo.resolve())
            env["HF_HUB_CACHE"] = str(cache)
    return mounts, env, gpu


def _gguf_source(model: str, gguf_file: str) -> Path | None:
    source: Path | None
    if Path(model).is_dir():
        source = Path(model) / gguf_file
    else:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(model, gguf_file)
        source = Path(found) if isinstance(found, str) else None
    return source.resolve() if source is not None and source.is_file() else None


def dequantised_dir(model: str, gguf_file: str, device: str) -> Path | None:
    """Where a GGUF checkpoint lives dequantised (safetensors): de-quantising takes 27 s for the 135M SmolLM2
    here, loading the result about 1 s, and every sandboxed child loads its model anew. Trusted side:
    ``AAR_HOME/models/<hash of the file's path, size, mtime, dtype, transformers version>``; a sandbox
    child gets the folder the executor mounted for its job's model (and checks it is that model)."""
    return _dequantised(model, gguf_file, device)[0]


def _dequantised(model: str, gguf_file: str, device: str) -> tuple[Path | None, dict | None]:
    """:func:`dequantised_dir` and the identity it must hold (None: the GGUF file is not there)."""
    identity = _identity(model, gguf_file, device)
    mounted = os.environ.get(DEQUANTISED_ENV)
    if mounted:
        return Path(mounted), identity
    if identity is None:
        return None, None
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:20]
    return paths.models_dir() / digest, identity


def _dtype_name(device: str) -> str:
    return "bfloat16" if device == "cuda" else "float32"


def _identity(model: str, gguf_file: str, device: str) -> dict | None:
    """The GGUF file itself (resolved path, size, mtime), the dtype and the converter's version: two specs
    naming the same file (a path, or a hub id whose cache links to it) share one copy."""
    import transformers

    source = _gguf_source(model, gguf_file)
    if source is None:
        return None
    stat = source.stat()
    return {"source": str(source), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
            "dtype": _dtype_name(device), "transformers": transformers.__version__}


def _load_dequantised(folder: Path | None, identity: dict | None):
    """The dequantised model from ``folder``, or None when it is absent or holds another model."""
    import torch
    from transformers import AutoModelForCausalLM

    if folder is None or identity is None or not (folder / "identity.json").is_file():
        return None
    if json.loads((folder / "identity.json").read_text()) != identity:
        return None
    return AutoModelForCausalLM.from_pretrained(folder, dtype=getattr(torch, identity["dtype"]),
                                                attn_implementation="sdpa")


def _save_dequantised(folder: Path, base, identity: dict) -> None:
    """Write the folder whole, then rename it into place; a failure only costs the next load its speed.
    transformers refuses ``save_pretrained`` on a GGUF-loaded model, so the weights go through safetensors
    (tied tensors once) and the config without its GGUF quantisation entry: the copy loads as a plain model."""
    from safetensors.torch import save_model

    tmp = folder.with_name(f"{folder.name}.tmp{os.getpid()}")
    try:
        tmp.mkdir()
        save_model(base, str(tmp / "model.safetensors"))
        config = base.config.to_dict()
        config.pop("quantization_config", None)
        (tmp / "config.json").write_text(json.dumps(config, indent=1))
        (tmp / "identity.json").write_text(json.dumps(identity))
        for path in [tmp, *tmp.iterdir()]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)  # the sandbox's user reads it, mounted
        os.replace(tmp, folder)
    except (OSError, ValueError, RuntimeError) as exc:
        log.warning("could not keep the dequantised %s (%s); it will be de-quantised again next time",
                    identity["source"], exc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


_PRISTINE: dict[tuple[str, str | None, str], object] = {}


def _pristine_base(model: str, gguf_file: str | None, device: str):
    """The base model as loaded, kept once per process; every fit trains a copy of it.

    Loading is the slow part of a small fit (27 s to de-quantise the packaged SmolLM2 GGUF here, against 0.7 s
    for a copy), and a training run fits several models (ceiling and student, per seed). One entry only: a
    second model replaces the first, so a process never holds two bases."""
    import torch
    from transformers import AutoModelForCausalLM

    key = (model, gguf_file, device)
    if key not in _PRISTINE:
        _PRISTINE.clear()
        folder, identity = _dequantised(model, gguf_file, device) if gguf_file else (None, None)
        base = _load_dequantised(folder, identity)
        if base is None:
            kwargs = {"gguf_file": gguf_file} if gguf_file else {}
            dtype = torch.bfloat16 if device == "cuda" else torch.float32
            base = AutoModelForCausalLM.from_pretrained(model, dtype=dtype, attn_implementation="sdpa", **kwargs)
            if folder is not None and identity is not None and not os.environ.get(DEQUANTISED_ENV):
                folder.parent.mkdir(parents=True, exist_ok=True)
                _save_dequantised(folder, base, identity)
        _PRISTINE[key] = base.eval()
    return _PRISTINE[key]


def _special_prefix(tok, model_name: str) -> list[int]:
    """The special tokens the tokenizer puts before a text (a BOS, or nothing); one after it would sit where
    the readout must be, so it is refused."""
    full, plain = tok("x")["input_ids"], tok("x", add_special_tokens=False)["input_ids"]
    prefix = full[: len(full) - len(plain)]
    if full[len(prefix):] != plain:
        raise AarError(f"tokenizer of {model_name} adds special tokens after the text; the readout needs the "
                       f"prompt's last token to be its own")
    return list(prefix)


class CausalLMBackend:
    vectors = False

    def __init__(self, model: str, gguf_file: str | None = None, lora: LoRAConfig = LoRAConfig(),
                 device: str | None = None):
        self.model_name, self.gguf_file, self.lora = model, gguf_file, lora
        changed = [f"{f.name}={getattr(lora, f.name)}" for f in dataclasses.fields(LoRAConfig)
                   if getattr(lora, f.name) != f.default]
        self.id = f"hf:{model}" + (f"#{gguf_file}" if gguf_file else "") + ("?" + "&".join(changed) if changed else "")
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._tokenizer = None
        self._prefix: list[int] = []  # set with the tokenizer
        self._marker: list[int] = []
        self._segments: dict[int, list[Segment]] | list[list[Segment]] = []
        self._ids: dict[int, list[int]] = {}
        self._format = "choice"
        self.shortened: dict[str, int] = {}  # rows per split whose prompt lost content to max_length

    @classmethod
    def from_spec(cls, spec: str, **kwargs) -> CausalLMBackend:
        model, gguf, recipe = parse_spec(spec)
        return cls(model, gguf, lora=kwargs.pop("lora", recipe), **kwargs)

    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            kwargs = {"gguf_file": self.gguf_file} if self.gguf_file else {}
            tok = AutoTokenizer.from_pretrained(self.model_name, **kwargs)
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
            self._prefix = _special_prefix(tok, self.model_name)
            self._marker = tok(CUT_MARKER, add_special_tokens=False)["input_ids"]
            self._tokenizer = tok
        return self._tokenizer

    def label_token_ids(self) -> tuple[int, int]:
        ids = []
        for word in LABEL_WORDS[self._format]:
            pieces = self.tokenizer().encode(word, add_special_tokens=False)
            if not pieces:
                raise AarError(f"tokenizer of {self.model_name} cannot encode label word {word!r}")
            ids.append(pieces[0])
        if ids[0] == ids[1]:
            raise AarError(f"label words {LABEL_WORDS[self._format]} share a first token in {self.model_name}")
        return ids[0], ids[1]

    def _encode_many(self, rows: list[list[Segment]]) -> list[tuple[list[int], bool]]:
        """Token ids of each row's prompt within ``max_length`` and whether it was shortened; one batched
        tokenizer call for all segments."""
        tok = self.tokenizer()
        prefix, marker = self._prefix, self._marker
        texts = [text for segments in rows for text, _ in segments]
        encoded = iter(tok(texts, add_special_tokens=False)["input_ids"] if texts else [])
        out = []
        for segments in rows:
            pieces = [next(encoded) for _ in segments]
            ids, cut = fit_segments(pieces, [kind for _, kind in segments], self.lora.max_length - len(prefix),
                                    marker)
            out.append((prefix + ids, cut))
        return out

    def token_ids(self, row: int) -> list[int]:
        return self.token_ids_of([row])[0]

    def token_ids_of(self, rows) -> list[list[int]]:
        """Token ids of ``rows``; those not encoded yet (a method child's rows) in one batched call."""
        missing = list(dict.fromkeys(int(r) for r in rows if int(r) not in self._ids))
        if missing:
            encoded = self._encode_many([self._segments[r] for r in missing])
            self._ids.update((r, ids) for r, (ids, _) in zip(missing, encoded, strict=True))
        return [self._ids[int(r)] for r in rows]

    def prepare(self, task: TaskData) -> TaskFeatures:
        """Inputs are row ids into this backend's prompt table (all splits, in split order). Every prompt is
        tokenised here once; rows shortened to fit ``max_length`` are counted per split and logged."""
        self._format = task.format
        self._segments, self._ids, self.shortened, combined, offset = [], {}, {}, {}, 0
        for split in SPLITS:
            rows: list[Example] = task.splits[split]
            self._segments.extend(prompt_segments(task.format, e.inputs) for e in rows)
            combined[split] = np.arange(offset, offset + len(rows), dtype=np.int64)
            encoded = self._encode_many(self._segments[offset : offset + len(rows)])
            self._ids.update((offset + k, ids) for k, (ids, _) in enumerate(encoded))
            self.shortened[split] = sum(cut for _, cut in encoded)
            offset += len(rows)
        if any(self.shortened.values()):
            log.warning("%s: prompts shortened to %d tokens (content only, the question suffix kept): %s",
                        task.name, self.lora.max_length, ", ".join(f"{s} {n}" for s, n in self.shortened.items()))
        return TaskFeatures(combined=combined, views={}, antisymmetric=False)

    def prompt_table(self, ids: np.ndarray) -> dict[int, list[Segment]]:
        """The prompts of ``ids`` only (as segments), for a method child that must not see the other rows."""
        return {int(i): self._segments[int(i)] for i in np.unique(ids)}

    def use_prompt_table(self, table: dict[int, list[Segment]], fmt: str) -> None:
        """In a method child: rows are looked up in this table (ids outside it raise KeyError)."""
        self._segments, self._ids, self._format = table, {}, fmt

    def _load_model(self, seed: int):
        import copy

        import torch

        torch.manual_seed(seed)
        base = copy.deepcopy(_pristine_base(self.model_name, self.gguf_file, self.device)).to(self.device)
        base.config.pad_token_id = self.tokenizer().pad_token_id
        return apply_lora(base, self.lora)

    def fit(self, x: np.ndarray, targets: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            antisymmetric: bool = False, loss: LossConfig = LossConfig()) -> LMPredictor:
        if len(x) != len(targets) or len(x) == 0:
            raise AarError(f"need equal, non-zero numbers of inputs and targets ({len(x)} vs {len(targets)})")
        seqs = self.token_ids_of(x)
        model = self._load_model(seed)
        train_lora(model, seqs, np.asarray(targets), label_ids=self.label_token_ids(),
                   pad_id=self.tokenizer().pad_token_id, recipe=self.lora, seed=seed, device=self.device,
                   weights=weights, loss=loss)
        return LMPredictor(self, model)


class LMPredictor:
    def __init__(self, backend: CausalLMBackend, model):
        self.backend, self.model = backend, model

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        b = self.backend
        return readout(self.model, b.token_ids_of(x), label_ids=b.label_token_ids(),
                       pad_id=b.tokenizer().pad_token_id, recipe=b.lora, device=b.device)
