"""Local fake LLM servers speaking the real wire protocols (Anthropic Messages API, OpenAI chat completions),
replaying a scripted research session. The real SDKs talk to them over HTTP, so the whole agent loop
(backends, tools, sandbox, evaluation server, ledger) runs without network.

The script reads the tool results the agent loop sends back (as a real model would) to fill in the next
call, and records every request so the tests can check the wire format."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from tests.helpers.postgres import free_port

METHOD = '''
from aar.methods.base import Method


class Mine(Method):
    """Soft teacher labels, sharpened."""
    name = "mine"
    defaults = {"power": 2.0}

    def train(self, ctx):
        import numpy as np
        p = np.clip(ctx.weak_soft, 1e-4, 1 - 1e-4) ** ctx.params["power"]
        q = np.clip(1 - ctx.weak_soft, 1e-4, 1 - 1e-4) ** ctx.params["power"]
        return ctx.fit(p / (p + q))
'''

USAGE = {"input": 1200, "output": 300, "cache_read": 5000, "cache_write": 800}
BIG_STEP = 6  # this reply reports a nearly full context, so the loop asks for the notebook and resets


def usage(step: int) -> dict[str, int]:
    return {**USAGE, "input": 100_000} if step == BIG_STEP else USAGE


class Script:
    """The scripted researcher: each step sees the previous tool results (name -> parsed content)."""

    def __init__(self, escape: bool = True, task: str = "chat") -> None:
        self.escape = escape  # step 7 tries to leave the workspace (an integrity finding in a campaign)
        self.task = task
        self.step = 0
        self.requests: list[dict] = []
        self.results: list[dict[str, Any]] = []  # decoded tool results per request

    def next_call(self, results: dict[str, str]) -> tuple[str, dict] | None:
        self.results.append(results)
        self.step += 1
        if self.step == 1:
            return "write_file", {"path": "method.py", "content": METHOD}
        if self.step == 2:
            return "run_experiment", {"task": self.task, "method": "method.py:Mine", "seeds": [0]}
        if self.step == 3:
            path = json.loads(next(iter(results.values())))["dev_predictions_path"]
            return "evaluate", {"task": self.task, "predictions_path": path}
        if self.step == 4:
            pgr = json.loads(next(iter(results.values())))["pgr"]
            return "forum_post", {"title": "sharpened soft labels", "kind": "result", "tags": [self.task],
                                  "body": f"dev PGR {pgr} with power 2"}
        if self.step == 5:
            return "submit_method", {"task": self.task, "entry": "method.py:Mine", "files": ["method.py"]}
        if self.step == 6:
            return "notebook_write", {"content": "submitted method.py:Mine; dev PGR posted"}
        if self.step == 7:
            path = "../../etc/passwd" if self.escape else "notes/missing.txt"
            return "read_file", {"path": path}  # must come back as an error, not a crash
        if self.step == 8:
            return "finish", {"summary": "done"}
        return None


class Scripts:
    """One scripted session per researcher, told apart by the system prompt (it names the agent), for a
    fake server shared by a whole campaign."""

    def __init__(self, escape: bool = True, task: str = "chat") -> None:
        self.escape, self.task = escape, task
        self.sessions: dict[str, Script] = {}
        self._lock = threading.Lock()

    def for_system(self, system: str) -> Script:
        with self._lock:
            return self.sessions.setdefault(system, Script(self.escape, self.task))


def _script(script: Script | Scripts, system: Any) -> Script:
    if isinstance(script, Script):
        return script
    text = system if isinstance(system, str) else json.dumps(system)
    return script.for_system(text)


def _serve(app: FastAPI) -> tuple[str, uvicorn.Server]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server


def anthropic_server(scripts: Script | Scripts) -> tuple[str, uvicorn.Server]:
    app = FastAPI()

    @app.post("/v1/messages")
    async def messages(request: Request) -> dict:
        body = await request.json()
        script = _script(scripts, body.get("system"))
        script.requests.append({"headers": dict(request.headers), "body": body})
        last = body["messages"][-1]
        results = {}
        if isinstance(last["content"], list):
            results = {b["tool_use_id"]: b["content"] for b in last["content"] if b["type"] == "tool_result"}
        call = script.next_call(results)
        content = [{"type": "text", "text": f"step {script.step}"}]
        if call:
            content.append({"type": "tool_use", "id": f"toolu_{script.step:02d}", "name": call[0], "input": call[1]})
        return {"id": f"msg_{script.step}", "type": "message", "role": "assistant", "model": body["model"],
                "content": content, "stop_reason": "tool_use" if call else "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": usage(script.step)["input"], "output_tokens": USAGE["output"],
                          "cache_read_input_tokens": USAGE["cache_read"],
                          "cache_creation_input_tokens": USAGE["cache_write"]}}

    return _serve(app)


def openai_server(scripts: Script | Scripts) -> tuple[str, uvicorn.Server]:
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def completions(request: Request) -> dict:
        body = await request.json()
        script = _script(scripts, body["messages"][0]["content"] if body["messages"][0]["role"] == "system"
                         else "")
        script.requests.append({"headers": dict(request.headers), "body": body})
        results = {}
        for m in reversed(body["messages"]):
            if m["role"] != "tool":
                break
            results[m["tool_call_id"]] = m["content"]
        call = script.next_call(results)
        message: dict[str, Any] = {"role": "assistant", "content": f"step {script.step}"}
        if call:
            message["tool_calls"] = [{"id": f"call_{script.step:02d}", "type": "function",
                                      "function": {"name": call[0], "arguments": json.dumps(call[1])}}]
        return {"id": f"chatcmpl-{script.step}", "object": "chat.completion", "created": int(time.time()),
                "model": body["model"], "choices": [{"index": 0, "message": message,
                                                     "finish_reason": "tool_calls" if call else "stop"}],
                "usage": {"prompt_tokens": usage(script.step)["input"] + USAGE["cache_read"],
                          "completion_tokens": USAGE["output"],
                          "total_tokens": usage(script.step)["input"] + USAGE["cache_read"] + USAGE["output"],
                          "prompt_tokens_details": {"cached_tokens": USAGE["cache_read"]}}}

    return _serve(app)
