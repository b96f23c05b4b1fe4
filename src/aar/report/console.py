"""The consoles every command prints through. In a terminal Rich fits tables to the window; anywhere else (CI
logs, pipes, files) there is no window to fit, and Rich's default of 80 columns cut agent names and intervals
("r4-simpl…", "0.44 [0.33," on one line and "0.55]" on the next). There a console is as wide as
:data:`NON_TERMINAL_WIDTH`, so every table prints whole at its natural width (tables do not expand to fill)."""

from __future__ import annotations

import sys
from typing import TextIO

from rich.console import Console

NON_TERMINAL_WIDTH = 1000


def output_console(stderr: bool = False) -> Console:
    stream: TextIO = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else NON_TERMINAL_WIDTH)
