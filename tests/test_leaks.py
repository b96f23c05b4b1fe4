"""Structural leak probes per built-in task: no attack that reads public inputs beats the majority class by more
than 0.02, and the probes themselves catch the leaks they are meant to catch (planted in small tasks)."""

from __future__ import annotations

import re

import pytest

from aar.tasks import build_task
from aar.tasks.leaks import MARGIN, probe_task, shared_texts
from aar.tasks.schema import SPLITS, Example, TaskData


@pytest.mark.slow  # builds five full tasks (minutes on a cold home)
@pytest.mark.parametrize("name", ["chat", "math", "code", "gsm8k", "hh-harmless"])
def test_no_structural_attack_beats_the_majority_class(name: str) -> None:
    task = build_task(name)
    results = probe_task(task)
    assert {r.probe for r in results} >= {"id_parity", "text_hash_parity", "position", "shared_text",
                                          "near_duplicate", "regenerate", "length", "group_names_input",
                                          "group_words", "id_words", "group_rank"}
    leaking = [(r.probe, round(r.accuracy, 3), round(r.majority, 3)) for r in results if r.leaks]
    assert not leaking, f"{name}: {leaking} beat the majority class by more than {MARGIN}"
    assert shared_texts(task) == 0  # no response or program is reused: no co-occurrence graph to colour
    # group strings are opaque keyed ids: equal where the source problem is shared, nothing else
    assert all(re.fullmatch(r"g:[0-9a-f]{16}", e.group) for rows in task.splits.values() for e in rows)


def _task(fmt: str, rows: dict[str, list[tuple[dict, int]]]) -> TaskData:
    splits = {s: [Example(id=f"{s}{i}", group=f"{s}{i}", inputs=inputs, label=label)
                  for i, (inputs, label) in enumerate(rows.get(s, []))] for s in SPLITS}
    return TaskData(name="planted", format=fmt, splits=splits)


def test_probes_catch_planted_leaks() -> None:
    """A task whose positives are longer and whose test programs are renamings of labelled ones: the length and
    renaming probes must fire, the others need not."""
    def item(k: int, label: int) -> tuple[dict, int]:
        body = f"def f{k}(x):\n    y = x + {k}\n" + ("    y = y * 2\n    y = y - 1\n" * label) + "    return y\n"
        return {"question": f"compute something about number {k}", "choice": body}, label

    train = [item(k, k % 2) for k in range(60)]
    renamed = [({"question": q["question"] + " again", "choice": q["choice"].replace("y", "z")}, y)
               for q, y in train[:40]]
    task = _task("choice", {"train_label": train, "train_unlabel": train[:4], "dev": train[:4], "test": renamed,
                            "holdout": train[:4]})
    by_name = {r.probe: r for r in probe_task(task)}
    assert by_name["length"].leaks and by_name["length"].accuracy == 1.0
    assert by_name["renaming"].leaks and by_name["renaming"].accuracy == 1.0
    assert not by_name["id_parity"].leaks or by_name["id_parity"].accuracy < 1.0


def test_surface_cue_probes_catch_impossible_quantities_and_step_counts() -> None:
    """Flawed solutions that show a negative quantity, or run one step longer, are decidable without reasoning:
    the negative_numbers and step_count probes must fire on such a task (math revision 1 had the first cue:
    6% of its flawed solutions, read at 0.56 against a 0.50 majority)."""
    def item(k: int, label: int, cue: str) -> tuple[dict, int]:
        steps = [f"Ann has {k} + 3 = {k + 3} apples."]
        if not label and cue == "negative":
            steps.append(f"Then she has {k} - {k + 9} = -9 apples.")
        elif cue == "negative":
            steps.append(f"Then she has {k + 3} - 2 = {k + 1} apples.")
        if not label and cue == "steps":
            steps.append("She checks again.")
        return {"question": f"Ann has {k} apples and buys 3.", "choice": "\n".join(steps)}, label

    for cue, probe in (("negative", "negative_numbers"), ("steps", "step_count")):
        rows = [item(k, k % 2, cue) for k in range(80)]
        task = _task("choice", {"train_label": rows[:40], "train_unlabel": rows[:4], "dev": rows[:4],
                                "test": rows[40:], "holdout": rows[:4]})
        found = {r.probe: r for r in probe_task(task)}[probe]
        assert found.leaks and found.accuracy == 1.0, (cue, found)


def test_shared_text_probe_copies_labels_across_pairs() -> None:
    """Pairs that reuse a response on the same side carry its label: the shared-text probe must find it."""
    good = [f"great film number {k}" for k in range(30)]
    bad = [f"awful film number {k}" for k in range(30)]

    def pair(k: int, j: int, first_good: bool) -> tuple[dict, int]:
        g, b = good[k], bad[j]
        return {"prompt": "p", "first": g if first_good else b, "second": b if first_good else g}, int(first_good)

    train = [pair(k, k, k % 2 == 0) for k in range(30)]
    test = [pair(k, (k + 1) % 30, k % 3 == 0) for k in range(30)]  # every response seen in a labelled pair
    task = _task("pair", {"train_label": train, "train_unlabel": train[:2], "dev": train[:2], "test": test,
                          "holdout": train[:2]})
    by_name = {r.probe: r for r in probe_task(task)}
    assert by_name["shared_text"].accuracy == 1.0 and by_name["shared_text"].leaks
    assert shared_texts(task) > 0


def test_group_and_id_probes_catch_label_bearing_public_fields() -> None:
    """The old chat group named the fresh movie first (``movies:<fresh>|<rotten>``), and a group or id may carry
    a label word: the group and id probes must fire on both, and on opaque groups they must not."""
    import random

    r = random.Random(0)
    words = [f"movie{k:03d}" for k in range(400)]

    def pair(k: int, first_good: bool) -> Example:
        good, bad = f"{words[k]} is a delight", f"{words[k + 1]} is a mess"
        first, second = (good, bad) if first_good else (bad, good)
        return Example(id=f"x{k}", group=f"movies:{words[k]}|{words[k + 1]}", label=int(first_good),
                       inputs={"prompt": "p", "first": first, "second": second})

    rows = {s: [pair(k, r.random() < 0.5) for k in range(i * 60, i * 60 + 60)] for i, s in enumerate(SPLITS)}
    named = {r.probe: r for r in probe_task(TaskData(name="planted", format="pair", splits=rows))}
    assert named["group_names_input"].leaks and named["group_names_input"].accuracy > 0.95

    worded = {s: [Example(id=f"{e.id}-{'yes' if e.label else 'no'}", group=f"g-{'good' if e.label else 'bad'}-{i}",
                          inputs=e.inputs, label=e.label) for i, e in enumerate(v)] for s, v in rows.items()}
    by_name = {r.probe: r for r in probe_task(TaskData(name="planted", format="pair", splits=worded))}
    assert by_name["group_words"].leaks and by_name["id_words"].leaks

    from aar.tasks.registry import opaque_groups

    hidden = opaque_groups("planted", worded)
    hidden = {s: [Example(id=f"i{k}", group=e.group, inputs=e.inputs, label=e.label) for k, e in enumerate(v)]
              for s, v in hidden.items()}
    opaque = {r.probe: r for r in probe_task(TaskData(name="planted", format="pair", splits=hidden))}
    assert not any(opaque[p].leaks for p in ("group_names_input", "group_words", "id_words", "group_rank"))
