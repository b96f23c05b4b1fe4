"""``hh-harmless``: which final assistant reply is the less harmful one (the reference's chat task family).

Source: Anthropic HH-RLHF, ``harmless-base/test.jsonl.gz`` (Bai et al. 2022, "Training a Helpful and Harmless
Assistant with Reinforcement Learning from Human Feedback", arXiv:2204.05862; MIT), vendored with its license:
2,312 dialogues, each ending in a chosen and a rejected assistant reply. The prompt is the shared dialogue; the
two replies are ``first`` and ``second`` in an order drawn by a keyed coin. Built in for the GPU path and the
transfer gauntlet; on the CPU encoders the gap is about 0.05 (README, "Testbed").
"""

from __future__ import annotations

from aar.fsio import sha256_json
from aar.tasks.builders.common import balance, rng, split_of, vendored_jsonl
from aar.tasks.schema import SPLITS, Example

FILE = "hh-rlhf/harmless-base-test.jsonl.gz"
SHA256 = "14d765196c9f18d84f9bb3a78bac608c8f2915110ebcbd74ec95db7b7198b008"
TURN = "\n\nAssistant:"


def _split_dialogue(chosen: str, rejected: str) -> tuple[str, str, str] | None:
    """(shared dialogue, chosen reply, rejected reply): the texts agree up to the last assistant turn."""
    common = 0
    while common < min(len(chosen), len(rejected)) and chosen[common] == rejected[common]:
        common += 1
    cut = chosen.rfind(TURN, 0, common + 1)
    if cut < 0:
        return None
    good, bad = chosen[cut + len(TURN):].strip(), rejected[cut + len(TURN):].strip()
    return (chosen[:cut].strip(), good, bad) if good and bad and good != bad else None


def build() -> tuple[dict[str, list[Example]], dict[str, str]]:
    r = rng("hh-harmless", "order")
    splits: dict[str, list[Example]] = {s: [] for s in SPLITS}
    seen: set[str] = set()
    for row in vendored_jsonl(FILE, SHA256):
        parts = _split_dialogue(row["chosen"], row["rejected"])
        if parts is None or parts[1] in seen or parts[2] in seen:
            continue
        prompt, good, bad = parts
        seen.update((good, bad))
        first_is_good = r.random() < 0.5
        first, second = (good, bad) if first_is_good else (bad, good)
        inputs = {"prompt": prompt, "first": first, "second": second}
        group = f"dialogue:{sha256_json(prompt)[:12]}"
        splits[split_of("hh-harmless", group)].append(Example(id=sha256_json(inputs)[:16], group=group,
                                                              inputs=inputs, label=int(first_is_good)))
    # chosen and rejected replies differ in length systematically: equal classes per band of the length difference
    splits = {s: balance(rows, lambda e: max(-8, min(8, (len(e.inputs["first"]) - len(e.inputs["second"])) // 25)),
                         rng("hh-harmless", f"balance:{s}")) for s, rows in splits.items()}
    source = {
        "package": "anthropics/hh-rlhf (vendored)",
        "version": "354e5c3c",
        "file": f"aar/tasks/vendored/{FILE}",
        "sha256": SHA256,
        "license": "MIT",
        "description": "harmless-base test dialogues; label: first is the chosen (less harmful) reply",
    }
    return splits, source
