"""The offline heuristic researcher: a real research policy behind the LLM-backend interface, no LLM.

It speaks the same tool protocol as an LLM (so the loop, tools, sandbox, server and transcripts are the
same code paths), and it decides like a small automated researcher:

- **Search space**: the built-in methods composed with their parameters (label selection via
  ``confident.keep``, soft-label temperature, auxiliary confidence loss weight and warm-up, consistency
  and elicitation via k-NN propagation and CCS).
- **Start** from its direction: keywords in the (vague) direction set a prior over method families.
- **Choose** the next family by UCB over dev PGR with that prior as a bonus (a bandit), and its parameters
  by mutating the best configuration seen so far for that family (an evolutionary step).
- **Build on others**: it reads the forum incrementally; a posted configuration that beats its own best
  is tried next, and upvoted if it helped.
- **Post** every new personal best with its numbers and configuration, and **submit** its best method per
  task for verification, as a method file written to its workspace.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aar.methods.registry import get_method
from aar.researchers.llm import LLMResponse, Usage

FAMILY_SPACE: dict[str, dict[str, tuple]] = {
    "vanilla": {},
    "soft": {"temperature": ("log", 0.25, 4.0)},
    "confident": {"keep": ("lin", 0.2, 0.9)},
    "aux_conf": {"alpha": ("lin", 0.2, 1.0), "warmup": ("lin", 0.0, 0.5)},
    "knn_consistency": {"k": ("int", 3, 40), "alpha": ("lin", 0.1, 0.9), "hard": ("bool",)},
    "ccs": {"temperature": ("log", 1.0, 8.0), "restarts": ("int", 2, 6)},
}
DIRECTION_KEYWORDS = {
    "elicit": ("ccs", "knn_consistency"), "consisten": ("knn_consistency", "ccs"), "unsupervised": ("ccs",),
    "reweight": ("confident", "aux_conf"), "weight": ("confident", "aux_conf"), "confiden": ("confident",),
    "filter": ("confident",), "noisy": ("soft", "aux_conf"), "posterior": ("soft", "aux_conf"),
    "channel": ("soft",), "distill": ("soft",), "simplic": ("knn_consistency", "confident"),
    "bias": ("aux_conf",), "ensembl": ("knn_consistency", "soft"), "geometry": ("knn_consistency",),
    "self-training": ("confident", "aux_conf"),
}
# free repeats a task may take before they count against its plan anyway (a search that keeps landing on the
# same decisions would otherwise never end)
REPEATS_PER_TASK = 3
CONFIG_RE = re.compile(r"config:\s*(\{.*?\})", re.S)


@dataclass
class Trial:
    task: str
    method: str
    params: dict[str, Any]
    pgr: float | None = None
    source: str = "own"  # or "forum:<post id>"


@dataclass
class TaskState:
    name: str
    format: str
    evals_left: int
    trials: list[Trial] = field(default_factory=list)
    submitted: bool = False
    posted_best: float = -math.inf
    repeats: int = 0  # evaluations answered free (decisions evaluated before): they spend no budget

    def best(self) -> Trial | None:
        scored = [t for t in self.trials if t.pgr is not None]
        return max(scored, key=lambda t: t.pgr) if scored else None


class HeuristicResearcher:
    """``complete`` returns the next tool calls; results of earlier calls arrive in ``messages``."""

    model = "heuristic"

    def __init__(self, tasks: dict[str, str], direction: str, dev_evals: int, seed: int = 0,
                 experiment_seeds: tuple[int, ...] = (0,), explore: float = 0.6, state_path: Path | None = None):
        self.rng = np.random.default_rng(seed)
        self.direction = direction
        per_task = max(1, dev_evals // max(1, len(tasks)))
        self.tasks = [TaskState(name, fmt, per_task) for name, fmt in tasks.items()]
        self.prior = self._prior(direction)
        self.seeds = list(experiment_seeds)
        self.explore = explore
        self.forum_since = 0
        self.forum_configs: list[tuple[int, str, Trial]] = []  # (post id, author, trial)
        self.pending: dict[str, tuple[str, Any]] = {}  # call id -> (kind, payload)
        self.queue: list[tuple[str, dict, str, Any]] = []
        self.calls = 0
        self.phase = "start"
        self.finished = False
        self.in_flight: tuple | None = None
        self.state_path = state_path
        if state_path is not None and state_path.exists():
            self._load(json.loads(state_path.read_text()))

    # --- persistence: a restarted researcher resumes its search instead of starting over ------------------
    def _dump(self) -> dict:
        def item(entry: tuple) -> list:
            name, args, kind, payload = entry
            return [name, args, kind, asdict(payload) if isinstance(payload, Trial) else payload]

        return {"tasks": [asdict(t) for t in self.tasks], "forum_since": self.forum_since,
                "forum_configs": [[pid, author, asdict(t)] for pid, author, t in self.forum_configs],
                "queue": [item(e) for e in self.queue], "calls": self.calls, "phase": self.phase,
                "finished": self.finished, "rng": self.rng.bit_generator.state,
                "in_flight": item(self.in_flight) if self.in_flight else None}

    def _load(self, data: dict) -> None:
        def payload(kind: str, value: Any) -> Any:
            return Trial(**value) if kind in ("experiment", "evaluate") and isinstance(value, dict) else value

        self.tasks = [TaskState(**{**t, "trials": [Trial(**x) for x in t["trials"]]}) for t in data["tasks"]]
        self.forum_since = data["forum_since"]
        self.forum_configs = [(pid, author, Trial(**t)) for pid, author, t in data["forum_configs"]]
        self.queue = [(n, a, k, payload(k, p)) for n, a, k, p in data["queue"]]
        if data.get("in_flight"):  # its result never arrived (we were stopped mid-call): issue it again
            n, a, k, p = data["in_flight"]
            self.queue.insert(0, (n, a, k, payload(k, p)))
        self.calls, self.phase, self.finished = data["calls"], data["phase"], data["finished"]
        self.rng.bit_generator.state = data["rng"]

    def _save(self) -> None:
        if self.state_path is not None:
            from aar.fsio import write_json_atomic

            write_json_atomic(self.state_path, self._dump())

    # --- the backend interface ---------------------------------------------------------------------------
    def complete(self, system: str, messages: list[dict], tools: list[dict]) -> LLMResponse:
        if messages and messages[-1]["role"] == "tool":
            for result in messages[-1]["results"]:
                self._absorb(result)
            if messages[-1].get("note"):  # context nearly full: save state to the notebook first
                self.queue.insert(0, ("notebook_write", {"content": self._summary(), "mode": "append"}, "note", None))
        self.in_flight = None
        if not self.queue:
            self._plan()
        name, args, kind, payload = self.queue.pop(0)
        self.calls += 1
        call_id = f"h{self.calls}"
        self.pending = {call_id: (kind, payload)}
        self.in_flight = (name, args, kind, payload)
        self._save()
        text = f"Next: {name} ({kind})."
        return LLMResponse(text, [{"id": call_id, "name": name, "arguments": args}], Usage(), self.model, "tool_use")

    # --- reading results ---------------------------------------------------------------------------------
    def _absorb(self, result: dict) -> None:
        kind, payload = self.pending.pop(result["id"], ("?", None))
        if result["is_error"]:
            if kind == "experiment":
                payload.pgr = None
                self._state(payload.task).trials.append(payload)
            if kind == "evaluate" and "budget" in result["content"]:
                for t in self.tasks:
                    t.evals_left = 0
            return
        try:
            data = json.loads(result["content"])
        except ValueError:
            return
        if kind == "experiment":
            self.queue.insert(0, ("evaluate", {"task": payload.task, "predictions_path": data["dev_predictions_path"]},
                                  "evaluate", payload))
        elif kind == "evaluate":
            payload.pgr = data.get("pgr")
            state = self._state(payload.task)
            if data.get("repeat") and state.repeats < REPEATS_PER_TASK:
                state.repeats += 1  # free: the server had scored these decisions before; try something else
            else:
                state.evals_left -= 1
            state.trials.append(payload)
            if payload.source.startswith("forum:") and payload.pgr is not None:
                own = [t.pgr for t in state.trials if t.source == "own" and t.pgr is not None]
                value = 1 if not own or payload.pgr >= max(own) else -1
                self.queue.insert(0, ("vote", {"post_id": int(payload.source.split(":")[1]), "value": value},
                                      "vote", None))
            best = state.best()
            if best is payload and payload.pgr is not None and payload.pgr > state.posted_best:
                state.posted_best = payload.pgr
                self.queue.append(("forum_post", self._result_post(payload), "post", None))
        elif kind == "forum":
            for post in data.get("posts", []):
                self._learn(post)
            self.forum_since = data.get("next_since", self.forum_since)
        elif kind == "submit":
            self._state(payload).submitted = True

    def _learn(self, post: dict) -> None:
        match = CONFIG_RE.search(post.get("body", ""))
        if not match or post.get("kind") != "result":
            return
        try:
            config = json.loads(match.group(1))
            trial = Trial(config["task"], config["method"], dict(config.get("params", {})),
                          source=f"forum:{post['id']}")
            trial.pgr = float(config["dev_pgr"])
        except (ValueError, KeyError, TypeError):
            return
        if trial.method in FAMILY_SPACE and any(t.name == trial.task for t in self.tasks):
            self.forum_configs.append((post["id"], post.get("author", "?"), trial))

    # --- deciding ----------------------------------------------------------------------------------------
    def _plan(self) -> None:
        if self.phase == "start":
            self.queue += [("notebook_read", {}, "notebook", None),
                           ("forum_read", {"since": self.forum_since}, "forum", None)]
            self.phase = "research"
            return
        open_tasks = [t for t in self.tasks if t.evals_left > 0]
        if open_tasks:
            state = min(open_tasks, key=lambda t: len(t.trials))  # round-robin over tasks
            if len(state.trials) % 3 == 2:
                self.queue.append(("forum_read", {"since": self.forum_since}, "forum", None))
            trial = self._propose(state)
            self.queue.append(("run_experiment", {"task": state.name, "method": trial.method, "params": trial.params,
                                                  "seeds": self.seeds}, "experiment", trial))
            return
        unsubmitted = [t for t in self.tasks if not t.submitted and t.best() is not None]
        if unsubmitted:
            state = unsubmitted[0]
            best = state.best()
            assert best is not None
            file_name = f"best_{state.name}.py"
            self.queue += [("write_file", {"path": file_name, "content": method_file(best, state.name)}, "file", None),
                           ("submit_method", {"task": state.name, "entry": f"{file_name}:Best", "files": [file_name]},
                            "submit", state.name)]
            state.submitted = True  # one attempt per task; a refusal is in the transcript
            return
        if not self.finished:
            self.finished = True
            self.queue += [("notebook_write", {"content": self._summary(), "mode": "append"}, "note", None),
                           ("finish", {"summary": self._summary()}, "finish", None)]
            return
        self.queue.append(("finish", {"summary": "done"}, "finish", None))

    def _prior(self, direction: str) -> dict[str, float]:
        prior = dict.fromkeys(FAMILY_SPACE, 0.0)
        text = direction.lower()
        for keyword, families in DIRECTION_KEYWORDS.items():
            if keyword in text:
                for rank, family in enumerate(families):
                    prior[family] += 1.0 / (rank + 1)
        return prior

    def _families(self, state: TaskState) -> list[str]:
        return [f for f in FAMILY_SPACE if state.format in get_method(f).formats]  # the registry says which

    def _propose(self, state: TaskState) -> Trial:
        own_best = state.best()
        better = [(pid, trial) for pid, _, trial in self.forum_configs if trial.task == state.name
                  and (own_best is None or (trial.pgr or -1) > (own_best.pgr or -1))
                  and not any(t.method == trial.method and t.params == trial.params for t in state.trials)]
        if better:
            pid, trial = max(better, key=lambda x: x[1].pgr or -1)
            return Trial(state.name, trial.method, dict(trial.params), source=f"forum:{pid}")
        family = self._choose_family(state)
        tried = [t for t in state.trials if t.method == family and t.pgr is not None]
        if not tried:
            return Trial(state.name, family, self._initial(family))
        parent = max(tried, key=lambda t: t.pgr)
        return Trial(state.name, family, self._mutate(family, parent.params))

    def _choose_family(self, state: TaskState) -> str:
        families = self._families(state)
        total = 1 + sum(1 for t in state.trials if t.method in families)
        scores = {}
        for family in families:
            results = [t.pgr for t in state.trials if t.method == family and t.pgr is not None]
            failures = sum(1 for t in state.trials if t.method == family and t.pgr is None)
            if not results and not failures:
                scores[family] = 10.0 + self.prior[family] + self.rng.random() * 1e-3  # try each once, prior first
                continue
            mean = float(np.mean(results)) if results else -1.0
            bonus = self.explore * math.sqrt(math.log(total + 1) / (len(results) + failures))
            scores[family] = mean + bonus + 0.1 * self.prior[family]
        return max(scores, key=scores.get)

    def _initial(self, family: str) -> dict[str, Any]:
        return {}  # the method's defaults: a sensible first point

    def _mutate(self, family: str, params: dict[str, Any]) -> dict[str, Any]:
        from aar.methods.registry import get_method

        defaults = get_method(family).defaults
        out = {**defaults, **params}
        for key, spec in FAMILY_SPACE[family].items():
            if self.rng.random() > 0.6:
                continue
            value = out.get(key, defaults.get(key))
            if spec[0] == "log":
                out[key] = float(np.clip(value * math.exp(self.rng.normal(0, 0.5)), spec[1], spec[2]))
            elif spec[0] == "lin":
                out[key] = float(np.clip(value + self.rng.normal(0, 0.15 * (spec[2] - spec[1])), spec[1], spec[2]))
            elif spec[0] == "int":
                out[key] = int(np.clip(round(value * math.exp(self.rng.normal(0, 0.5))), spec[1], spec[2]))
            else:
                out[key] = not value
        return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items() if k in FAMILY_SPACE[family]}

    # --- writing -----------------------------------------------------------------------------------------
    def _state(self, task: str) -> TaskState:
        return next(t for t in self.tasks if t.name == task)

    def _result_post(self, trial: Trial) -> dict:
        config = {"task": trial.task, "method": trial.method, "params": trial.params, "dev_pgr": trial.pgr,
                  "seeds": self.seeds}
        origin = f" (adapted from post {trial.source.split(':')[1]})" if trial.source.startswith("forum:") else ""
        body = (f"Dev PGR {trial.pgr:.2f} on {trial.task} with `{trial.method}`{origin}, seeds {self.seeds}. "
                f"Direction: {self.direction}.\n\nconfig: {json.dumps(config)}")
        return {"title": f"{trial.task}: {trial.method} reaches dev PGR {trial.pgr:.2f}", "body": body,
                "kind": "result", "tags": [trial.task, trial.method.replace("_", "-")]}

    def _summary(self) -> str:
        lines = [f"Direction: {self.direction}"]
        for t in self.tasks:
            best = t.best()
            lines.append(f"- {t.name}: {len(t.trials)} trials, best "
                         + (f"{best.method} {json.dumps(best.params)} dev PGR {best.pgr:.2f}" if best else "none"))
        return "\n".join(lines)


def method_file(trial: Trial, task: str) -> str:
    """A self-contained method file: the chosen built-in with the chosen parameters as its defaults."""
    base = get_method(trial.method)  # the built-in's class, from the registry
    return (f'"""Best configuration found for {task} by the heuristic researcher."""\n\n'
            f"from {base.__module__} import {base.__name__} as _Base\n\n\n"
            f"class Best(_Base):\n"
            f'    name = "best_{trial.method}_{task}"\n'
            f"    defaults = {{**_Base.defaults, **{trial.params!r}}}\n")
