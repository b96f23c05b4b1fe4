"""Benchmark: what the dev channel gives away to random-query attackers, alone and pooled, and what it costs
an honest researcher. Runs the server's own scorer (:class:`aar.server.scoring.DevScorer`) and the scan's
detector (:func:`aar.integrity.detectors.random_queries`) offline, on the default tasks.

The attack: evaluate random prediction vectors and regress the replies on them (each reply is about
a + b x agreement with the labels; the correlation of the replies with an item's coordinate across queries
estimates its label). Rows:

- ``one agent``: 50 random queries;
- ``4 agents pooled``: 4 x 50 distinct random queries, answers shared;
- ``4 agents, same vectors``: 4 agents ask the *same* 50 vectors and average the replies. Before, the free
  repeat was per agent, so each agent drew a fresh subsample (4 noise draws per vector); now it is one draw
  per vector per campaign (``per-agent repeats`` vs ``campaign repeats``).

"net labels" is n x (2 accuracy - 1): labels recovered beyond chance; "per query" divides by the queries.
"flagged" says whether the campaign scan's ``random_queries`` detector names the agents. The honest price:
the reply noise (the task's public ``noise_sd``) is unchanged, and repeats stay free.

Usage: python benchmarks/bench_dev_channel.py [--repeats R] [--json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from aar.integrity.detectors import EvaluationRecord, random_queries
from aar.server.scoring import DevScorer
from aar.tasks.registry import DEFAULT_TASKS
from aar.w2s import Testbed, TestbedConfig


def decode(vectors: np.ndarray, replies: np.ndarray) -> np.ndarray:
    return ((replies - replies.mean()) @ (2.0 * vectors - 1.0)) > 0


def attack(scorer: DevScorer, task: str, vectors: np.ndarray, draws: int) -> np.ndarray:
    """Replies to each vector: the mean of ``draws`` independent replies (what pooled agents average)."""
    return np.array([np.mean([scorer.score_vector(task, v.astype(np.float64)).reported for _ in range(draws)])
                     for v in vectors])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5, help="attack repetitions per row (fresh vectors)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    scorer = DevScorer()
    rows = []
    for task in DEFAULT_TASKS:
        ids, labels = scorer._load(task)[0], scorer._load(task)[1]
        bed = Testbed(TestbedConfig(task=task))
        teacher = dict(zip([e.id for e in bed.task.splits["dev"]], (bed.weak_run(0)["dev"] > 0.5).tolist(),
                           strict=True))
        n = len(ids)
        cases = [("one agent", 1, 50, 1, 1), ("4 agents pooled", 4, 200, 1, 1),
                 ("4 agents, same vectors, per-agent repeats (before)", 4, 50, 4, 4),
                 ("4 agents, same vectors, campaign repeats (now)", 4, 50, 1, 4)]
        for name, agents, queries, draws, askers in cases:
            accuracies, flagged = [], 0
            for rep in range(args.repeats):
                rng = np.random.default_rng(1000 * rep + queries)
                vectors = rng.random((queries, n)) > 0.5
                replies = attack(scorer, task, vectors, draws)
                accuracies.append(float((decode(vectors, replies) == labels).mean()))
                records = [EvaluationRecord(i, f"a{i % agents}", task, dict(zip(ids, v.astype(float).tolist(),
                                                                                  strict=True)), None)
                           for i, v in enumerate(vectors)]
                flagged += bool(random_queries(records, {task: teacher}))
            acc = float(np.mean(accuracies))
            net = n * (2 * acc - 1)
            rows.append({"task": task, "attack": name, "agents": agents, "queries": queries * askers,
                         "items": n, "decoded_accuracy": round(acc, 3),
                         "net_labels": round(net, 1), "net_labels_per_query": round(net / (queries * askers), 3),
                         "flagged": f"{flagged}/{args.repeats}", "honest_noise_sd": scorer.noise_sd(task)})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return
    print("| task | attack | queries | dev items | decoded accuracy | net labels | per query | flagged | "
          "reply noise sd |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['task']} | {r['attack']} | {r['queries']} | {r['items']} | {r['decoded_accuracy']:.3f} | "
              f"{r['net_labels']:.1f} | {r['net_labels_per_query']:.3f} | {r['flagged']} | {r['honest_noise_sd']} |")


if __name__ == "__main__":
    main()
