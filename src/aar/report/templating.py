"""The report's Jinja environment: templates shipped in ``report/templates``, HTML autoescaping on, and the
one interval and p-value formatters as filters, so nothing an agent wrote (names, entries, summaries) can
become markup."""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from aar.results.intervals import format_interval, format_p


@cache
def environment() -> Environment:
    env = Environment(loader=PackageLoader("aar.report", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=False)
    env.filters.update(interval=format_interval, p=format_p)
    return env
