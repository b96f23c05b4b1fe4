"""The witness inside a sandboxed method child: Python audit hooks (PEP 578) that record what the code tried.

The sandbox (bubblewrap) already makes forbidden paths, the network and secrets unreachable; this records
the *attempts*, so an agent that tries is visible even though it failed: starting processes, compiling or
executing the text of task items (running the code it should judge), opening sensitive paths, network
calls, reading secret-looking environment variables, and reaching for the hook itself.

The record cannot be silenced quietly. Events go down a pipe the parent opened before any untrusted code
ran: what is written cannot be taken back, renamed over or truncated, and there is no file to replace.
Every line carries a MAC chained over all earlier lines, keyed with a per-run key the parent sent on
stdin; the trusted code of the child raises ``aar.checkpoint`` after each seed and ``aar.end`` last, and
only the hook writes those lines. A run whose stream lacks a valid end line, skips a sequence number or
fails a MAC was tampered with (:func:`verify_stream`): the parent treats that as a critical finding.

The hook keeps its state in closure cells and calls only C functions captured at install time, so code
that monkeypatches ``json``, ``os`` or ``posixpath`` runs none of its own code inside the hook (where it
could reach the key through frames). Reaching the hook through ``gc`` raises audit events of its own,
recorded before the call returns. Code with ctypes can still corrupt the interpreter: the sandbox is the
barrier, this is the witness.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from aar.process_env import SECRET_WORDS
from aar.sandbox.policy import python_roots

MAX_EVENTS = 200  # lines per kind; the counts stay exact
MIN_LINE = 24  # item lines shorter than this are too generic to prove anything
SENSITIVE_PATH = re.compile(
    r"(^/etc/(passwd|shadow|hosts|ssh)|^/proc/(self|\d+)/environ$|^/root(/|$)|^/home/|/\.ssh/|/\.aar(/|$)"
    r"|admin_token|\.db$|/private(/|$)|labels?\.(json|jsonl|npy|npz|csv)$|/run/secrets)")
SECRET_ENV = re.compile("(" + "|".join(SECRET_WORDS) + ")", re.IGNORECASE)
PROCESS_EVENTS = frozenset({"subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                            "os.forkpty", "pty.spawn"})
NETWORK_EVENTS = frozenset({"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.sendto",
                            "urllib.Request", "http.client.connect"})
# ways to reach the hook's function and cells from Python code
INTROSPECTION_EVENTS = frozenset({"gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.addaudithook"})
# foreign calls: a method calling libc through ctypes (system, open, connect) leaves no other Python event.
# Libraries load their shared objects so too (torch at import): a call whose first frame outside ctypes is a
# library file is not recorded (like a library opening its own files), anything else is ``native``
NATIVE_EVENTS = frozenset({"ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function",
                           "ctypes.string_at", "ctypes.wstring_at", "ctypes.addressof", "ctypes.cdata"})
CHECKPOINT, END, ENV_EVENT, ENCODE_EVENT = "aar.checkpoint", "aar.end", "aar.env", "aar.encode"
# frames between an environment read and whoever asked for it (os.getenv, Mapping.get, ...)
ENV_PLUMBING = ("<frozen os>", "<frozen _collections_abc>", os.__file__)
MAC_BYTES = 16


GENERIC_LINE = re.compile(r"^(#|import\s|from\s+\S+\s+import\s|if __name__|def main|class\s|return\s*$)")
# what does not change a program's meaning: comments (outside string literals), line continuations, every
# whitespace character; statements split at newlines and semicolons
_NOISE = re.compile(r"(\"\"\"[\s\S]*?\"\"\"|\'\'\'[\s\S]*?\'\'\'"  # triple-quoted strings, kept
                    r"|\"(?:\\.|[^\"\\\n])*\"|\'(?:\\.|[^\'\\\n])*\')"  # one-line strings, kept
                    r"|#[^\n]*|\\\n")  # comments and continuations, dropped
_BLANK = re.compile(r"[ \t\f\v\r]+")
_STATEMENTS = re.compile(r"[\n;]")


def statement_normalizer():
    """A function from source text to its set of normalized statements (comments, continuations and whitespace
    gone; split at newlines and semicolons), so a program with a comment on every line, other indentation or
    statements joined by ``;`` matches its item. Built from compiled patterns' C methods captured in a closure
    (the hook calls it: a method replacing this module's names changes nothing it runs). Renaming identifiers
    or re-wrapping expressions in new brackets still escapes this witness; the text ablation of attribution
    (hidden text: the method has no program to run) is what catches a gain that comes from running items."""
    noise, blank, statements = _NOISE.sub, _BLANK.sub, _STATEMENTS.split

    def keep_strings(match) -> str:
        return match.group(1) or ""

    def normalized(source: str) -> set[str]:
        text = noise(keep_strings, source)
        return {blank("", piece) for piece in statements(text)}

    return normalized


NORMALIZED_MIN = 16  # a normalized statement shorter than this is too generic to prove anything


@dataclass(frozen=True)
class ItemLines:
    """The distinctive lines of the task items, each mapped to every item that has it, and per item how many of
    its lines one compiled source must contain to count as executing that item."""

    owners: dict[str, tuple[int, ...]]
    needed: tuple[int, ...]


def item_lines(texts: list[str]) -> ItemLines:
    """A line is distinctive when it is long enough and not a comment or an import (``# import necessary
    packages`` turns up in library code any method imports). Running an item compiles all of its lines; a
    library compiling code from a string (mpmath defines its operators so) shares a few lines with some
    programs (``def __sub__(self, other):``, ``return self.__sub__(other)``). So a compiled source counts as
    executing an item only when it holds at least half of that item's distinctive lines (at least two when the
    item has two). Measured over all of CodeI/O against every string compiled by the built-in methods, the
    largest such share is 0.09. The rule depends on each item alone, not on which other items share a split,
    so it holds under every installation key."""
    owners: dict[str, list[int]] = {}
    per_item: list[int] = []
    normalized = statement_normalizer()
    for index, text in enumerate(dict.fromkeys(texts)):
        raw_lines = {raw.strip() for raw in text.splitlines()}
        kept = "\n".join(line for line in raw_lines if len(line) >= MIN_LINE and not GENERIC_LINE.match(line))
        distinct = {line for line in normalized(kept) if len(line) >= NORMALIZED_MIN}
        for line in distinct:
            owners.setdefault(line, []).append(index)
        per_item.append(len(distinct))
    needed = tuple(max(min(2, n), -(-n // 2)) for n in per_item)
    return ItemLines({line: tuple(items) for line, items in owners.items()}, needed)


def item_matcher(lines: ItemLines, skip=lambda filename, line: False):
    """A function of (compiled source, its file name) that returns the line completing an item's execution, or
    None. ``skip(filename, line)`` drops lines that the named library file really contains. The hook keeps the
    returned closure, so replacing this module's names later changes nothing it calls."""
    owners, needed = lines.owners, lines.needed
    normalized = statement_normalizer()

    def executed(source: str, filename: str) -> str | None:
        hits: dict[int, int] = {}
        for line in normalized(source):
            items = owners.get(line)
            if items is None or skip(filename, line):
                continue
            done = False
            for item in items:
                hits[item] = hits.get(item, 0) + 1
                done = done or hits[item] >= needed[item]
            if done:
                return line
        return None

    return executed


def mac(key: bytes, previous: str, body: str) -> str:
    return hashlib.blake2b((previous + body).encode(), key=key, digest_size=MAC_BYTES).hexdigest()


def install(fd: int, key: bytes, lines: ItemLines, allowed: tuple[str, ...],
            trusted=None, task_texts: frozenset[str] = frozenset()) -> None:
    """Register the hook; nothing that references it is returned or stored where Python code can look. The
    key lives only inside a C hash object (it cannot be read back out of it). Checkpoint and end events
    count only when raised by the code object ``trusted`` (the child's own loop); raised by anything else
    they are recorded as tampering."""
    from _json import encode_basestring_ascii as quote  # C functions only, captured now (see the module doc)

    write, getcwd, search, secret = os.write, os.getcwd, SENSITIVE_PATH.search, SECRET_ENV.search
    getframe = sys._getframe
    keyed = hashlib.blake2b(key=key, digest_size=MAC_BYTES)
    str_type, bytes_type, as_str, list_type = str, bytes, str.__str__, list
    # the interpreter and its libraries (lazy imports open files there, under /root or /home alike) are
    # never "sensitive"
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sys.path, *allowed}
    allowed = tuple(sorted(os.path.abspath(a) + os.sep for a in roots if a and os.path.isabs(a)))
    # read-only inside the sandbox, so a method cannot plant a file there: where library modules live, and
    # aar's own source (the child compiles aar modules from source: bytecode is not written in the sandbox)
    library = tuple(sorted({os.path.abspath(str(a)) + os.sep for a in (sys.prefix, sys.base_prefix,
                                                                       sys.exec_prefix, *python_roots())}))
    read_source = io.open_code  # C function captured now: a method cannot swap what the hook calls

    def in_library(filename: str, line: str) -> bool:
        """True when ``line`` (normalized) is in the library file being compiled (an import of a real module
        whose source shares a statement with an item, like ``except (TypeError, ValueError):``), not item text
        under a borrowed file name."""
        if not filename.startswith(library):
            return False
        if filename not in library_statements:  # read and normalized once per file, not once per shared line
            try:
                with read_source(filename) as f:
                    library_statements[filename] = normalize_source(f.read().decode("utf-8", "replace"))
            except OSError:
                return False
        return line in library_statements[filename]
    normalize_source = statement_normalizer()
    library_statements: dict[str, set[str]] = {}  # library files are read-only in the sandbox: safe to keep
    executed = item_matcher(lines, in_library)
    # the file of the first frame outside the ctypes package (its own plumbing raises the events); frames: 0 this,
    # 1 observe, 2 the hook, 3 whoever raised the event
    native_caller = caller_outside((os.path.dirname(os.__file__) + os.sep + "ctypes" + os.sep,), 3)
    counts: dict[str, int] = {}
    state: dict[str, Any] = {"seq": 0, "mac": "", "busy": False, "closed": False}

    def plain(value, depth: int = 0) -> str:
        """Text of an event argument without running any code the method defined (no __str__, no
        __fspath__): exact built-in types only."""
        kind = type(value)
        if kind is str_type:
            return value
        if isinstance(value, str_type):
            return as_str(value)
        if kind is bytes_type:
            return value.decode("utf-8", "replace")
        if value is None or kind is int or kind is float or kind is bool:
            return repr(value)
        if (kind is tuple or kind is list) and depth < 2:
            return " ".join([plain(v, depth + 1) for v in value[:8]])
        return "<object>"

    def emit(kind: str, detail: tuple) -> None:
        n = counts.get(kind, 0) + 1
        counts[kind] = n
        if n > MAX_EVENTS and kind not in ("checkpoint", "end"):
            return
        parts = [f'"seq":{state["seq"]}', f'"kind":{quote(kind)}']
        parts += [f"{quote(k)}:{quote(plain(v)[:300])}" for k, v in detail]
        body = "{" + ",".join(parts) + "}"
        h = keyed.copy()
        h.update((state["mac"] + body).encode())
        tag = h.hexdigest()
        state["seq"] += 1
        state["mac"] = tag
        data = (tag + " " + body + "\n").encode()
        try:
            while data:
                data = data[write(fd, data):]
        except OSError:  # the channel was closed or replaced from inside: the parent sees no end line
            state["closed"] = True

    def observe(event: str, args: tuple) -> None:
        if event == "open" and args and args[0] is not None and type(args[0]) is not int:
            path = plain(args[0])
            if not path.startswith("/"):
                path = getcwd() + "/" + path
            if search(path) and not (path + "/").startswith(allowed):
                emit("forbidden_path", (("path", path),))
        elif event in PROCESS_EVENTS:
            emit("process", (("event", event), ("args", args[:2])))
        elif event in NETWORK_EVENTS:
            emit("network", (("event", event), ("target", args[1:2] if event == "socket.connect" else args[:2])))
        elif event in INTROSPECTION_EVENTS:
            emit("introspection", (("event", event),))
        elif event in NATIVE_EVENTS:
            caller = native_caller()
            if not caller.startswith(library):
                what = args[1] if event.startswith("ctypes.dlsym") and len(args) > 1 else (args[0] if args else "")
                emit("native", (("event", event), ("caller", caller),
                                ("what", what if type(what) in (str_type, bytes_type) else "<object>")))
        elif event == "object.__setattr__" and args and args[0] is hook:
            emit("tamper", (("event", event), ("name", args[1] if len(args) > 1 else "")))
        elif event == "compile" and args and lines.owners and type(args[0]) in (str_type, bytes_type):
            source, filename = plain(args[0]), plain(args[1]) if len(args) > 1 else ""
            line = executed(source, filename)
            if line is not None:
                emit("item_execution", (("filename", filename), ("line", line)))
        elif event == ENV_EVENT and args and secret(plain(args[0])):
            reader = plain(args[1]) if len(args) > 1 else ""
            # a library reading its own settings (transformers and huggingface_hub look up HF_TOKEN_PATH and
            # OAUTH_* while a packaged encoder loads) is not the method reaching for secrets
            emit("library_env" if reader.startswith(library) else "secret_env", (("key", args[0]),
                                                                                 ("reader", reader)))
        elif event == ENCODE_EVENT and len(args) > 1 and type(args[1]) is list_type:
            foreign = [t for t in args[1] if type(t) is str_type and t not in task_texts]
            if foreign:
                emit("encode_foreign", (("encoder", args[0]), ("count", len(foreign)), ("sample", foreign[0])))
        elif event in (CHECKPOINT, END) and trusted is not None and getframe(2).f_code is not trusted:
            emit("tamper", (("event", event), ("by", "code other than the child's loop")))
        elif event == CHECKPOINT:
            emit("checkpoint", (("at", args[0] if args else ""),))
        elif event == END:
            emit("end", tuple(sorted(counts.items())))
            state["closed"] = True

    def hook(event: str, args: tuple) -> None:
        if state["busy"] or state["closed"]:
            return
        state["busy"] = True
        try:
            observe(event, args)
        finally:
            state["busy"] = False

    sys.addaudithook(hook)
    _watch_environ()


def caller_outside(plumbing: tuple[str, ...], depth: int):
    """A function that names the file of the first frame, ``depth`` frames above it, whose file does not start
    with one of ``plumbing`` (the frames of the machinery that raised an event). Built as a closure over
    ``sys._getframe`` captured now, so nothing a method replaces later changes what it calls."""
    getframe = sys._getframe

    def caller() -> str:
        frame: FrameType | None = getframe(depth)
        while frame is not None and frame.f_code.co_filename.startswith(plumbing):
            frame = frame.f_back
        return frame.f_code.co_filename if frame is not None else ""

    return caller


def _watch_environ() -> None:
    """Reads of ``os.environ`` raise an audit event naming the file that asked (past ``os`` and ``Mapping``
    plumbing); the wrapper holds no reference to the hook."""
    audit, base = sys.audit, type(os.environ)
    reader = caller_outside(ENV_PLUMBING, 2)  # frames: 0 this, 1 the wrapper's method, 2 whoever asked

    class WatchedEnviron(base):  # type: ignore[misc, valid-type]
        def __getitem__(self, key):
            audit(ENV_EVENT, key, reader())
            return super().__getitem__(key)

        def __contains__(self, key):
            audit(ENV_EVENT, key, reader())
            return super().__contains__(key)

    os.environ.__class__ = WatchedEnviron
    if hasattr(os, "environb"):  # the same variables as bytes: a second route to the same secrets

        class WatchedEnvironBytes(type(os.environb)):  # type: ignore[misc]
            def __getitem__(self, key):
                audit(ENV_EVENT, key.decode("utf-8", "replace") if isinstance(key, bytes) else key, reader())
                return super().__getitem__(key)

            def __contains__(self, key):
                audit(ENV_EVENT, key.decode("utf-8", "replace") if isinstance(key, bytes) else key, reader())
                return super().__contains__(key)

        os.environb.__class__ = WatchedEnvironBytes


@dataclass
class AuditRecord:
    """The parent's reading of one run's audit stream."""
    counts: dict[str, int] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)  # the first events, for evidence
    complete: bool = False  # a valid end line closed an unbroken, authenticated stream
    problem: str | None = None  # why the stream is not trustworthy (tampering, truncation)
    checkpoints: int = 0

    def as_json(self) -> dict:
        return {"counts": self.counts, "events": self.events, "complete": self.complete, "problem": self.problem,
                "checkpoints": self.checkpoints}


def verify_stream(data: bytes, key: bytes, overflowed: bool = False, expected_checkpoints: int | None = None,
                  keep: int = 20) -> AuditRecord:
    """Check every line's chained MAC and sequence number, and read the events. Anything after a bad line is
    ignored: the record says where the chain broke."""
    record = AuditRecord()
    counts: Counter[str] = Counter()
    previous, expected = "", 0
    for raw in data.split(b"\n"):
        if not raw:
            continue
        if record.complete:
            record.problem = "lines after the end line"
            break
        tag, _, body = raw.decode(errors="replace").partition(" ")
        try:
            row = json.loads(body)
        except ValueError:
            row = None
        if not isinstance(row, dict) or not hmac.compare_digest(tag, mac(key, previous, body)):
            record.problem = f"line {expected} fails its MAC (written by something other than the hook)"
            break
        if row.get("seq") != str(expected) and row.get("seq") != expected:
            record.problem = f"line {expected} has sequence number {row.get('seq')!r}"
            break
        previous, expected = tag, expected + 1
        kind = str(row.get("kind"))
        if kind == "end":
            record.complete = True
        elif kind == "checkpoint":
            record.checkpoints += 1
        else:
            counts[kind] += 1
            if len(record.events) < keep:
                record.events.append({k: v for k, v in row.items() if k != "seq"})
    if overflowed and record.problem is None:
        record.problem = "the audit stream exceeded its size limit"
        record.complete = False
    if record.problem is None and not record.complete:
        record.problem = "the stream ended without the hook's end line (hook silenced or the run was killed)"
    if (record.problem is None and expected_checkpoints is not None
            and record.checkpoints != expected_checkpoints):
        record.problem = (f"{record.checkpoints} checkpoints instead of {expected_checkpoints} "
                          "(hook silenced for a while)")
        record.complete = False
    record.counts = dict(counts)
    return record
