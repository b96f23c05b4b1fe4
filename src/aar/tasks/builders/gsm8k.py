"""``gsm8k``: is this model-written solution to a GSM8K problem correct? (the reference's math task family).

Source: OpenAI grade-school-math, ``example_model_solutions.jsonl`` (Cobbe et al. 2021, "Training Verifiers to
Solve Math Word Problems", arXiv:2110.14168; MIT), vendored with its license: 1,319 test questions with four
solutions each (6B and 175B models, fine-tuned and verifier-selected), labelled ``is_correct``. One solution per
question is kept, picked by a keyed generator: with all four, the most common final answer among a question's
solutions predicts correctness without judging any solution (self-consistency), a label source that has nothing
to do with weak-to-strong learning. Classes are balanced within length bands (wrong solutions run longer).
Built in for the GPU path and the transfer gauntlet; on the CPU encoders
the teacher is below the majority class (README, "Testbed").
"""

from __future__ import annotations

from aar.fsio import sha256_json
from aar.tasks.builders.common import balance, rng, split_of, vendored_jsonl
from aar.tasks.schema import SPLITS, Example

FILE = "gsm8k/example_model_solutions.jsonl.gz"
SHA256 = "4bc62db838f8418365d51c627bd66294cbdca9fb7f01519cb13f0dce8c51580b"
SOLVERS = ("6b_finetuning", "6b_verification", "175b_finetuning", "175b_verification")


def build() -> tuple[dict[str, list[Example]], dict[str, str]]:
    r = rng("gsm8k", "pick")
    splits: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for row in vendored_jsonl(FILE, SHA256):
        pick = row[r.choice(SOLVERS)]
        inputs = {"question": row["question"].strip(), "choice": pick["solution"].strip()}
        group = f"question:{sha256_json(inputs['question'])[:12]}"
        splits[split_of("gsm8k", group)].append(Example(id=sha256_json(inputs)[:16], group=group, inputs=inputs,
                                                        label=int(bool(pick["is_correct"]))))
    # wrong solutions run longer: equal classes within each 40-character length band (the prior becomes 0.5)
    splits = {s: balance(rows, lambda e: len(e.inputs["choice"]) // 40, rng("gsm8k", f"balance:{s}"))
              for s, rows in splits.items()}
    source = {
        "package": "openai/grade-school-math (vendored)",
        "version": "3101c7d5",
        "file": f"aar/tasks/vendored/{FILE}",
        "sha256": SHA256,
        "license": "MIT",
        "description": "GSM8K test question and one model-written solution; label: the solution is correct",
    }
    return splits, source
