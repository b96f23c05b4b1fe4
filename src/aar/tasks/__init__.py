"""Tasks: real datasets from registry packages, frozen splits, the reference JSONL layout."""

from aar.tasks.registry import BUILTIN, DEFAULT_TASKS, build_task, import_reference, known_tasks, load_task
from aar.tasks.schema import SPLITS, Example, TaskData

__all__ = ["BUILTIN", "DEFAULT_TASKS", "SPLITS", "Example", "TaskData", "build_task", "import_reference", "known_tasks",
           "load_task"]
