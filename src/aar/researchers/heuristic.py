"""The offline heuristic researcher: a research policy behind the LLM-backend interface, no LLM.

It speaks the same tool protocol as an LLM (so the loop, tools, sandbox, server and transcripts are the
same code paths), and it works like a careful researcher with a small evaluation budget:

- **Anchor** each task: run vanilla on two seeds and evaluate it once; every later number is a gain over it.
- **Believe** in components, not configurations: a Bayesian linear model per task
  (:class:`aar.researchers.search_space.Beliefs`) over the ``recipe`` stages (soft targets, label
  selection, out-of-fold filter or relabel, auxiliary confidence loss, seed ensemble, self-training) and
  the geometry built-ins, with a prior its direction shifts and the task's published dev noise as the
  observation noise. Forum results enter as second-hand observations (noisier), so researchers share what
  they learn without copying each other's configurations.
- **Screen before spending**: a candidate is written as a method file and run as a server-side experiment
  on two seeds, which is free of dev budget. Its label-free signals must look sound (stable across seeds,
  agreeing with the teacher where the teacher is confident, not collapsed to one class), and its dev
  decisions must differ from every evaluated candidate's on at least 2% of items (checked with
  ``run_python`` in its sandbox); otherwise its score is already known within the noise.
- **Evaluate only what could win**: the value of an evaluation is the expected improvement of the best
  belief after one noisy dev reply (a knowledge-gradient criterion: the task's ``noise_sd`` shrinks what a
  reply can show), so the budget flows to the tasks and candidates where a reply is most informative;
  a task where nothing could win gets no more evaluations.
- **Submit** per task the evaluated candidate with the best mean of its observed gain and the model's
  prediction for it (one lucky dev reply is half the evidence), and **post** each new personal best.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aar.researchers.llm import LLMResponse, Usage
from aar.researchers.search_space import (
    RECIPE,
    Beliefs,
    Candidate,
    all_candidates,
    direction_prior,
    expected_improvement,
    from_params,
)
from aar.results.api import TaskInfo

CONFIG_RE = re.compile(r"config:\s*(\{.*?\})\s*$", re.S | re.M)
NOVEL_SHARE = 0.02  # dev decisions that must differ from every evaluated candidate's
MIN_VALUE = 0.005  # expected PGR improvement below which an evaluation is not worth its budget
PROPOSALS_PER_EVAL = 3  # experiments a task may screen between two evaluations before it is called exhausted
FORUM_NOISE = 1.5  # another researcher's dev result counts as an observation with this much more noise
REPEATS_ALLOWED = 3  # free repeats (the server had scored those decisions) before they count as spent
# set aside: seeds agree on fewer decisions than vanilla's seeds minus 0.1; the teacher's confident items
# answered against it more often than not (the student inverted); the class balance moved by > 0.25. A
# stricter teacher-agreement screen (0.75) rejected every code candidate: there the best method (aux_conf,
# PGR 0.98) overrides a 0.64-accurate teacher often, also where it is confident.
SCREEN = {"seed_agreement_drop": 0.1, "confident_teacher_agreement": 0.5, "balance_shift": 0.25}
ANCHOR = "vanilla"


@dataclass
class TaskState:
    name: str
    format: str
    noise_sd: float
    candidates: list[Candidate] = field(default_factory=list)
    forum: list[list] = field(default_factory=list)  # [candidate dict, gain over the poster's vanilla]
    anchor_pgr: float | None = None
    since_eval: int = 0  # experiments screened since this task's last evaluation
    exhausted: bool = False
    submitted: bool = False
    posted_best: float = -math.inf
    repeats: int = 0

    def evaluated(self) -> list[Candidate]:
        return [c for c in self.candidates if c.pgr is not None]

    def ready(self) -> list[Candidate]:
        """Screened, sound, novel and not yet evaluated."""
        return [c for c in self.candidates if c.pgr is None and c.signals and not c.screen]

    def find(self, key: str) -> Candidate | None:
        return next((c for c in self.candidates if c.key == key), None)

    def anchor(self) -> Candidate | None:
        """Vanilla's candidate (the recipe with no stage on), once it was proposed."""
        return next((c for c in self.candidates if is_anchor(c)), None)


class HeuristicResearcher:
    """``complete`` returns the next tool call; results of earlier calls arrive in ``messages``."""

    model = "heuristic"

    def __init__(self, tasks: dict[str, TaskInfo], direction: str, dev_evals: int, seed: int = 0,
                 experiment_seeds: tuple[int, ...] = (0, 1), state_path: Path | None = None):
        """``tasks``: name -> the server's public task description (its format and dev noise are used)."""
        self.rng = np.random.default_rng(seed)
        self.direction = direction
        self.tasks = [TaskState(name, info.format, float(info.dev_rule.noise_sd))
                      for name, info in tasks.items()]
        self.evals_left = dev_evals
        self.seeds = list(experiment_seeds)
        self.jitter = float(self.rng.uniform(0.1, 0.3))  # how much this researcher's taste varies its choices
        self.forum_since = 0
        self.own_posts: list[int] = []
        self.pending: dict[str, tuple[str, Any]] = {}
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
        return {"tasks": [asdict(t) for t in self.tasks], "evals_left": self.evals_left,
                "forum_since": self.forum_since, "own_posts": self.own_posts, "queue": self.queue,
                "calls": self.calls, "phase": self.phase, "finished": self.finished,
                "rng": self.rng.bit_generator.state, "jitter": self.jitter, "in_flight": self.in_flight}

    def _load(self, data: dict) -> None:
        self.tasks = [TaskState(**{**t, "candidates": [Candidate(**c) for c in t["candidates"]]})
                      for t in data["tasks"]]
        self.evals_left, self.forum_since, self.own_posts = data["evals_left"], data["forum_since"], data["own_posts"]
        self.queue = [tuple(e) for e in data["queue"]]
        if data.get("in_flight"):  # its result never arrived (we were stopped mid-call): issue it again
            self.queue.insert(0, tuple(data["in_flight"]))
        self.calls, self.phase, self.finished = data["calls"], data["phase"], data["finished"]
        self.rng.bit_generator.state = data["rng"]
        self.jitter = data["jitter"]

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
        return LLMResponse(f"Next: {name} ({kind}).", [{"id": call_id, "name": name, "arguments": args}], Usage(),
                           self.model, "tool_use")

    # --- reading results ---------------------------------------------------------------------------------
    def _absorb(self, result: dict) -> None:
        kind, payload = self.pending.pop(result["id"], ("?", None))
        if result["is_error"]:
            if kind == "experiment":
                self._candidate(payload).screen = "experiment failed"
            elif kind == "evaluate":
                cand = self._candidate(payload)
                cand.screen = "evaluation refused"
                if "budget" in result["content"]:
                    self.evals_left = 0
            return
        content = result["content"]
        if kind == "novelty":
            self._novelty(payload, content)
            return
        try:
            data = json.loads(content)
        except ValueError:
            return
        if kind == "experiment":
            self._screened(payload, data)
        elif kind == "evaluate":
            self._evaluated(payload, data)
        elif kind == "forum":
            for post in data.get("posts", []):
                self._learn(post)
            self.forum_since = data.get("next_since", self.forum_since)
        elif kind == "inherited":
            for method in data.get("methods", []):
                self._inherit(method)
        elif kind == "post" and isinstance(data.get("id"), int):
            self.own_posts.append(data["id"])
        elif kind == "submit":
            self._state(payload).submitted = True

    def _screened(self, key: list, data: dict) -> None:
        cand, state = self._candidate(key), self._state(key[0])
        cand.experiment_id, cand.predictions_path = data.get("experiment_id"), data.get("dev_predictions_path")
        cand.signals = dict(data.get("signals") or {})
        state.since_eval += 1
        if not cand.signals or not cand.predictions_path:
            cand.screen = "no signals came back"
            return
        anchor = state.anchor()
        cand.screen = screen(cand.signals, anchor.signals if anchor is not None and anchor is not cand else {})
        evaluated = {c.key: path for c in state.evaluated() if (path := c.predictions_path)}
        if not cand.screen and evaluated:
            self.queue.insert(0, ("run_python", {"code": novelty_code(cand.predictions_path, evaluated),
                                                 "timeout_s": 60}, "novelty", key))

    def _novelty(self, key: list, content: str) -> None:
        cand = self._candidate(key)
        try:
            shares = json.loads(content.strip().splitlines()[-1])
        except (ValueError, IndexError):
            return  # the check failed: judge the candidate on its signals alone
        if shares:
            nearest = min(shares, key=shares.get)
            if shares[nearest] < NOVEL_SHARE:
                cand.same_as = nearest
                cand.screen = f"repeats {nearest}: differs on {shares[nearest]:.1%} of dev decisions"

    def _evaluated(self, key: list, data: dict) -> None:
        cand, state = self._candidate(key), self._state(key[0])
        cand.pgr = data.get("pgr")
        if data.get("repeat") and state.repeats < REPEATS_ALLOWED:
            state.repeats += 1
        else:
            self.evals_left -= 1
        state.since_eval = 0
        if cand.pgr is None:
            cand.screen = "no PGR (the task has no weak-ceiling gap)"
            return
        if state.anchor_pgr is None and is_anchor(cand):
            state.anchor_pgr = cand.pgr
        if cand.source.startswith("forum:"):
            before = [c.pgr for c in state.evaluated() if c is not cand and c.pgr is not None]
            value = 1 if not before or cand.pgr >= max(before) else -1
            self.queue.insert(0, ("vote", {"post_id": int(cand.source.split(":")[1]), "value": value}, "vote", None))
        if cand.pgr > state.posted_best and not is_anchor(cand):
            state.posted_best = cand.pgr
            self.queue.append(("forum_post", self._result_post(state, cand), "post", None))

    def _learn(self, post: dict) -> None:
        """Another researcher's result: a second-hand observation, and a candidate to screen."""
        if post.get("kind") != "result" or post.get("id") in self.own_posts:
            return
        match = CONFIG_RE.search(post.get("body", ""))
        if not match:
            return
        try:
            config = json.loads(match.group(1))
            state = self._state(config["task"])
            gain = float(config["dev_pgr"]) - float(config["vanilla_dev_pgr"])
            if not math.isfinite(gain):  # a NaN or an infinity is no evidence (the server refuses them too)
                return
            cand = from_params(state.name, config["method"], dict(config.get("params", {})), f"forum:{post['id']}")
        except (ValueError, KeyError, TypeError, StopIteration):
            return
        if cand is not None:
            state.forum.append([asdict(cand), gain])

    def _inherit(self, method: dict) -> None:
        """An earlier campaign's verified method: a candidate to screen, and its verified gain over vanilla (test
        PGR, re-verified in this campaign, when it is done) as a second-hand observation."""
        try:
            state = self._state(method["task"])
        except StopIteration:
            return
        config = method_config((method.get("files") or {}).get(str(method.get("entry", "")).partition(":")[0], ""))
        if config is None:
            return
        cand = from_params(state.name, config[0], config[1], f"inherited:{method['id']}")
        pgr, vanilla = (method.get("pgr") or {}).get("mean"), (method.get("vanilla_pgr") or {}).get("mean")
        if cand is not None:
            gain = float(pgr) - float(vanilla) if pgr is not None and vanilla is not None else 0.0
            state.forum.append([asdict(cand), gain])

    # --- deciding ----------------------------------------------------------------------------------------
    def _plan(self) -> None:
        if self.phase == "start":
            self.queue += [("notebook_read", {}, "notebook", None),
                           ("inherited_methods", {}, "inherited", None),
                           ("forum_read", {"since": self.forum_since}, "forum", None)]
            self.phase = "research"
            return
        if self.evals_left > 0:
            for state in self.tasks:  # every task starts from vanilla, screened and evaluated
                if state.anchor_pgr is None and not state.exhausted and self._anchor_step(state):
                    return
            if self.calls % 9 == 0:
                self.queue.append(("forum_read", {"since": self.forum_since}, "forum", None))
            open_tasks = [t for t in self.tasks if not t.exhausted and t.anchor_pgr is not None]
            if open_tasks:
                values = {t.name: self._value(t) for t in open_tasks}
                state = max(open_tasks, key=lambda t: values[t.name][0])
                value, candidate = values[state.name]
                if value >= MIN_VALUE and candidate is not None:
                    self._research_step(state, candidate)
                    return
        self._wrap_up()

    def _anchor_step(self, state: TaskState) -> bool:
        anchor = state.anchor()
        if anchor is None:
            anchor = Candidate(state.name, RECIPE)
            state.candidates.append(anchor)
            self.queue.append(("run_experiment", {"task": state.name, "method": ANCHOR, "params": {},
                                                  "seeds": self.seeds}, "experiment", [state.name, anchor.key]))
            return True
        if anchor.signals and anchor.pgr is None and anchor.screen != "evaluation refused":
            self._evaluate(state, anchor)
            return True
        state.exhausted = True  # vanilla failed to run or to score: nothing to measure gains against
        return False

    def _beliefs(self, state: TaskState) -> Beliefs:
        beliefs = Beliefs(direction_prior(self.direction), state.noise_sd)
        for cand in state.evaluated():
            beliefs.observe(cand, cand.dev_pgr - (state.anchor_pgr or 0.0))
        for cand, gain in state.forum:
            beliefs.observe(Candidate(**cand), gain, extra_noise=FORUM_NOISE)
        return beliefs

    def _best_gain(self, state: TaskState) -> float:
        return max([0.0] + [c.dev_pgr - (state.anchor_pgr or 0.0) for c in state.evaluated()])

    def _value(self, state: TaskState) -> tuple[float, Candidate | None]:
        """The expected improvement one evaluation on this task can still bring, and the candidate to get it
        from: a ready candidate, or (while fewer than two are ready) the best one to screen next. New
        candidates are one or two changes away from an evaluated one (the anchor or a gain), as a careful
        researcher varies one factor at a time and combines what worked."""
        ready = state.ready()
        if state.since_eval >= PROPOSALS_PER_EVAL and not ready:
            state.exhausted = True
            return 0.0, None
        beliefs, best = self._beliefs(state), self._best_gain(state)
        pool = list(ready)
        if len(ready) < 2 and state.since_eval < PROPOSALS_PER_EVAL:
            tried = {c.key for c in state.candidates}
            bases = [c for c in state.evaluated() if is_anchor(c) or c.dev_pgr >= (state.anchor_pgr or 0.0)]
            pool += [c for c in all_candidates(state.name, state.format == "pair") if c.key not in tried
                     and (not c.is_recipe or any(distance(c, b) <= 2 for b in bases if b.is_recipe))]
            forum = [Candidate(**c) for c, _ in state.forum]
            pool += [c for c in forum if c.key not in tried]
        if not pool:
            state.exhausted = True
            return 0.0, None
        mean, sd = beliefs.predict(pool)
        # what one noisy reply can move the belief by (knowledge gradient): sd^2 / sqrt(sd^2 + noise^2)
        shift = sd**2 / np.sqrt(sd**2 + state.noise_sd**2)
        value = expected_improvement(mean, shift, best)
        taste = 1 + self.jitter * self.rng.standard_normal(len(pool))  # researchers differ in what they try
        cost = np.array([1 + 0.05 * c.fits() for c in pool])  # seconds matter a little: a fit is 1-2 s per seed
        pick = int(np.argmax(value * taste / cost))
        return float(value[pick]), pool[pick]

    def _research_step(self, state: TaskState, cand: Candidate) -> None:
        if cand in state.ready():
            self._evaluate(state, cand)
            return
        state.candidates.append(cand)
        if cand.is_recipe:
            self.queue += [("write_file", {"path": "candidate.py", "content": method_file(cand, "Candidate")},
                            "file", None),
                           ("run_experiment", {"task": state.name, "method": "candidate.py:Candidate",
                                               "seeds": self.seeds}, "experiment", [state.name, cand.key])]
        else:
            self.queue.append(("run_experiment", {"task": state.name, "method": cand.method, "params": cand.params(),
                                                  "seeds": self.seeds}, "experiment", [state.name, cand.key]))

    def _evaluate(self, state: TaskState, cand: Candidate) -> None:
        # by experiment: each seed scored on its own and averaged, as verification will score the submission (the
        # mean file is a seed ensemble and reads higher)
        source: dict[str, int | str | None] = ({"experiment_id": cand.experiment_id} if cand.experiment_id is not None
                                               else {"predictions_path": cand.predictions_path})
        self.queue.append(("evaluate", {"task": state.name, **source}, "evaluate", [state.name, cand.key]))

    def _choice(self, state: TaskState) -> Candidate | None:
        """The candidate to submit: the best mean of observed gain and the model's prediction for it. Never
        vanilla itself while another candidate was evaluated: verification pairs every submission with vanilla on
        the same seeds, so vanilla's own submission is p = 1 by construction and can show nothing, while it takes
        the same place in the campaign's Holm family as a candidate that tests a hypothesis. (The candidate may
        verify as a loss; submitting nothing would shrink the family, but leaves the task without a verified
        row.)"""
        evaluated = [c for c in state.evaluated() if not is_anchor(c)] or state.evaluated()
        if not evaluated:
            return None
        mean, _ = self._beliefs(state).predict(evaluated)
        anchor = state.anchor_pgr or 0.0
        scores = [0.5 * (c.dev_pgr - anchor) + 0.5 * m for c, m in zip(evaluated, mean, strict=True)]
        return evaluated[int(np.argmax(scores))]

    def _wrap_up(self) -> None:
        for state in self.tasks:
            choice = None if state.submitted else self._choice(state)
            if choice is not None:
                file_name = f"best_{state.name}.py"
                self.queue += [("write_file", {"path": file_name, "content": method_file(choice, "Best")}, "file",
                                None),
                               ("submit_method", {"task": state.name, "entry": f"{file_name}:Best",
                                                  "files": [file_name]}, "submit", state.name)]
                state.submitted = True  # one attempt per task; a refusal is in the transcript
                return
        if not self.finished:
            self.finished = True
            self.queue += [("notebook_write", {"content": self._summary(), "mode": "append"}, "note", None),
                           ("finish", {"summary": self._summary()}, "finish", None)]
            return
        self.queue.append(("finish", {"summary": "done"}, "finish", None))

    # --- writing -----------------------------------------------------------------------------------------
    def _state(self, task: str) -> TaskState:
        return next(t for t in self.tasks if t.name == task)

    def _candidate(self, key: list) -> Candidate:
        found = self._state(key[0]).find(key[1])
        assert found is not None, key
        return found

    def _result_post(self, state: TaskState, cand: Candidate) -> dict:
        config = {"task": state.name, "method": cand.method, "params": cand.params(), "dev_pgr": cand.pgr,
                  "vanilla_dev_pgr": state.anchor_pgr, "seeds": self.seeds, "signals": cand.signals}
        origin = f" (adapted from post {cand.source.split(':')[1]})" if cand.source.startswith("forum:") else ""
        body = (f"Dev PGR {cand.pgr:.2f} on {state.name} with {cand.describe()}{origin}, against vanilla's "
                f"{state.anchor_pgr:.2f} (noise sd {state.noise_sd:.2f}), seeds {self.seeds}. "
                f"Direction: {self.direction}.\n\nconfig: {json.dumps(config)}")
        return {"title": f"{state.name}: {cand.describe()} reaches dev PGR {cand.pgr:.2f}", "body": body,
                "kind": "result", "tags": [state.name, cand.method.replace("_", "-")]}

    def _summary(self) -> str:
        lines = [f"Direction: {self.direction}"]
        for t in self.tasks:
            ev = sorted(t.evaluated(), key=lambda c: -(c.pgr or 0))
            screened = [c for c in t.candidates if c.screen]
            choice = self._choice(t)
            lines.append(f"- {t.name} (noise sd {t.noise_sd:.2f}): {len(t.candidates)} screened by experiment, "
                         f"{len(ev)} evaluated, {len(screened)} set aside; vanilla dev PGR "
                         + (f"{t.anchor_pgr:.2f}" if t.anchor_pgr is not None else "?")
                         + (f"; choice {choice.describe()} (dev {choice.pgr:.2f})" if choice else ""))
            lines += [f"  - {c.describe()}: dev {c.pgr:.2f}" for c in ev[:5]]
            lines += [f"  - set aside {c.describe()}: {c.screen}" for c in screened[:5]]
        return "\n".join(lines)


def is_anchor(cand: Candidate) -> bool:
    return cand.is_recipe and not cand.components


def distance(a: Candidate, b: Candidate) -> int:
    """How many recipe stages two candidates set differently."""
    return sum(a.components.get(k) != b.components.get(k) for k in set(a.components) | set(b.components))


def screen(signals: dict[str, float], anchor: dict[str, float]) -> str:
    """Why a candidate's label-free signals rule it out ("" when they do not); ``anchor``: vanilla's."""
    floor = anchor.get("seed_agreement", 0.0) - SCREEN["seed_agreement_drop"]
    if signals.get("seed_agreement", 1.0) < floor:
        return f"unstable: seeds agree on {signals['seed_agreement']:.0%} of dev decisions (vanilla's minus > 0.1)"
    if signals.get("confident_teacher_agreement", 1.0) < SCREEN["confident_teacher_agreement"]:
        return (f"overrides the teacher where it is confident (agrees on "
                f"{signals['confident_teacher_agreement']:.0%})")
    shift = abs(signals.get("positive_rate", 0.5) - signals.get("teacher_positive_rate", 0.5))
    if shift > SCREEN["balance_shift"]:
        return f"class balance moved by {shift:.2f} from the teacher's"
    return ""


def novelty_code(new: str, evaluated: dict[str, str]) -> str:
    """A script for ``run_python``: the share of dev decisions the new predictions change, per evaluated
    candidate (the researcher's own files, read in its sandbox)."""
    return ("import json\n"
            f"new = json.load(open({new!r}))\n"
            f"paths = {evaluated!r}\n"
            "out = {}\n"
            "for key, path in paths.items():\n"
            "    old = json.load(open(path))\n"
            "    out[key] = sum((new[i] > 0.5) != (old[i] > 0.5) for i in new) / max(1, len(new))\n"
            "print(json.dumps(out))\n")


def method_config(code: str) -> tuple[str, dict] | None:
    """The built-in and parameters of a method file as :func:`method_file` writes it (an inherited heuristic
    method), read as a syntax tree, never executed; None for any other code."""
    import ast

    from aar.methods.registry import available, get_method

    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None
    base = next((node for node in tree.body if isinstance(node, ast.ImportFrom) and node.names
                 and node.names[0].asname == "_Base"), None)
    if base is None:
        return None
    method = next((name for name in available() if get_method(name).__name__ == base.names[0].name
                   and get_method(name).__module__ == base.module), None)
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "defaults" for t in node.targets):
            value = node.value
            if isinstance(value, ast.Dict) and value.keys and value.keys[-1] is None:  # {**_Base.defaults, **{...}}
                try:
                    params = ast.literal_eval(value.values[-1])
                except ValueError:
                    return None
                return (method, params) if method and isinstance(params, dict) else None
    return None


def method_file(cand: Candidate, class_name: str) -> str:
    """A self-contained method file: the recipe (or a built-in) with this candidate's parameters as defaults."""
    from aar.methods.registry import get_method

    base = get_method(ANCHOR if is_anchor(cand) else cand.method)
    params = {} if is_anchor(cand) else cand.params()
    return (f'"""{cand.describe()} on {cand.task}, written by the heuristic researcher."""\n\n'
            f"from {base.__module__} import {base.__name__} as _Base\n\n\n"
            f"class {class_name}(_Base):\n"
            f'    name = "{class_name.lower()}_{cand.method}"\n'
            f"    defaults = {{**_Base.defaults, **{params!r}}}\n")
