"""The researcher tools as an MCP server (official ``mcp`` package, stdio transport), so Claude Code or any
MCP client can act as a researcher with an agent token. The tools are the same objects the built-in loop
uses (:data:`aar.researchers.tools.TOOLS`): same schemas (with the agent's tasks as enums), same workspace
confinement and sandbox, same server calls with the agent's token. The token and every secret stay in this
process; the client only sees tool results.

An MCP client brings its own system prompt, not ours, so the brief travels three ways: as the server's
``instructions`` (shown to the model by clients that support them), as the ``brief`` prompt and as the
``aar://brief`` resource; the ``status`` tool answers with the budgets left at any time."""

from __future__ import annotations

import anyio

from aar.researchers.tools import TOOLS, ToolContext, call_tool

BRIEF_URI = "aar://brief"


def build_server(ctx: ToolContext, brief: str, methods: list[str]):
    import mcp.types as types
    from mcp.server.lowlevel import Server

    async def list_tools(_request, _params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(name=t.name, description=t.description,
                                                       input_schema=t.schema(ctx.tasks, methods))
                                            for t in TOOLS.values()])

    async def run_tool(_request, params: types.CallToolRequestParams) -> types.CallToolResult:
        text, is_error = await anyio.to_thread.run_sync(call_tool, ctx, params.name, dict(params.arguments or {}))
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=is_error)

    async def list_prompts(_request, _params) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[types.Prompt(
            name="brief", description="Your research brief: direction, tasks, methods, interface, budgets, rules")])

    async def get_prompt(_request, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        if params.name != "brief":
            raise ValueError(f"unknown prompt {params.name!r}; prompts: brief")
        return types.GetPromptResult(description="research brief", messages=[
            types.PromptMessage(role="user", content=types.TextContent(type="text", text=brief))])

    async def list_resources(_request, _params) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[types.Resource(
            uri=BRIEF_URI, name="brief", description="Your research brief", mime_type="text/markdown")])

    async def read_resource(_request, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        if str(params.uri) != BRIEF_URI:
            raise ValueError(f"unknown resource {params.uri}; resources: {BRIEF_URI}")
        return types.ReadResourceResult(contents=[types.TextResourceContents(
            uri=BRIEF_URI, mime_type="text/markdown", text=brief)])

    return Server("aar-researcher", instructions=brief, on_list_tools=list_tools, on_call_tool=run_tool,
                  on_list_prompts=list_prompts, on_get_prompt=get_prompt, on_list_resources=list_resources,
                  on_read_resource=read_resource)


async def serve_stdio(ctx: ToolContext, brief: str, methods: list[str]) -> None:
    from mcp.server.stdio import stdio_server

    server = build_server(ctx, brief, methods)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())
