"""What a submitter may learn when a run on private inputs fails: a fixed sentence per kind of failure and,
where the method raised, the exception's type from a fixed list. Never the message, the traceback or the
output.

Why so little: at verification (and in the ablations and the transfer gauntlet) the method runs on private
test inputs. Any text it controls (an exception's message, a class it names, its stdout) can carry values it
computed from them; one deliberately failing submission once returned 400 of 400 private test features in
its error text. So the reply is built from templates here, and the only method-chosen part is the exception
type, accepted only when it is one of :data:`PUBLIC_EXCEPTION_TYPES` (about 5 bits per failed submission,
bounded by the submission budget). Experiments run on dev inputs, which are public, and keep their full
tracebacks: that is where a researcher debugs.
"""

from __future__ import annotations

import builtins
import json

# the exception types a method may be reported to have raised; anything else reads "Exception"
PUBLIC_EXCEPTION_TYPES = frozenset(
    name for name in ("ArithmeticError", "AssertionError", "AttributeError", "EOFError", "FileNotFoundError",
                      "FloatingPointError", "ImportError", "IndexError", "KeyError", "LookupError", "MemoryError",
                      "ModuleNotFoundError", "NameError", "NotImplementedError", "OSError", "OverflowError",
                      "PermissionError", "RecursionError", "RuntimeError", "StopIteration", "SyntaxError",
                      "SystemExit", "TimeoutError", "TypeError", "UnboundLocalError", "UnicodeError", "ValueError",
                      "ZeroDivisionError", "KeyboardInterrupt", "Exception", "BaseException")
    if isinstance(getattr(builtins, name, None), type)) | {"AarError", "NotApplicable"}

# kind -> the one sentence a submitter reads (no value from the run is ever formatted into it)
PUBLIC_TEXT = {
    "raised": "the method raised {type} while running on the private inputs",
    "timeout": "the method ran past the time limit",
    "not_applicable": "the method does not apply to this task or model (its supported formats or its need for "
                      "feature vectors)",
    "output": "the method's predictions were missing, malformed, oversized or unreadable",
    "exited": "the method's process ended without a result (killed by a limit, out of memory, or it exited)",
    "setup": "the submitted code could not be loaded (check the entry and the archive)",
}
WITHHELD = ("; its message, traceback and output are withheld because it ran on private inputs (run it as an "
            "experiment to see them on dev)")
KINDS = tuple(PUBLIC_TEXT)


def public_type(name: str | None) -> str:
    return name if name in PUBLIC_EXCEPTION_TYPES else "Exception"


def public_text(kind: str, exception_type: str | None = None) -> str:
    """The submitter's sentence for a failure of ``kind`` (one of :data:`KINDS`)."""
    text = PUBLIC_TEXT.get(kind, PUBLIC_TEXT["exited"]).format(type=public_type(exception_type))
    return text + (WITHHELD if kind in ("raised", "exited", "output") else "")


def child_error(exception_type: str, not_applicable: bool, text: str) -> bytes:
    """How the child writes its failure to the error channel (parsed by :func:`parse_child_error`)."""
    return json.dumps({"type": exception_type[:100], "not_applicable": not_applicable, "text": text}).encode()


def parse_child_error(raw: str) -> tuple[str | None, bool, str]:
    """(exception type, not applicable, text) from the error channel. The channel is writable by the method
    (it holds the descriptor), so nothing here is trusted: a malformed record is plain text of unknown type."""
    try:
        record = json.loads(raw)
    except ValueError:
        return None, False, raw
    if not isinstance(record, dict):
        return None, False, raw
    kind, text = record.get("type"), record.get("text")
    return (kind if isinstance(kind, str) else None, record.get("not_applicable") is True,
            text if isinstance(text, str) else raw)
