"""Shared test helpers: real servers (PostgreSQL, `aar serve`), clients, fake LLM servers speaking the real wire
protocols, the browser, reference data and planted method sources. Test modules import from here, never from
each other."""
