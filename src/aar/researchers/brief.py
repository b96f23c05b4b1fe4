"""The researcher's brief: the system prompt of the built-in loop, and the ``instructions``, ``brief`` prompt
and ``aar://brief`` resource of the MCP server. One text for both, so an MCP client (Claude Code, say) starts
from what the built-in researchers are told: direction, tasks with their format and sizes, built-in
methods, the method interface with a worked example, budgets and rules.

Task sizes come from the label-free public splits only; nothing here reads a label."""

from __future__ import annotations

from importlib.resources import files
from string import Template

from aar.tasks import load_task

FORMATS = {
    "pair": "pairs: which of two responses (`first`, `second`) to a `prompt` is better; label 1 = `first`",
    "choice": "verification: is the proposed `choice` a correct answer to the `question`; label 1 = correct",
}
PUBLIC_SPLITS = ("train_label", "train_unlabel", "dev")


def describe_task(name: str) -> str:
    task = load_task(name)
    sizes = ", ".join(f"{split} {len(task.splits[split])}" for split in PUBLIC_SPLITS)
    return f"- `{name}`: {FORMATS[task.format]} ({sizes} items)"


def render_brief(agent: str, campaign: str, direction: str, tasks: list[str], methods: list[str],
                 budgets: str) -> str:
    template = Template(files("aar.researchers").joinpath("prompts/system.md").read_text())
    return template.substitute(agent=agent, campaign=campaign, direction=direction or "(open: choose your own)",
                               budgets=budgets, tasks="\n".join(describe_task(t) for t in tasks),
                               methods=", ".join(methods))
