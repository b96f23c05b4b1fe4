"""Structural leak probes: can a task's test labels be worked out from public inputs, without any model?

Each probe is an attack a capable researcher who reads our source would try. It may look at the inputs of every
split and at the labels of ``train_label`` (more than any method gets), learns at most an orientation or a
threshold there, and predicts the test labels. A task is leak-free when no probe beats the majority class of
test by more than :data:`MARGIN`. The probes:

- ``id_parity``, ``text_hash_parity``: the parity of a public hash (the example id, or the hash of the inputs in
  order), the way the old ``chat`` builder decided which response came first;
- ``length``: the longer response (pairs) or a length threshold on the choice (choice tasks);
- ``position``: the item's position in its split's public listing (pairing or ordering monotonicity);
- ``shared_text``: a test item's texts found in a labelled item (exact or near-duplicate after lower-casing and
  dropping everything but letters and digits), whose label is copied with its orientation;
- ``renaming``: for code, programs equal up to renaming their identifiers (alpha-equivalence), likewise;
- ``group_names_input``: the public group string names one side (the old chat group ``movies:<fresh>|<rotten>``
  listed the fresh movie first): words of the group's first part found in one response rather than the other;
- ``group_words``, ``id_words``: a linear classifier on the character n-grams of the group string (or the id),
  fitted on train_label: any label-bearing pattern in these public fields;
- ``group_rank``: an item's rank among its group's items in the split's public listing (ordering within groups);
- ``regenerate``: the task rebuilt from our source with another installation key (an attacker with the source
  and the data but not our secret); a test item whose inputs reappear takes the rebuilt label.

A probe leaks when it beats the majority class by more than :data:`MARGIN` *and* a one-sided binomial test
against the majority rate rejects at :data:`ALPHA` (about ten probes per task on a few hundred to two thousand
test items: a bare 0.02 margin would flag pure chance now and then). For a task built from real upstream data,
``regenerate`` needs that data (which carries its labels upstream): the defence there is isolation (the sandbox
masks the vendored files, packages and builders, and has no network), so the probe is reported but marked
``needs_source`` and not counted as a structural leak.
"""

from __future__ import annotations

import ast
import hashlib
import re
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from aar.paths import home_at
from aar.tasks.schema import FIELDS, SPLITS, Example, TaskData

MARGIN = 0.02
ALPHA = 0.001


@dataclass(frozen=True)
class ProbeResult:
    probe: str
    accuracy: float
    majority: float
    items: int
    needs_source: bool = False  # works only with the upstream data in hand (masked from sandboxes)

    @property
    def p_value(self) -> float:
        from scipy.stats import binomtest

        hits = round(self.accuracy * self.items)
        return float(binomtest(hits, self.items, min(self.majority, 1 - 1e-9), alternative="greater").pvalue)

    @property
    def leaks(self) -> bool:
        return not self.needs_source and self.accuracy > self.majority + MARGIN and self.p_value < ALPHA

    def as_json(self) -> dict:
        return {**asdict(self), "p": self.p_value, "leaks": self.leaks}


NEGATIVE = re.compile(r"(?<![\w.])-\d")  # a minus sign starting a number, not a subtraction ("30 - 3")


def _labels(rows: list[Example]) -> np.ndarray:
    return np.array([e.y for e in rows])


def _oriented(score_train: np.ndarray, y_train: np.ndarray, score_test: np.ndarray) -> np.ndarray:
    """Predict 1 where ``score > t``, or where it is below, with the threshold and direction that do best on
    train_label (the attacker's most generous fit)."""
    best, best_acc = (0.0, 1), -1.0
    for t in np.unique(np.quantile(score_train, np.linspace(0.02, 0.98, 49))):
        for sign in (1, -1):
            acc = float(((sign * (score_train - t) > 0).astype(int) == y_train).mean())
            if acc > best_acc:
                best, best_acc = (float(t), sign), acc
    t, sign = best
    return (sign * (score_test - t) > 0).astype(int)


def _hash_bit(text: str) -> float:
    return float(int(hashlib.sha256(text.encode()).hexdigest()[0], 16) % 2)


def _normal(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _alpha(code: str) -> str:
    """A program with every identifier renamed by first appearance: equal for alpha-equivalent programs."""
    try:
        with warnings.catch_warnings():  # item programs may hold invalid escape sequences: not our concern here
            warnings.simplefilter("ignore")
            tree = ast.parse(code)
    except (SyntaxError, ValueError):
        return _normal(code)
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        for attr in ("id", "arg", "name"):
            value = getattr(node, attr, None)
            if isinstance(value, str):
                setattr(node, attr, names.setdefault(value, f"v{len(names)}"))
    return ast.unparse(tree)


def _copy_by_key(task: TaskData, key: Callable[[Example], list[tuple[str, int]]]) -> np.ndarray:
    """Copy labels from labelled items that share a key. ``key`` gives (key, orientation) pairs: orientation -1
    means the key sits on the other side (for a pair, the label flips)."""
    known: dict[str, int] = {}
    for e in task.splits["train_label"]:
        for k, sign in key(e):
            known.setdefault(k, e.y if sign > 0 else 1 - e.y)
    majority = int(_labels(task.splits["train_label"]).mean() >= 0.5)
    out = []
    for e in task.splits["test"]:
        hits = [known[k] if sign > 0 else 1 - known[k] for k, sign in key(e) if k in known]
        out.append(int(np.mean(hits) >= 0.5) if hits else majority)
    return np.array(out)


def _text_keys(fmt: str, normalise: Callable[[str], str]) -> Callable[[Example], list[tuple[str, int]]]:
    if fmt == "pair":
        return lambda e: [(normalise(e.inputs["first"]), 1), (normalise(e.inputs["second"]), -1)]
    return lambda e: [("q" + normalise(e.inputs["question"]), 1), ("c" + normalise(e.inputs["choice"]), 1)]


def _regenerated(task: TaskData) -> np.ndarray:
    from aar.tasks.registry import BUILTIN, builder

    majority = int(_labels(task.splits["train_label"]).mean() >= 0.5)
    if task.name not in BUILTIN:
        return np.full(len(task.splits["test"]), majority)
    with tempfile.TemporaryDirectory(prefix="aar-attacker-") as tmp, home_at(Path(tmp)):
        rebuilt, _ = builder(task.name)()  # another installation: same source and data, another key
    seen = {repr(sorted(e.inputs.items())): e.y for rows in rebuilt.values() for e in rows}
    return np.array([seen.get(repr(sorted(e.inputs.items())), majority) for e in task.splits["test"]])


_PARTS = re.compile(r"[|/,;]")
_WORDS = re.compile(r"[a-z0-9]{3,}")


def _words(text: str) -> set[str]:
    return set(_WORDS.findall(text.lower()))


def _group_names_input(fmt: str) -> Callable[[Example], float]:
    """How much more the group's first part (after any ``kind:`` prefix) shares words with the first response
    than with the second, against the same for its second part (choice tasks: with the choice)."""

    def score(e: Example) -> float:
        parts = [_words(p) for p in _PARTS.split(e.group.split(":", 1)[-1])]
        if fmt != "pair":
            return float(len(parts[0] & _words(e.inputs["choice"])))
        first, second = _words(e.inputs["first"]), _words(e.inputs["second"])
        lean = [len(p & first) - len(p & second) for p in parts[:2]]
        return float(lean[0] - (lean[1] if len(lean) > 1 else 0))

    return score


def _ngram_classifier(train: list[str], y_train: np.ndarray, test: list[str]) -> np.ndarray:
    """A logistic regression on hashed character 2-4-grams of a public string, fitted on train_label."""
    from sklearn.feature_extraction.text import HashingVectorizer
    from sklearn.linear_model import LogisticRegression

    if len(set(y_train.tolist())) < 2:
        return np.full(len(test), int(y_train.mean() >= 0.5))
    vectorize = HashingVectorizer(analyzer="char_wb", ngram_range=(2, 4), n_features=2**16, alternate_sign=False)
    model = LogisticRegression(C=1.0, max_iter=500).fit(vectorize.transform(train), y_train)
    return model.predict(vectorize.transform(test)).astype(int)


def _group_rank(rows: list[Example]) -> np.ndarray:
    seen: dict[str, int] = {}
    ranks = []
    for e in rows:
        ranks.append(seen.get(e.group, 0))
        seen[e.group] = ranks[-1] + 1
    return np.array(ranks, dtype=np.float64) % 2


def probe_task(task: TaskData) -> list[ProbeResult]:
    train, test = task.splits["train_label"], task.splits["test"]
    y_train, y_test = _labels(train), _labels(test)
    majority = float(max(y_test.mean(), 1 - y_test.mean()))
    fmt = task.format
    first, second = FIELDS[fmt][-2], FIELDS[fmt][-1]

    def by_score(fn: Callable[[Example], float]) -> np.ndarray:
        """Threshold and direction of ``fn`` fitted on train_label, applied to test."""
        return _oriented(np.array([fn(e) for e in train], dtype=np.float64), y_train,
                         np.array([fn(e) for e in test], dtype=np.float64))

    def position(rows: list[Example]) -> np.ndarray:
        return np.arange(len(rows), dtype=np.float64) % 2

    preds: dict[str, np.ndarray] = {
        "id_parity": by_score(lambda e: _hash_bit(e.id)),
        "text_hash_parity": by_score(lambda e: _hash_bit(e.inputs[first] + e.inputs[second])),
        "position": _oriented(position(train), y_train, position(test)),
        "shared_text": _copy_by_key(task, _text_keys(fmt, lambda t: t)),
        "near_duplicate": _copy_by_key(task, _text_keys(fmt, _normal)),
        "regenerate": _regenerated(task),
        "group_names_input": by_score(_group_names_input(fmt)),
        "group_words": _ngram_classifier([e.group for e in train], y_train, [e.group for e in test]),
        "id_words": _ngram_classifier([e.id for e in train], y_train, [e.id for e in test]),
        "group_rank": _oriented(_group_rank(train), y_train, _group_rank(test)),
    }
    if fmt == "pair":
        def length(e: Example) -> float:
            return float(len(e.inputs["first"]) - len(e.inputs["second"]))
    else:
        def length(e: Example) -> float:
            return float(len(e.inputs["choice"]))
        preds["length_ratio"] = by_score(lambda e: len(e.inputs["choice"]) / (1 + len(e.inputs["question"])))
        preds["renaming"] = _copy_by_key(task, lambda e: [("c" + _alpha(e.inputs["choice"]), 1)])
        # surface cues of a worked solution that need no reasoning: impossible (negative) quantities, step counts
        preds["negative_numbers"] = by_score(lambda e: float(len(NEGATIVE.findall(e.inputs["choice"]))))
        preds["step_count"] = by_score(lambda e: float(e.inputs["choice"].count("\n")))
    preds["length"] = by_score(length)
    from aar.tasks.registry import BUILTIN

    real_data = task.name in BUILTIN and not task.source.get("package", "").startswith("aar (generated)")
    return [ProbeResult(name, float((p == y_test).mean()), majority, len(test),
                        needs_source=name == "regenerate" and real_data) for name, p in sorted(preds.items())]


def shared_texts(task: TaskData) -> int:
    """How many distinct response/choice texts occur in more than one item across all splits (each such text
    links items into a graph whose structure can carry labels; built-in tasks have none)."""
    fmt = task.format
    views = ("first", "second") if fmt == "pair" else ("choice",)
    counts: dict[str, int] = {}
    for split in SPLITS:
        for e in task.splits[split]:
            for v in views:
                counts[e.inputs[v]] = counts.get(e.inputs[v], 0) + 1
    return sum(1 for c in counts.values() if c > 1)
