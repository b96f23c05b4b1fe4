"""GPU path: a Hugging Face causal LM fine-tuned with PEFT LoRA, read out from two label tokens.

Each example becomes a prompt ending in ``Answer:``; P(label = 1) is the softmax over the next-token
logits of the two label tokens (" A"/" B" for pairs, " Yes"/" No" for choices), as in the reference
experiment (weak ``Qwen/Qwen1.5-0.5B-Chat``, strong ``Qwen/Qwen3-4B-Base``; LoRA per Hu et al. 2021,
arXiv:2106.09685). Models load by hub id or local path; ``path#file.gguf`` loads a GGUF checkpoint
(dequantised by transformers), which is how the test suite runs this code on a packaged SmolLM2-135M.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aar.errors import AarError
from aar.models.features import TaskFeatures
from aar.models.heads import LossConfig, loss_targets
from aar.tasks.schema import SPLITS, Example, TaskData

LABEL_WORDS = {"pair": (" B", " A"), "choice": (" No", " Yes")}  # index = label


def render_prompt(fmt: str, inputs: dict[str, str]) -> str:
    if fmt == "pair":
        return (f"{inputs.get('prompt', '')}\n\nResponse A:\n{inputs['first']}\n\nResponse B:\n"
                f"{inputs['second']}\n\nWhich response is better, A or B?\nAnswer:")
    return (f"Question:\n{inputs['question']}\n\nProposed answer:\n{inputs['choice']}\n\n"
            f"Is the proposed answer correct, Yes or No?\nAnswer:")


@dataclass(frozen=True)
class LoRAConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    lr: float = 2e-4
    epochs: int = 1
    batch_size: int = 8
    max_length: int = 512
    max_steps: int = 0  # 0: no cap (tests cap it to a few steps)


_PRISTINE: dict[tuple[str, str | None, str], object] = {}


def _pristine_base(model: str, gguf_file: str | None, device: str):
    """The base model as loaded, kept on the CPU once per process; every fit trains a copy of it.

    Loading is the slow part of a small fit (27 s to de-quantise the packaged SmolLM2 GGUF here, against 0.7 s
    for a copy), and a training run fits several models (ceiling and student, per seed). One entry only: a
    second model replaces the first, so a process never holds two bases."""
    import torch
    from transformers import AutoModelForCausalLM

    key = (model, gguf_file, device)
    if key not in _PRISTINE:
        _PRISTINE.clear()
        kwargs = {"gguf_file": gguf_file} if gguf_file else {}
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        _PRISTINE[key] = AutoModelForCausalLM.from_pretrained(model, dtype=dtype, **kwargs).eval()
    return _PRISTINE[key]


class CausalLMBackend:
    vectors = False

    def __init__(self, model: str, gguf_file: str | None = None, lora: LoRAConfig = LoRAConfig(),
                 device: str | None = None):
        self.model_name, self.gguf_file, self.lora = model, gguf_file, lora
        self.id = f"hf:{model}" + (f"#{gguf_file}" if gguf_file else "")
        import torch

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._tokenizer = None
        self._prompts: list[str] = []
        self._format = "choice"

    @classmethod
    def from_spec(cls, spec: str, **kwargs) -> CausalLMBackend:
        body = spec.removeprefix("hf:")
        model, _, gguf = body.partition("#")
        if not model:
            raise AarError(f"bad model spec {spec!r}; use hf:<model id or path>[#file.gguf]")
        return cls(model, gguf or None, **kwargs)

    def tokenizer(self):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            kwargs = {"gguf_file": self.gguf_file} if self.gguf_file else {}
            tok = AutoTokenizer.from_pretrained(self.model_name, **kwargs)
            tok.padding_side = "left"  # the readout position is the last token of every row
            if tok.pad_token is None:
                tok.pad_token = tok.eos_token
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

    def prepare(self, task: TaskData) -> TaskFeatures:
        """Inputs are row ids into this backend's prompt table (all splits, in split order)."""
        self._format = task.format
        self._prompts, combined, offset = [], {}, 0
        for split in SPLITS:
            rows: list[Example] = task.splits[split]
            self._prompts.extend(render_prompt(task.format, e.inputs) for e in rows)
            combined[split] = np.arange(offset, offset + len(rows), dtype=np.int64)
            offset += len(rows)
        return TaskFeatures(combined=combined, views={}, antisymmetric=False)

    def prompt_table(self, ids: np.ndarray) -> dict[int, str]:
        """The rendered prompts of ``ids`` only, for a method child that must not see the other rows."""
        return {int(i): self._prompts[int(i)] for i in np.unique(ids)}

    def use_prompt_table(self, table: dict[int, str], fmt: str) -> None:
        """In a method child: rows are looked up in this table (ids outside it raise KeyError)."""
        self._prompts, self._format = table, fmt  # type: ignore[assignment]

    def _load_model(self, seed: int):
        import copy

        import torch
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(seed)
        base = copy.deepcopy(_pristine_base(self.model_name, self.gguf_file, self.device)).to(self.device)
        base.config.pad_token_id = self.tokenizer().pad_token_id
        config = LoraConfig(r=self.lora.r, lora_alpha=self.lora.alpha, lora_dropout=self.lora.dropout,
                            target_modules="all-linear", task_type="CAUSAL_LM")
        return get_peft_model(base, config)

    def label_logits(self, model, ids: np.ndarray):
        """Logit of label 1 minus logit of label 0 at the last position, for rows ``ids``."""
        tok = self.tokenizer()
        batch = tok([self._prompts[i] for i in ids], return_tensors="pt", padding=True, truncation=True,
                    max_length=self.lora.max_length).to(self.device)
        # left padding puts every row's readout at the last position: project only that one onto the vocabulary
        logits = model(**batch, logits_to_keep=1).logits[:, -1, :].float()
        neg, pos = self.label_token_ids()
        return logits[:, pos] - logits[:, neg]

    def fit(self, x: np.ndarray, targets: np.ndarray, *, seed: int, weights: np.ndarray | None = None,
            antisymmetric: bool = False, loss: LossConfig = LossConfig()) -> LMPredictor:
        import torch

        if len(x) != len(targets) or len(x) == 0:
            raise AarError(f"need equal, non-zero numbers of inputs and targets ({len(x)} vs {len(targets)})")
        model = self._load_model(seed)
        model.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=self.lora.lr)
        y = torch.tensor(np.asarray(targets), dtype=torch.float32, device=self.device)
        w = torch.tensor(np.ones(len(x)) if weights is None else np.asarray(weights), dtype=torch.float32,
                         device=self.device)
        rng = np.random.default_rng(seed)
        steps_per_epoch = int(np.ceil(len(x) / self.lora.batch_size))
        total = self.lora.epochs * steps_per_epoch
        if self.lora.max_steps:
            total = min(total, self.lora.max_steps)
        prior = float((np.asarray(targets) > 0.5).mean())
        step = 0
        while step < total:
            order = rng.permutation(len(x))
            for start in range(0, len(x), self.lora.batch_size):
                if step >= total:
                    break
                rows = order[start : start + self.lora.batch_size]
                logit = self.label_logits(model, x[rows])
                target = loss_targets(logit, y[rows], loss, step / max(1, total), prior)
                per_item = torch.nn.functional.binary_cross_entropy_with_logits(logit, target, reduction="none")
                batch_loss = (per_item * w[rows]).sum() / w[rows].sum().clamp(min=1e-8)
                opt.zero_grad()
                batch_loss.backward()
                opt.step()
                step += 1
        model.eval()
        return LMPredictor(self, model)


class LMPredictor:
    def __init__(self, backend: CausalLMBackend, model):
        self.backend, self.model = backend, model

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(x), self.backend.lora.batch_size):
                diff = self.backend.label_logits(self.model, x[start : start + self.backend.lora.batch_size])
                out.append(torch.sigmoid(diff).cpu().numpy())
        return np.concatenate(out).astype(np.float64)
