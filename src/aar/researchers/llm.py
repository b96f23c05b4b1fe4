"""LLM backends behind one interface: Anthropic's Messages API, any OpenAI-compatible chat-completions server,
and the offline heuristic researcher (:mod:`aar.researchers.heuristic`).

The loop keeps the conversation in a neutral form and each backend translates it to its wire format:

- ``{"role": "user", "content": str}``
- ``{"role": "assistant", "content": str, "tool_calls": [{"id", "name", "arguments": dict}]}``
- ``{"role": "tool", "results": [{"id", "name", "content": str, "is_error": bool}], "note": str (optional)}``
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from aar.errors import AarError

DEFAULT_ANTHROPIC_MODEL = "claude-sonnet-5-5"


@dataclass
class Usage:
    input_tokens: int = 0  # not counting cached tokens
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0


@dataclass
class LLMResponse:
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    model: str = ""
    stop_reason: str = ""


class LLMBackend(Protocol):
    model: str

    def complete(self, system: str, messages: list[dict], tools: list[dict]) -> LLMResponse: ...


class AnthropicBackend:
    """The Messages API with tool use. The system prompt and the tool list are marked for prompt caching
    (they are identical on every turn), so long campaigns pay the cache-read price for them."""

    def __init__(self, model: str = DEFAULT_ANTHROPIC_MODEL, base_url: str | None = None, api_key: str | None = None,
                 max_tokens: int = 4096, timeout_s: float = 600.0):
        import anthropic

        self.model, self.max_tokens = model, max_tokens
        self.client = anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout_s, max_retries=4)

    @staticmethod
    def wire_messages(messages: list[dict]) -> list[dict]:
        wire = []
        for m in messages:
            if m["role"] == "user":
                wire.append({"role": "user", "content": m["content"]})
            elif m["role"] == "assistant":
                blocks = [{"type": "text", "text": m["content"]}] if m.get("content") else []
                blocks += [{"type": "tool_use", "id": c["id"], "name": c["name"], "input": c["arguments"]}
                           for c in m.get("tool_calls", [])]
                wire.append({"role": "assistant", "content": blocks or [{"type": "text", "text": "(no text)"}]})
            else:
                blocks = [{"type": "tool_result", "tool_use_id": r["id"], "content": r["content"],
                           "is_error": r["is_error"]} for r in m["results"]]
                if m.get("note"):
                    blocks.append({"type": "text", "text": m["note"]})
                wire.append({"role": "user", "content": blocks})
        return wire

    def complete(self, system: str, messages: list[dict], tools: list[dict]) -> LLMResponse:
        wire_tools = [{"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
                      for t in tools]
        if wire_tools:
            wire_tools[-1]["cache_control"] = {"type": "ephemeral"}
        # our wire dicts follow the Messages API's JSON; the SDK's TypedDicts only restate it
        response = self.client.messages.create(
            model=self.model, max_tokens=self.max_tokens, tools=cast(Any, wire_tools),
            messages=cast(Any, self.wire_messages(messages)),
            system=[{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}])
        text = "".join(b.text for b in response.content if b.type == "text")
        calls = [{"id": b.id, "name": b.name, "arguments": dict(b.input or {})} for b in response.content
                 if b.type == "tool_use"]
        u = response.usage
        usage = Usage(u.input_tokens, u.output_tokens, getattr(u, "cache_read_input_tokens", 0) or 0,
                      getattr(u, "cache_creation_input_tokens", 0) or 0)
        return LLMResponse(text, calls, usage, response.model, response.stop_reason or "")


class OpenAIBackend:
    """Chat completions with tool calls, for OpenAI or any compatible server (vLLM, Ollama, llama.cpp)."""

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None,
                 max_tokens: int = 4096, timeout_s: float = 600.0):
        import openai

        self.model, self.max_tokens = model, max_tokens
        self.client = openai.OpenAI(api_key=api_key or "not-needed", base_url=base_url, timeout=timeout_s,
                                    max_retries=4)

    @staticmethod
    def wire_messages(system: str, messages: list[dict]) -> list[dict]:
        wire: list[dict] = [{"role": "system", "content": system}]
        for m in messages:
            if m["role"] == "user":
                wire.append({"role": "user", "content": m["content"]})
            elif m["role"] == "assistant":
                entry: dict[str, Any] = {"role": "assistant", "content": m.get("content") or None}
                if m.get("tool_calls"):
                    entry["tool_calls"] = [{"id": c["id"], "type": "function", "function": {
                        "name": c["name"], "arguments": json.dumps(c["arguments"])}} for c in m["tool_calls"]]
                wire.append(entry)
            else:
                wire += [{"role": "tool", "tool_call_id": r["id"], "content": r["content"]} for r in m["results"]]
                if m.get("note"):
                    wire.append({"role": "user", "content": m["note"]})
        return wire

    def complete(self, system: str, messages: list[dict], tools: list[dict]) -> LLMResponse:
        response = self.client.chat.completions.create(
            model=self.model, max_tokens=self.max_tokens, messages=cast(Any, self.wire_messages(system, messages)),
            tools=cast(Any, [{"type": "function", "function": t} for t in tools]))
        if not response.choices:
            raise AarError("the model returned no choices")
        message = response.choices[0].message
        calls = []
        for c in message.tool_calls or []:
            if c.type != "function":  # a custom (free-text) tool call: ours are all functions
                continue
            try:
                arguments = json.loads(c.function.arguments or "{}")
            except ValueError:
                arguments = {"_unparseable": c.function.arguments}
            calls.append({"id": c.id, "name": c.function.name, "arguments": arguments})
        u = response.usage
        cached = (getattr(getattr(u, "prompt_tokens_details", None), "cached_tokens", 0) or 0) if u else 0
        usage = Usage((u.prompt_tokens - cached) if u else 0, u.completion_tokens if u else 0, cached, 0)
        return LLMResponse(message.content or "", calls, usage, response.model or self.model,
                           response.choices[0].finish_reason or "")
