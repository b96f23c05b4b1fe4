"""``code``: does this program do what the task description asks? (verifying code against its spec).

Source: CodeI/O (Li et al. 2025, "CodeI/O: Condensing Reasoning Patterns via Code Input-Output Prediction",
arXiv:2502.07316) as shipped in ``reasoning-gym`` 0.1.25 (Apache-2.0), ``reasoning_gym/data/codeio.jsonl.gz``,
vendored with its license: about 3,000 problems, each a natural-language task description and a reference
Python solution. The earlier HumanEval mutant task left the packaged teacher at chance (0.505) and its positives
were renamings of one reference solution, so clustering by alpha-equivalence labelled about 0.93 of test.

Construction, per split (problems assigned by a keyed hash, then shuffled by a keyed generator): a third of the
problems give a positive item (their description with their own code); the other two thirds give negatives in
pairs of problems (one's description with the other's code). Every description and every program appears in at
most one item, and no negative's program belongs to a description anywhere in the task, so matching items
against each other reveals nothing: only judging a description against its program does.
"""

from __future__ import annotations

from aar.fsio import sha256_json
from aar.tasks.builders.common import rng, split_of, vendored_jsonl
from aar.tasks.schema import SPLITS, Example

FILE = "codeio/codeio.jsonl.gz"
SHA256 = "1e4844f46b16a6092ee8ad763d18b8faf375c15b745f1e8766afa8a9d204ee23"


def build() -> tuple[dict[str, list[Example]], dict[str, str]]:
    problems: dict[str, str] = {}
    codes: set[str] = set()
    for row in vendored_jsonl(FILE, SHA256):
        description, code = row["task_description"].strip(), row["code_sample"].strip()
        if description and code and description not in problems and code not in codes:
            problems[description] = code
            codes.add(code)
    by_split: dict[str, list[tuple[str, str]]] = {s: [] for s in SPLITS}
    for description, code in sorted(problems.items()):
        by_split[split_of("code", sha256_json(description))].append((description, code))
    splits: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for split in SPLITS:
        rows = by_split[split]
        rng("code", f"order:{split}").shuffle(rows)
        third = len(rows) // 3
        items = [(d, c, 1) for d, c in rows[:third]]
        rest = rows[third : 3 * third]
        items += [(rest[k][0], rest[k + 1][1], 0) for k in range(0, len(rest) - 1, 2)]
        for description, code, label in items:
            inputs = {"question": description, "choice": code}
            splits[split].append(Example(id=sha256_json(inputs)[:16], group=f"problem:{sha256_json(description)[:12]}",
                                         inputs=inputs, label=label))
    source = {
        "package": "reasoning-gym",
        "version": "0.1.25 (data file vendored)",
        "file": f"aar/tasks/vendored/{FILE}",
        "sha256": SHA256,
        "license": "Apache-2.0 (reasoning-gym; CodeI/O problems)",
        "description": "task description vs its own or another problem's reference program",
    }
    return splits, source
