"""``math``: solution verification on grade-school word problems with exact labels.

No registry package we could verify ships GSM8K (Cobbe et al. 2021, arXiv:2110.14168) or its model
solutions, so problems are generated from templates in the GSM8K style (two to four arithmetic steps)
with a generator keyed by the installation's secret, and each problem gets one solution, correct or flawed. Flaws
mimic two error types of model-written GSM8K solutions, both carried forward to the final answer: the
wrong operation for the story (adding what was given away) and a quantity copied from the wrong place
in the question. Labels are exact because every step is computed here. Real GSM8K files in the reference JSONL
layout load with ``aar data import``.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from aar.fsio import sha256_json
from aar.tasks.builders.common import balance, rng, split_of
from aar.tasks.schema import SPLITS, Example

NAMES = ["Ava", "Liam", "Maya", "Noah", "Zoe", "Omar", "Ines", "Kai", "Lena", "Ravi", "Sofia", "Theo"]
ITEMS = ["apples", "stickers", "marbles", "cookies", "pencils", "stamps", "cards", "shells", "books"]
N_PROBLEMS = 8000  # about 5,000 survive de-duplication and length balancing
# Pure arithmetic slips ("36 * 2 = 74") are left out: no packaged encoder checks arithmetic, so they only
# add items that every model here gets at chance (measured: 0.52 for both GloVe and MiniLM).
FLAWS = ("operation", "quantity")

Step = tuple[str, str, int, int, int]  # (sentence template, op, left, right, result)
# an operand of a planned step: a number, "s<k>" (step k's value) or None (the previous step's value)
Operand = int | str | None
PlanStep = tuple[str, str, Operand, Operand]  # (sentence template, op, left, right)


def _apply(op: str, a: int, b: int) -> int:
    return {"+": a + b, "-": a - b, "*": a * b}[op]


def _problem_buy_give(r: random.Random) -> tuple[str, list[PlanStep]]:
    name, item = r.choice(NAMES), r.choice(ITEMS)
    a, packs, per, give = r.randint(5, 60), r.randint(2, 9), r.randint(3, 12), r.randint(2, 20)
    q = (f"{name} has {a} {item}. {name} buys {packs} packs with {per} {item} in each pack, then gives "
         f"{give} {item} to a friend. How many {item} does {name} have now?")
    return q, [("{name} buys {l} * {r} = {v} {item}.", "*", packs, per),
               ("Then {name} has {l} + {r} = {v} {item}.", "+", a, None),
               ("After giving some away, {name} has {l} - {r} = {v} {item}.", "-", None, give)]


def _problem_share(r: random.Random) -> tuple[str, list[PlanStep]]:
    name, item = r.choice(NAMES), r.choice(ITEMS)
    friends = r.randint(2, 8)
    each = r.randint(3, 15)
    extra = r.randint(1, 30)
    q = (f"{name} bakes enough {item} to give each of {friends} friends {each} {item} and keeps {extra} "
         f"for the family. How many {item} did {name} make?")
    return q, [("The friends get {l} * {r} = {v} {item}.", "*", friends, each),
               ("In total {name} made {l} + {r} = {v} {item}.", "+", None, extra)]


def _problem_price(r: random.Random) -> tuple[str, list[PlanStep]]:
    name = r.choice(NAMES)
    n1, p1, n2, p2 = r.randint(2, 9), r.randint(2, 15), r.randint(2, 9), r.randint(2, 15)
    paid = (n1 * p1 + n2 * p2) + r.randint(1, 40)
    q = (f"{name} buys {n1} notebooks at ${p1} each and {n2} pens at ${p2} each, and pays with ${paid}. "
         f"How much change does {name} get?")
    return q, [("The notebooks cost {l} * {r} = ${v}.", "*", n1, p1),
               ("The pens cost {l} * {r} = ${v}.", "*", n2, p2),
               ("Together they cost {l} + {r} = ${v}.", "+", "s0", "s1"),
               ("The change is {l} - {r} = ${v}.", "-", paid, None)]


def _problem_speed(r: random.Random) -> tuple[str, list[PlanStep]]:
    name = r.choice(NAMES)
    speed, hours, back = r.randint(20, 70), r.randint(2, 6), r.randint(5, 40)
    q = (f"{name} drives at {speed} miles per hour for {hours} hours, then drives {back} miles back "
         f"toward home. How far from home is {name} now?")
    return q, [("{name} drives {l} * {r} = {v} miles.", "*", speed, hours),
               ("After driving back, {name} is {l} - {r} = {v} miles from home.", "-", None, back)]


TEMPLATES: list[Callable[[random.Random], tuple[str, list[PlanStep]]]] = [
    _problem_buy_give, _problem_share, _problem_price, _problem_speed,
]


def _solve(question: str, plan, r: random.Random, flaw: str | None) -> tuple[str, int, int]:
    """Render the plan; ``flaw`` picks which error to inject in a random step and carry forward. Returns the
    text, the final answer and the smallest value of any step (a negative one is an impossible quantity)."""
    values: list[int] = []
    lines: list[str] = []
    if flaw == "operation":  # only additions and subtractions can be confused with each other in a story
        bad_step = r.choice([k for k, step in enumerate(plan) if step[1] in "+-"])
    else:
        bad_step = r.randrange(len(plan)) if flaw else -1
    name = next((n for n in NAMES if n in question), "They")
    item = next((i for i in ITEMS if i in question), "")
    for k, (sentence, op, left, right) in enumerate(plan):
        lv = values[-1] if left is None else (values[int(left[1:])] if isinstance(left, str) else left)
        rv = values[-1] if right is None else (values[int(right[1:])] if isinstance(right, str) else right)
        used_op, changed = op, False
        if k == bad_step and flaw == "operation" and op in "+-":
            changed = True
            used_op = "+" if op == "-" else "-"
            sentence = sentence.replace("{l} " + op, "{l} " + used_op)
        if k == bad_step and flaw == "quantity":
            numbers = [int(t.strip("$.,")) for t in question.split() if t.strip("$.,").isdigit()]
            others = [n for n in numbers if n not in (lv, rv)]
            if others:
                rv, changed = r.choice(others), True
        value = _apply(used_op, lv, rv)
        if k == bad_step and not changed:  # the flaw could not apply here: fall back to a slip
            value += r.choice([-1, 1]) * r.choice([1, 2, 10, r.randint(3, 9)])
        values.append(value)
        lines.append(sentence.format(name=name, item=item, l=lv, r=rv, v=value))
    lines.append(f"#### {values[-1]}")
    return "\n".join(lines), values[-1], min(values)


def build() -> tuple[dict[str, list[Example]], dict[str, str]]:
    """One solution per problem, correct or flawed by a keyed coin: two solutions of one problem, exactly one
    of them right, would let any weak signal be sharpened by comparing them."""
    r = rng("math", "generate")
    splits: dict[str, list[Example]] = {s: [] for s in SPLITS}
    seen: set[str] = set()
    for _ in range(N_PROBLEMS):
        question, plan = r.choice(TEMPLATES)(r)
        good, truth, _ = _solve(question, plan, r, None)
        bad, answer, lowest = _solve(question, plan, r, r.choice(FLAWS))
        # a flaw that makes an impossible quantity (a negative count, price or distance) is decidable on its
        # face, by anyone, without the arithmetic: 6% of flawed solutions did, and "no negative number" alone
        # read the labels at 0.56 against a 0.50 majority. Such a problem is drawn again.
        if question in seen or bad == good or lowest < 0:
            continue
        seen.add(question)
        solution, label = (good, 1) if r.random() < 0.5 else (bad, int(answer == truth))
        if solution in seen:  # the same worked solution under two questions would link them
            continue
        seen.add(solution)
        inputs = {"question": question, "choice": solution}
        group = f"problem:{sha256_json(question)[:12]}"
        splits[split_of("math", group)].append(Example(id=sha256_json(inputs)[:16], group=group, inputs=inputs,
                                                       label=label))
    # flawed solutions run longer or shorter (a swapped operation changes the digits): equal classes per length
    splits = {s: balance(rows, lambda e: len(e.inputs["choice"]), rng("math", f"balance:{s}"))
              for s, rows in splits.items()}
    source = {
        "package": "aar (generated)",
        "version": "keyed generator (installation secret)",
        "file": "aar/tasks/builders/math.py",
        "license": "MIT (generated here)",
        "description": "GSM8K-style template problems; one correct or flawed solution each",
    }
    return splits, source
