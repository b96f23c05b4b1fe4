"""The method plugin interface.

A method turns a weak teacher's soft labels on the unlabelled pool into a student. It receives a
:class:`MethodContext` built by the testbed: strong-model features of ``train_unlabel``, the teacher's
probabilities there, label-free examples, group ids, a seed and its parameters. It never receives a
true label or any evaluation split: it returns a :class:`Predictor` and the testbed applies it to dev and
test. Third-party methods register through the ``aar.methods`` entry point group or load from a file
(``path/to/method.py:ClassName``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from aar.errors import AarError
from aar.models.base import Backend, Predictor
from aar.models.heads import LossConfig
from aar.tasks.schema import Example


@dataclass
class MethodContext:
    """What a method gets, all of it about the unlabelled pool (``train_unlabel``) and none of it a label:

    - ``task``, ``format`` (``pair`` or ``choice``), ``seed`` (opaque inside verification), ``params`` (the
      method's parameters, typed by its ``defaults``);
    - ``strong_x``: the strong model's features, one row per pool item (the column layout per task is in
      ``GET /v1/tasks/{task}`` and the researchers' brief); ``strong_views``: each text's own embedding;
    - ``weak_soft``: the teacher's probability of label 1 for each pool item;
    - ``groups``: opaque group ids (equal where items share a source problem); ``unlabeled``: the items' inputs;
    - ``antisymmetric``: pair tasks, where swapping the two texts negates the input;
    - :meth:`fit` trains the student's head on targets; :meth:`rng` is a generator seeded by ``seed``.
    """

    task: str
    format: str
    seed: int
    params: dict[str, Any]
    strong_x: np.ndarray
    strong_views: dict[str, np.ndarray]
    weak_soft: np.ndarray
    groups: list[str]
    unlabeled: list[Example]
    antisymmetric: bool
    backend: Backend | None = field(repr=False, default=None)  # None inside a bundle: the child sets it

    def fit(self, targets: np.ndarray, weights: np.ndarray | None = None, loss: LossConfig = LossConfig(),
            rows: np.ndarray | None = None, seed: int | None = None) -> Predictor:
        """Train the student (head or adapter) on (a subset of) the unlabelled pool with these targets;
        ``seed`` (default: the context's) lets a method fit several students, e.g. a seed ensemble."""
        if self.backend is None:
            raise AarError("this context has no student backend to fit (a bundle's context before the child sets it)")
        x = self.strong_x if rows is None else self.strong_x[rows]
        return self.backend.fit(x, np.asarray(targets, dtype=np.float32), seed=self.seed if seed is None else seed,
                                weights=weights,
                                antisymmetric=self.antisymmetric, loss=loss)

    def rng(self) -> np.random.Generator:
        """A random generator of this context's seed (the same draws on a re-run of the same seed)."""
        return np.random.default_rng(self.seed)


__all__ = ["Method", "MethodContext", "Predictor"]


class Method(ABC):
    """Subclass, set ``name``, ``defaults`` (parameter name -> default, which fixes its type) and
    ``summary``, and implement :meth:`train`."""

    name: ClassVar[str]
    summary: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    formats: ClassVar[tuple[str, ...]] = ("pair", "choice")
    needs_vectors: ClassVar[bool] = False  # True: uses strong_x geometry, so embedding backends only
    # False: left out of `--method all` baseline tables (``recipe`` at its defaults is ``vanilla``)
    baseline: ClassVar[bool] = True

    @abstractmethod
    def train(self, ctx: MethodContext) -> Predictor: ...

    @classmethod
    def resolve_params(cls, given: dict[str, Any] | None) -> dict[str, Any]:
        """Merge given parameters over defaults, coercing strings to the default's type."""
        params = dict(cls.defaults)
        for key, value in (given or {}).items():
            if key not in cls.defaults:
                known = ", ".join(cls.defaults) or "none"
                raise AarError(f"method {cls.name!r} has no parameter {key!r} (parameters: {known})")
            params[key] = coerce(cls.name, key, value, cls.defaults[key])
        return params


def coerce(method: str, key: str, value: Any, default: Any) -> Any:
    kind = type(default)
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    try:
        if kind is bool:
            if str(value).lower() in ("1", "true", "yes"):
                return True
            if str(value).lower() in ("0", "false", "no"):
                return False
            raise ValueError
        return kind(value)
    except (TypeError, ValueError):
        raise AarError(f"method {method!r}: parameter {key!r} must be {kind.__name__}, got {value!r}") from None
