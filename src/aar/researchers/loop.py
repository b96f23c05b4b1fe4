"""The agent loop: prompt, tool calls, accounting, budgets, context resets, transcripts.

Each turn: the backend proposes tool calls, the orchestrator runs them (:mod:`aar.researchers.tools`), the
results go back. Usage (tokens, dollars, compute seconds) is recorded in the server's ledger after every
call, and the ledger's answer says whether a budget is spent; the loop then stops cleanly and records why.
When the context nears its limit the agent is asked to write its notebook, and the conversation restarts
from the notebook.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from aar.methods.registry import available
from aar.researchers.client import Ledger
from aar.researchers.llm import LLMBackend
from aar.researchers.pricing import PRICES, Price, cost
from aar.researchers.tools import TOOLS, ToolContext, call_tool
from aar.researchers.transcript import RESULT_CHARS, Transcript
from aar.results.lifecycle import AgentState, StopKind, stop_reason

RESET_NOTE = ("Your context is nearly full. Write everything you need to continue into your notebook now "
              "(notebook_write); the conversation will then restart from your notebook.")


@dataclass
class Limits:
    wall_s: float = 3600.0
    max_turns: int = 200
    context_tokens: int = 150_000
    idle_turns: int = 3  # consecutive replies without a tool call before the loop gives up


def tool_specs(tasks: list[str] | None = None, methods: list[str] | None = None) -> list[dict]:
    return [{"name": t.name, "description": t.description, "parameters": t.schema(tasks, methods)}
            for t in TOOLS.values()]


class AgentLoop:
    def __init__(self, backend: LLMBackend, ctx: ToolContext, system: str, transcript: Transcript,
                 ledger: Ledger | None = None, limits: Limits | None = None, prices: dict[str, Price] | None = None):
        self.backend, self.ctx, self.system, self.transcript = backend, ctx, system, transcript
        self.ledger, self.limits, self.prices = ledger, limits or Limits(), prices or PRICES
        self.spent_usd = 0.0
        self.exceeded: list[str] = []
        self.tool_specs = tool_specs(ctx.tasks, list(available()))
        ctx.on_compute = self._record_compute

    def _record(self, **usage) -> None:
        if self.ledger is not None:
            answer = self.ledger.record(**usage)
            self.exceeded = answer.exceeded

    def _record_compute(self, seconds: float) -> None:
        self._record(compute_s=round(seconds, 3))

    def _opening(self) -> list[dict]:
        notebook = self.ctx.notebook.read_text() if self.ctx.notebook.exists() else ""
        text = "Begin your research." if not notebook else (
            "Continue your research. Your notebook so far:\n\n" + notebook[-20_000:])
        return [{"role": "user", "content": text}]

    def run(self) -> str:
        """Run until finished, out of budget, out of time or idle; returns the stop reason."""
        started = time.monotonic()
        messages, idle, resetting = self._opening(), 0, False
        self.transcript.write("start", system=self.system, model=self.backend.model)
        if self.ledger:
            self.ledger.set_state(AgentState.RUNNING)
        reason = stop_reason(StopKind.MAX_TURNS)
        for turn in range(self.limits.max_turns):
            if time.monotonic() - started > self.limits.wall_s:
                reason = stop_reason(StopKind.WALL_TIME)
                break
            if self.exceeded:
                reason = stop_reason(StopKind.BUDGET, ", ".join(self.exceeded))
                break
            t0 = time.monotonic()
            response = self.backend.complete(self.system, messages, self.tool_specs)
            u = response.usage
            usd, priced = cost(response.model or self.backend.model, u.input_tokens, u.output_tokens,
                               u.cache_read_tokens, u.cache_write_tokens, self.prices)
            self.spent_usd += usd
            self.transcript.write("assistant", turn=turn, text=response.text, tool_calls=response.tool_calls,
                                  usage=vars(u), cost_usd=usd, priced=priced, latency_s=time.monotonic() - t0,
                                  stop_reason=response.stop_reason)
            self._record(llm_calls=1, input_tokens=u.input_tokens, output_tokens=u.output_tokens,
                         cached_tokens=u.cache_read_tokens, cost_usd=usd)
            messages.append({"role": "assistant", "content": response.text, "tool_calls": response.tool_calls})
            if not response.tool_calls:
                idle += 1
                if idle >= self.limits.idle_turns:
                    reason = stop_reason(StopKind.IDLE)
                    break
                messages.append({"role": "user", "content": "Continue with a tool call, or call finish."})
                continue
            idle = 0
            results = []
            for call in response.tool_calls:
                t1 = time.monotonic()
                content, is_error = call_tool(self.ctx, call["name"], call["arguments"])
                self.transcript.write("tool", turn=turn, name=call["name"], arguments=call["arguments"],
                                      result=content[:RESULT_CHARS], truncated=len(content) > RESULT_CHARS,
                                      is_error=is_error, seconds=time.monotonic() - t1)
                results.append({"id": call["id"], "name": call["name"], "content": content, "is_error": is_error})
            messages.append({"role": "tool", "results": results})
            if self.ctx.finished is not None:
                reason = stop_reason(StopKind.FINISHED)
                break
            context = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens + u.output_tokens
            if resetting:
                messages, resetting = self._opening(), False
                self.transcript.write("context_reset", tokens=context)
            elif context > 0.8 * self.limits.context_tokens:
                messages[-1]["note"] = RESET_NOTE  # in the same turn as the results: roles keep alternating
                resetting = True
        self.transcript.write("stop", reason=reason, cost_usd=self.spent_usd)
        if self.ledger:
            self.ledger.set_state(AgentState.STOPPED, reason)
        return reason
