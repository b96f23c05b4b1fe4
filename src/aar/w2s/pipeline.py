"""The W2S testbed: weak teacher, soft labels, student via a method, ceiling, predictions.

For each seed: the weak teacher (weak encoder + head) trains on ``train_label`` and labels
``train_unlabel``; the ceiling (strong encoder + head) trains on the true ``train_unlabel`` labels; a
method trains the student from the teacher's labels. All three predict ``dev`` and ``test``; per-example
probabilities are stored in the artifact cache. Methods receive label-free inputs only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from aar.errors import AarError, NotApplicable
from aar.methods.base import Method, MethodContext
from aar.methods.registry import get_method, source_hash
from aar.models.base import Backend, get_backend
from aar.models.defaults import DEFAULT_WEAK, default_strong
from aar.models.features import TaskFeatures
from aar.stats import PairedTest, PGRSummary, paired_test, pgr_summary
from aar.tasks import load_task
from aar.w2s.cache import ArtifactCache

LAB_SPLITS = ("dev", "test")  # what a method predicts during a campaign (dev feedback, verification)
EXPERIMENT_SPLITS = ("dev",)  # an agent's experiment: test inputs are private until verification
EVAL_SPLITS = (*LAB_SPLITS, "holdout")  # trusted runs also predict the holdout, scored only by the gauntlet
TEACHERS = ("real", "shuffled")
TEACHER_SHUFFLE_OFFSET = 10_000  # the shuffle's RNG: trusted seed + this (stable, so ablations are cached)


def shuffled_teacher(seed: int, weak_soft: np.ndarray) -> np.ndarray:
    """The teacher's soft labels permuted across items: the same confidences, no relation to the inputs (the
    uninformative teacher of attribution's ``no_teacher`` ablation and of ``aar testbed check``)."""
    return np.random.default_rng(TEACHER_SHUFFLE_OFFSET + int(seed)).permutation(weak_soft)


@dataclass(frozen=True)
class TestbedConfig:
    __test__ = False  # not a pytest test class
    task: str
    weak: str = DEFAULT_WEAK
    strong: str = ""  # empty: the task's default strong model (aar.models.defaults)

    def __post_init__(self) -> None:
        if not self.strong:
            object.__setattr__(self, "strong", default_strong(self.task))


@dataclass
class RunResult:
    """Per-seed test predictions of one method, plus the matching weak and ceiling predictions."""

    method: str
    params: dict[str, Any]
    seeds: list[int]
    labels: dict[str, np.ndarray]
    groups: dict[str, np.ndarray]  # split -> source-problem id per item (cluster bootstrap)
    weak: dict[str, np.ndarray]  # split -> (seeds, items) probabilities
    ceiling: dict[str, np.ndarray]
    student: dict[str, np.ndarray]

    def with_student(self, method: str, params: dict[str, Any], student: dict[str, np.ndarray]) -> RunResult:
        """The same seeds, labels, teacher and ceiling with another method's student: a sandboxed method's
        predictions, scored and paired against the run (vanilla) whose teacher it learned from."""
        return replace(self, method=method, params=params, student=student)

    def correct(self, which: str, split: str = "test") -> np.ndarray:
        probs = getattr(self, which)[split]
        return ((probs > 0.5).astype(int) == self.labels[split][None, :]).astype(np.int8)

    def summary(self, split: str = "test") -> PGRSummary:
        return pgr_summary(self.correct("weak", split), self.correct("ceiling", split),
                           self.correct("student", split), groups=self.groups[split])

    def versus(self, baseline: RunResult, split: str = "test") -> PairedTest:
        if baseline.seeds != self.seeds:
            raise AarError("paired test needs the same seeds for both methods")
        return paired_test(self.correct("weak", split), self.correct("ceiling", split),
                           self.correct("student", split), baseline.correct("student", split),
                           groups=self.groups[split])


class Testbed:
    """One task with one weak/strong pair. Features are cached on disk; artifacts per seed too."""

    __test__ = False

    def __init__(self, config: TestbedConfig, cache: ArtifactCache | None = None):
        self.config = config
        self.task = load_task(config.task)
        self.cache = cache or ArtifactCache()
        self.weak_backend: Backend = get_backend(config.weak)
        self.strong_backend: Backend = get_backend(config.strong)
        self.weak_features: TaskFeatures = self.weak_backend.prepare(self.task)
        self.strong_features: TaskFeatures = self.strong_backend.prepare(self.task)
        self.labels = {s: np.array([e.label for e in self.task.splits[s]], dtype=np.int64)
                       for s in self.task.splits}

    def _spec(self, kind: str, seed: int, **extra: Any) -> dict:
        return {"kind": kind, "task": self.task.name, "data": self.task.content_hash,
                "config": asdict(self.config), "seed": seed, **extra}

    def weak_run(self, seed: int) -> dict[str, np.ndarray]:
        """Teacher probabilities on train_unlabel (its labels for the student), dev and test."""

        def compute() -> dict[str, np.ndarray]:
            f = self.weak_features
            head = self.weak_backend.fit(f.combined["train_label"], self.labels["train_label"].astype(np.float32),
                                         seed=seed, antisymmetric=f.antisymmetric)
            return {s: head.predict_proba(f.combined[s]) for s in ("train_unlabel", *EVAL_SPLITS)}

        return self.cache.get_or_compute(self._spec("weak", seed), compute)

    def ceiling_run(self, seed: int) -> dict[str, np.ndarray]:
        def compute() -> dict[str, np.ndarray]:
            f = self.strong_features
            head = self.strong_backend.fit(f.combined["train_unlabel"],
                                           self.labels["train_unlabel"].astype(np.float32),
                                           seed=seed, antisymmetric=f.antisymmetric)
            return {s: head.predict_proba(f.combined[s]) for s in EVAL_SPLITS}

        return self.cache.get_or_compute(self._spec("ceiling", seed), compute)

    def context(self, seed: int, params: dict[str, Any], teacher: str = "real") -> MethodContext:
        """What a method gets for ``seed``; ``teacher="shuffled"``: the teacher's labels permuted across items."""
        if teacher not in TEACHERS:
            raise AarError(f"teacher {teacher!r}: one of {', '.join(TEACHERS)}")
        f = self.strong_features
        weak_soft = self.weak_run(seed)["train_unlabel"]
        return MethodContext(
            task=self.task.name,
            format=self.task.format,
            seed=seed,
            params=params,
            strong_x=f.combined["train_unlabel"],
            strong_views=f.views.get("train_unlabel", {}),  # empty for LM backends (no vectors)
            weak_soft=shuffled_teacher(seed, weak_soft) if teacher == "shuffled" else weak_soft,
            groups=[e.group for e in self.task.splits["train_unlabel"]],
            unlabeled=[e.public() for e in self.task.splits["train_unlabel"]],
            antisymmetric=f.antisymmetric,
            backend=self.strong_backend,
        )

    def check_method(self, method: str) -> type[Method]:
        """Resolve a method and check it can run on this task and backend (clear error otherwise)."""
        cls = get_method(method)
        if cls.needs_vectors and not self.strong_backend.vectors:
            raise NotApplicable(f"method {cls.name!r} needs feature vectors; backend {self.strong_backend.id!r} "
                           f"fine-tunes an LM on prompts instead")
        if self.task.format not in cls.formats:
            raise NotApplicable(f"method {cls.name!r} supports {', '.join(cls.formats)} tasks; "
                           f"{self.task.name!r} is a {self.task.format} task")
        return cls

    def method_run(self, method: str | type[Method], seed: int, params: dict[str, Any] | None = None,
                   teacher: str = "real") -> dict[str, np.ndarray]:
        """``method``: a name or file spec, or a class already checked by :meth:`check_method`."""
        cls = method if isinstance(method, type) else self.check_method(method)
        resolved = cls.resolve_params(params)

        def compute() -> dict[str, np.ndarray]:
            predictor = cls().train(self.context(seed, resolved, teacher))
            out = {}
            for split in EVAL_SPLITS:
                x = self.strong_features.combined[split]
                probs = np.asarray(predictor.predict_proba(x), dtype=np.float64)
                if probs.shape != (len(x),) or not np.all(np.isfinite(probs)):
                    raise AarError(f"method {cls.name!r} returned {probs.shape} predictions for {split}; "
                                   f"expected {len(x)} finite probabilities")
                out[split] = np.clip(probs, 0.0, 1.0)
            return out

        spec = self._spec("student", seed, method=cls.name, params=resolved, method_code=source_hash(cls),
                          **({"teacher": teacher} if teacher != "real" else {}))  # real runs keep their old keys
        return self.cache.get_or_compute(spec, compute)

    def run(self, method: str, seeds: list[int], params: dict[str, Any] | None = None,
            teacher: str = "real") -> RunResult:
        """``teacher="shuffled"``: the student learns from the teacher's labels permuted across items (is the
        teacher what the gain comes from?); weak and ceiling are the real ones, so PGR is on the same scale."""
        if not seeds:
            raise AarError("need at least one seed")
        cls = self.check_method(method)  # resolved once: a file plugin is imported once per run
        weak = [self.weak_run(s) for s in seeds]
        ceiling = [self.ceiling_run(s) for s in seeds]
        student = [self.method_run(cls, s, params, teacher) for s in seeds]
        return RunResult(
            method=cls.name,
            params=cls.resolve_params(params),
            seeds=list(seeds),
            labels={s: self.labels[s] for s in EVAL_SPLITS},
            groups={s: np.array([e.group for e in self.task.splits[s]]) for s in EVAL_SPLITS},
            weak={s: np.stack([w[s] for w in weak]) for s in EVAL_SPLITS},
            ceiling={s: np.stack([c[s] for c in ceiling]) for s in EVAL_SPLITS},
            student={s: np.stack([m[s] for m in student]) for s in EVAL_SPLITS},
        )
