"""Researcher agents: the tools they call, the loops that drive LLM and heuristic researchers, and the MCP server."""
