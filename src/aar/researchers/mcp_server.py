"""The researcher tools as an MCP server (official ``mcp`` package, stdio transport), so Claude Code or any
MCP client can act as a researcher with an agent token. The tools are the same objects the built-in loop
uses (:data:`aar.researchers.tools.TOOLS`): same schemas, same workspace confinement and sandbox, same
server calls with the agent's token. The token and every secret stay in this process; the client only
sees tool results."""

from __future__ import annotations

import anyio

from aar.researchers.tools import TOOLS, ToolContext, call_tool


def build_server(ctx: ToolContext):
    import mcp.types as types
    from mcp.server.lowlevel import Server

    async def list_tools(_request, _params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(name=t.name, description=t.description,
                                                       input_schema=t.schema()) for t in TOOLS.values()])

    async def run_tool(_request, params: types.CallToolRequestParams) -> types.CallToolResult:
        text, is_error = await anyio.to_thread.run_sync(call_tool, ctx, params.name, dict(params.arguments or {}))
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=is_error)

    return Server("aar-researcher", on_list_tools=list_tools, on_call_tool=run_tool)


async def serve_stdio(ctx: ToolContext) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(ctx)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
