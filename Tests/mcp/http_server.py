"""A Streamable HTTP MCP server for Parley's MCP client tests, written with the official `mcp` package.

Answers requests with event streams (the package's default), keeps sessions, and has tools that
misbehave on purpose: one sleeps past any timeout, one returns a huge output, one makes the server
forget every session (the next request with the old session id gets 404). Listens on a free
loopback port and prints `PORT <n>` once it accepts connections. Stops on SIGTERM or SIGKILL.
"""
import asyncio
import socket

import uvicorn
from mcp.server.mcpserver import Context, MCPServer

server = MCPServer("parley-test-http")


@server.tool(description="Echoes the text back.")
def echo(text: str) -> str:
    return f"echo: {text}"


@server.tool(description="Says which X-Api-Key header and protocol version the request carried.")
def whoami(ctx: Context) -> str:
    request = ctx.request_context.request
    headers = request.headers if request is not None else {}
    return f"key={headers.get('x-api-key', '')} version={headers.get('mcp-protocol-version', '')}"


@server.tool(description="Sleeps for the given number of seconds.")
async def slow(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "done"


@server.tool(description="Returns a text of the given size in bytes.")
def huge(size: int) -> str:
    return "x" * size


@server.tool(description="Forgets every session, as a restarted server would.")
def forget_sessions() -> str:
    # Cleared after this answer is sent, so the call itself completes.
    asyncio.get_running_loop().call_later(0.05, server.session_manager._server_instances.clear)
    return "forgotten"


async def main() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    app = server.streamable_http_app(json_response=False)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


if __name__ == "__main__":
    asyncio.run(main())
