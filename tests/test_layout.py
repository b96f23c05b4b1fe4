"""The column layout the brief and ``GET /v1/tasks/{task}`` state is the layout methods really get: checked
against prepared features (real encoders, the suite's cached encodings). The layout depends on the task's
format and the strong model only, so the thinned samples of a pair task and a choice task cover the default
testbed's three configurations (chat: pair + minilm-l6; code: choice + minilm-l6; math: choice +
minilm-glove-mlp, the student that holds its teacher's columns)."""

from __future__ import annotations

import numpy as np
import pytest

from aar.models.defaults import STRONG_BY_TASK
from aar.models.layout import feature_layout, shared_encoders, task_models
from aar.w2s.pipeline import Testbed, TestbedConfig


def _block(x: np.ndarray, span: dict) -> np.ndarray:
    start, end = span["columns"]
    return x[:, start:end + 1]


@pytest.mark.parametrize("task, strong", [("chat-sample", ""), ("code-sample", ""),
                                          ("code-sample", STRONG_BY_TASK["math"])])
def test_the_stated_layout_is_the_prepared_features(task: str, strong: str) -> None:
    bed = Testbed(TestbedConfig(task=task, strong=strong))
    ctx = bed.strong_features  # what MethodContext carries as strong_x (combined) and strong_views (views)
    ctx.strong_x, ctx.strong_views = ctx.combined["train_unlabel"], ctx.views["train_unlabel"]
    layout = feature_layout(bed.task.format, bed.config.strong)
    assert ctx.strong_x.shape[1] == layout["strong_x"]["width"]
    spans = layout["strong_x"]["columns"]
    assert [s["columns"][0] for s in spans[1:]] == [s["columns"][1] + 1 for s in spans[:-1]]  # contiguous
    assert sorted(ctx.strong_views) == sorted(layout["strong_views"])
    for view, block in layout["strong_views"].items():
        assert ctx.strong_views[view].shape[1] == block["width"]
    first, second = list(layout["strong_views"])
    views = {v: ctx.strong_views[v] for v in (first, second)}
    for i, span in enumerate(spans):  # each stated block recomputed from the stated view columns
        encoder = span["what"].split(":")[0]
        view_span = next(c for c in layout["strong_views"][first]["columns"] if c["what"].startswith(encoder))
        a, b = _block(views[first], view_span), _block(views[second], view_span)
        got = _block(ctx.strong_x, span)
        if "minus" in span["what"]:
            expected = a - b if bed.task.format == "pair" else b - a
        elif "times" in span["what"]:
            expected = a * b
        else:
            expected = ((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-9))[:, None]
        assert np.allclose(got, expected, atol=1e-5), (task, i, span)
    if shared_encoders(bed.config.weak, bed.config.strong):  # math: the teacher's own columns inside the student
        note = task_models(bed.task.format, bed.config.weak, bed.config.strong)["teacher_inside_student"]
        glove = [s for s in spans if s["what"].startswith("glove-50d")]
        teacher_x = bed.weak_features.combined["train_unlabel"]
        assert np.allclose(np.concatenate([_block(ctx.strong_x, s) for s in glove], axis=1), teacher_x, atol=1e-5)
        assert f"{glove[0]['columns'][0]}-" in note and "teacher" in note
    else:
        assert task_models(bed.task.format, bed.config.weak, bed.config.strong)["teacher_inside_student"] == ""
