"""Dollar cost of LLM calls. Prices are USD per million tokens (input, output, cache read, cache write) as
published by the providers; override or add with ``--price MODEL=in,out[,cache_read[,cache_write]]``.
Unknown models (a local vLLM or Ollama server) cost 0 unless priced: their cost is then reported as 0 with
``priced: false``, never silently guessed."""

from __future__ import annotations

from dataclasses import dataclass

from aar.errors import AarError


@dataclass(frozen=True)
class Price:
    input: float
    output: float
    cache_read: float
    cache_write: float


# Anthropic list prices (platform.claude.com/docs/en/about-claude/pricing, 5-minute cache writes), read
# 2026-11; check them before billing anyone, and override with --price when they change.
PRICES: dict[str, Price] = {
    "claude-fable-5-1": Price(10.0, 50.0, 0.25, 12.50),
    "claude-opus-5-5": Price(4.0, 20.0, 0.20, 5.00),
    "claude-opus-5": Price(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-5": Price(5.0, 25.0, 0.50, 6.25),
    "claude-opus-4-1": Price(15.0, 75.0, 1.50, 18.75),
    "claude-sonnet-5-5": Price(2.0, 10.0, 0.10, 2.50),
    "claude-sonnet-5": Price(2.0, 10.0, 0.20, 2.50),
    "claude-sonnet-4-5": Price(3.0, 15.0, 0.30, 3.75),
    "claude-haiku-5-5": Price(0.10, 0.50, 0.01, 0.125),
    "claude-haiku-4-5": Price(1.0, 5.0, 0.10, 1.25),
    "gpt-4o": Price(2.5, 10.0, 1.25, 2.5),
    "gpt-4o-mini": Price(0.15, 0.60, 0.075, 0.15),
    "heuristic": Price(0.0, 0.0, 0.0, 0.0),
}


def parse_price(spec: str) -> tuple[str, Price]:
    model, _, numbers = spec.partition("=")
    try:
        values = [float(x) for x in numbers.split(",")]
    except ValueError:
        values = []
    if not model or not 2 <= len(values) <= 4 or any(v < 0 for v in values):
        raise AarError(f"bad price {spec!r}; use MODEL=input,output[,cache_read[,cache_write]] in USD per million")
    values += [values[0]] * (4 - len(values))
    return model, Price(*values)


def lookup(model: str, table: dict[str, Price] | None = None) -> Price | None:
    table = table or PRICES
    if model in table:
        return table[model]
    matches = [name for name in table if model.startswith(name)]  # dated ids: claude-sonnet-4-5-20250929
    return table[max(matches, key=len)] if matches else None


def cost(model: str, input_tokens: int, output_tokens: int, cache_read: int = 0, cache_write: int = 0,
         table: dict[str, Price] | None = None) -> tuple[float, bool]:
    """(USD, priced). ``input_tokens`` excludes cached tokens (the providers report them separately)."""
    price = lookup(model, table)
    if price is None:
        return 0.0, False
    usd = (input_tokens * price.input + output_tokens * price.output + cache_read * price.cache_read
           + cache_write * price.cache_write) / 1e6
    return usd, True
