"""`aar methods` and `aar models`: what a user can pick from."""

from __future__ import annotations

import json

from rich.table import Table

from aar.cli.common import AsJson, console
from aar.models.defaults import DEFAULT_STRONG, DEFAULT_WEAK, STRONG_BY_TASK


def methods_list(as_json: AsJson = False) -> None:
    """List available methods and their parameters."""
    from aar.methods import available

    if as_json:
        print(json.dumps([{"name": name, "summary": cls.summary, "formats": list(cls.formats),
                           "defaults": cls.defaults} for name, cls in available().items()], indent=2))
        return
    table = Table(title="methods")
    for col in ("name", "summary", "formats", "parameters"):
        table.add_column(col)
    for name, cls in available().items():
        table.add_row(name, cls.summary, ",".join(cls.formats),
                      ", ".join(f"{k}={v}" for k, v in cls.defaults.items()))
    console.print(table)


def models_list(as_json: AsJson = False) -> None:
    """List the CPU models (packaged encoder + head) and the GPU path's spec."""
    from aar.models.base import MODELS
    from aar.models.layout import describe_model

    if as_json:
        print(json.dumps({"models": [describe_model(name) for name in MODELS], "default_weak": DEFAULT_WEAK,
                          "default_strong": DEFAULT_STRONG, "strong_by_task": STRONG_BY_TASK,
                          "gpu_path": "hf:<model id or path>[#file.gguf]"}, indent=2))
        return
    table = Table(title="models")
    for col in ("name", "encoder", "head", "role"):
        table.add_column(col)
    for name, (encoders, head) in MODELS.items():
        tasks = [t for t, m in STRONG_BY_TASK.items() if m == name]
        role = ("default weak" if name == DEFAULT_WEAK else "default strong" if name == DEFAULT_STRONG
                else f"default strong on {', '.join(tasks)}" if tasks else "")
        table.add_row(name, " + ".join(encoders), f"MLP {head.hidden}" if head.hidden else "linear", role)
    table.add_row("hf:<id or path>[#f.gguf]", "causal LM", "LoRA + label-token readout", "GPU path")
    console.print(table)
