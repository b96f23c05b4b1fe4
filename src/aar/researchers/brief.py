"""The researcher's brief: the system prompt of the built-in loop, and the ``instructions``, ``brief`` prompt
and ``aar://brief`` resource of the MCP server. One text for both, so an MCP client (Claude Code, say) starts
from what the built-in researchers are told: direction, tasks with their format and sizes, built-in
methods, the method interface with a worked example, budgets and rules.

Task descriptions come from the server (format, public split sizes, the dev reply's rule): this
process reads no task data at all."""

from __future__ import annotations

from importlib.resources import files
from string import Template

from aar.results.api import FeatureBlock, ModelInfo, TaskInfo, TaskModels
from aar.results.attribution import AttributionPolicy

FORMATS = {
    "pair": "pairs: which of two texts (`first`, `second`) is the preferred one, under a `prompt` that may be "
            "the same for every item; label 1 = `first`",
    "choice": "verification: is the proposed `choice` a correct answer to the `question`; label 1 = correct",
}


def describe_task(name: str, info: TaskInfo) -> str:
    """One line per task from the server's public description (``GET /v1/tasks/{task}``)."""
    sizes = ", ".join(f"{split} {count}" for split, count in info.public_splits.items())
    rule = info.dev_rule
    what = f" ({info.description})" if info.description else ""
    line = (f"- `{name}`: {FORMATS[info.format]}{what} ({sizes} items); a dev reply is {rule.metric} on "
            f"{rule.items_scored} of {rule.dev_items} dev items, rounded to {rule.resolution:g}, "
            f"noise sd {rule.noise_sd:g}")
    return line + "\n" + describe_models(info.models)


def _model_line(role: str, model: ModelInfo) -> str:
    encoders = " + ".join(f"{e.name} ({e.width} wide)" for e in model.encoders) or model.kind
    return f"  - {role} model `{model.name}`: {encoders}; head: {model.head}"


def _columns(block: FeatureBlock) -> str:
    return "; ".join(f"{c.columns[0]}-{c.columns[1]} {c.what}" for c in block.columns)


def describe_models(models: TaskModels) -> str:
    """The task's weak and strong model and the column layout of ``ctx.strong_x`` / ``ctx.strong_views``."""
    layout = models.layout
    lines = [_model_line("weak (teacher)", models.weak), _model_line("strong (student)", models.strong),
             f"  - `ctx.strong_x` ({layout.strong_x.width} columns): {_columns(layout.strong_x)}"]
    lines += [f"  - `ctx.strong_views[{view!r}]` ({block.width} columns): {_columns(block)}"
              for view, block in layout.strong_views.items()]
    if models.teacher_inside_student:
        lines.append(f"  - note: {models.teacher_inside_student}")
    return "\n".join(lines)


def describe_policy(policy: AttributionPolicy | None) -> str:
    """The campaign's attribution policy (``GET /v1/me``) as the brief's rules of credit."""
    if policy is None:
        return "- (the server did not say; assume the defaults: zero-shot allowed, text reading quarantined)"
    zero_shot = ("ranked, but listed apart from weak-to-strong results" if policy.allow_zero_shot
                 else "quarantined in this campaign")
    text = "allowed in this campaign" if policy.allow_text_reading else "quarantined in this campaign"
    return (f"- `zero-shot` (most of the gain survives a shuffled teacher: the strong model's own knowledge, "
            f"for example directions from sentences you wrote): {zero_shot}.\n"
            f"- `reads-text` (the gain disappears when the raw text is hidden: rules that read the inputs): {text}.\n"
            "- `researcher-knowledge` (the student beats the weak model with neither teacher nor strong features, "
            "or your code carries label tables): always quarantined.")


def render_brief(agent: str, campaign: str, direction: str, tasks: dict[str, TaskInfo], methods: list[str],
                 budgets: str, policy: AttributionPolicy | None = None) -> str:
    """``tasks``: each task's public description from the server; ``policy``: the campaign's attribution policy
    from ``GET /v1/me``."""
    template = Template(files("aar.researchers").joinpath("prompts/system.md").read_text())
    return template.substitute(agent=agent, campaign=campaign, direction=direction or "(open: choose your own)",
                               budgets=budgets, tasks="\n".join(describe_task(t, i) for t, i in tasks.items()),
                               methods=", ".join(methods), policy=describe_policy(policy))
