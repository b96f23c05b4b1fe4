"""What a researcher's method sees, column by column: the weak and strong model of a task and the layout of
``ctx.strong_x`` and ``ctx.strong_views``, computed from the model table, never from data.

Researchers asked for it first (issue 31): on math the student's 870 columns hold the teacher's own 101 GloVe
columns, which is why vanilla copies the teacher there, and nothing said so. The layout is the same formula
:func:`aar.models.features.combine` and :meth:`aar.models.base.EmbeddingBackend.prepare` apply, and a test
checks it against real prepared features.
"""

from __future__ import annotations

from aar.models.base import MODELS
from aar.models.heads import HeadConfig

# output width of each packaged encoder (aar.models.encoders)
ENCODER_WIDTH = {"glove-50d": 50, "minilm-l6": 384}
ENCODER_WHAT = {"glove-50d": "GloVe 6B 50-d word vectors, mean-pooled (bag of words)",
                "minilm-l6": "all-MiniLM-L6-v2 sentence embedding, mean-pooled, L2-normalised"}
VIEWS = {"pair": ("first", "second"), "choice": ("question", "choice")}


def describe_head(head: HeadConfig) -> str:
    kind = f"one hidden layer of {head.hidden} units" if head.hidden else "linear probe"
    penalty = f"L2 with C {head.c:g}" if head.c else f"weight decay {head.weight_decay:g}"
    return f"{kind}, {penalty}, Adam lr {head.lr:g}, {head.epochs} epochs"


def describe_model(name: str) -> dict:
    """A model of the CPU default (frozen encoders + a trained head), or an ``hf:`` causal LM."""
    if name.startswith("hf:"):
        return {"name": name, "kind": "causal LM fine-tuned with LoRA, read out from two label tokens",
                "encoders": [], "head": "LoRA adapter"}
    encoders, head = MODELS[name]
    return {"name": name, "kind": "frozen packaged encoders and a trained head",
            "encoders": [{"name": e, "width": ENCODER_WIDTH[e], "what": ENCODER_WHAT[e]} for e in encoders],
            "head": describe_head(head)}


def _span(start: int, width: int, what: str) -> dict:
    return {"columns": [start, start + width - 1], "what": what}


def feature_layout(fmt: str, strong: str) -> dict:
    """Column ranges (inclusive) of ``strong_x`` and of each ``strong_views`` entry for a task of format
    ``fmt`` under the strong model ``strong``."""
    if strong.startswith("hf:"):
        return {"strong_x": {"width": 1, "columns": [_span(0, 1, "row id into the model's prompt table (no "
                                                                   "feature vectors: methods that need vectors "
                                                                   "are refused on this backend)")]},
                "strong_views": {}}
    encoders = MODELS[strong][0]
    first, second = VIEWS[fmt]
    x_columns, start = [], 0
    for encoder in encoders:
        width = ENCODER_WIDTH[encoder]
        if fmt == "pair":
            parts = [(width, f"{encoder}: `{first}` minus `{second}` (swapping the two negates it)")]
        else:
            parts = [(width, f"{encoder}: `{second}` minus `{first}`"),
                     (width, f"{encoder}: `{first}` times `{second}`, elementwise"),
                     (1, f"{encoder}: cosine of `{first}` and `{second}`")]
        for part_width, what in parts:
            x_columns.append(_span(start, part_width, what))
            start += part_width
    views = {}
    for view in (first, second):
        columns, offset = [], 0
        for encoder in encoders:
            columns.append(_span(offset, ENCODER_WIDTH[encoder], f"{encoder} embedding of `{view}`"))
            offset += ENCODER_WIDTH[encoder]
        views[view] = {"width": offset, "columns": columns}
    return {"strong_x": {"width": start, "columns": x_columns}, "strong_views": views}


def shared_encoders(weak: str, strong: str) -> list[str]:
    """Encoders the teacher reads that are also inside the student's input: a student that contains its teacher
    can fit the teacher's labels by recomputing the teacher, errors included."""
    if weak.startswith("hf:") or strong.startswith("hf:"):
        return []
    return [e for e in MODELS[weak][0] if e in MODELS[strong][0]]


def task_models(fmt: str, weak: str, strong: str) -> dict:
    """Everything :func:`aar.server.api.evaluations.task_info` says about the models of one task."""
    shared = shared_encoders(weak, strong)
    layout = feature_layout(fmt, strong)
    note = ""
    if shared:
        spans = [c["columns"] for c in layout["strong_x"]["columns"] if c["what"].split(":")[0] in shared]
        note = (f"the student's input contains the teacher's own {', '.join(shared)} features (strong_x columns "
                f"{', '.join(f'{a}-{b}' for a, b in spans)}): a student can reproduce the teacher from them, "
                f"errors included")
    return {"weak": describe_model(weak), "strong": describe_model(strong), "layout": layout,
            "teacher_inside_student": note}
