"""Drives Parley's MCP endpoint (/mcp) with the official `mcp` Python package.

Usage: mcp_client_check.py BASE_URL ADMIN_KEY VIEWER_KEY KEY_TO_REVOKE DISABLED_TOOL

Prints one JSON object with what the client saw; the Swift test (MCPServerTests) asserts on it,
approves the call that waits and checks that the tool then ran. The client connects in its
default mode, so it first probes `server/discover` and must fall back to `initialize`.
"""
import asyncio
import json
import sys

import httpx2
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

base_url, admin_key, viewer_key, key_to_revoke, disabled_tool = sys.argv[1:6]
seen = {}


def connect(key):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=httpx2.Timeout(30, read=120))
    return http, Client(streamable_http_client(base_url + "/mcp", http_client=http))


def result_view(result):
    return {
        "is_error": bool(result.is_error),
        "text": "".join(getattr(c, "text", "") for c in result.content),
        "structured": result.structured_content,
        "meta": result.meta,
    }


async def attempt(name, call):
    try:
        seen[name] = await call()
    except MCPError as error:  # the JSON-RPC error the server sent
        seen[name] = {"raised": type(error).__name__, "code": error.code, "message": error.error.message,
                      "data": error.error.data}
    except Exception as error:  # noqa: BLE001 - the class name is what the test checks
        while isinstance(error, BaseExceptionGroup) and error.exceptions:  # the transport's task group wraps it
            error = error.exceptions[0]
        seen[name] = {"raised": type(error).__name__, "message": str(error),
                      "code": getattr(getattr(error, "error", None), "code", None)}


async def as_admin():
    http, client = connect(admin_key)
    async with http, client:
        seen["protocol_version"] = client.protocol_version
        seen["server_name"] = client.server_info.name if client.server_info else None
        tools = (await client.list_tools()).tools
        seen["tools"] = [t.name for t in tools]
        seen["get_workspace"] = next(
            ({"schema": t.input_schema, "read_only": t.annotations.read_only_hint if t.annotations else None, "meta": t.meta}
             for t in tools if t.name == "get_workspace"), None)
        seen["revoke_api_key"] = next(
            ({"destructive": t.annotations.destructive_hint if t.annotations else None, "meta": t.meta}
             for t in tools if t.name == "revoke_api_key"), None)
        await attempt("read", lambda: _call(client, "get_workspace", {}))
        await attempt("invalid", lambda: _call(client, "echo", {"text": 42}))
        await attempt("approval", lambda: _call(client, "revoke_api_key", {"key_id": key_to_revoke}))
        await attempt("disabled", lambda: _call(client, disabled_tool, {}))
        await attempt("unknown", lambda: _call(client, "no_such_tool", {}))
        await attempt("ping", lambda: _ping(client))


async def _call(client, name, arguments):
    return result_view(await client.call_tool(name, arguments))


async def _ping(client):
    await client.send_ping()
    return "pong"


async def as_viewer():
    http, client = connect(viewer_key)
    async with http, client:
        seen["viewer_tools"] = [t.name for t in (await client.list_tools()).tools]
        await attempt("viewer_write", lambda: _call(client, "revoke_api_key", {"key_id": key_to_revoke}))
        await attempt("viewer_read", lambda: _call(client, "get_workspace", {}))


async def with_bad_key():
    http, client = connect("prk_not_a_real_key_0000000000000000")
    async with http, client:
        return "connected"


async def main():
    await as_admin()
    await as_viewer()
    await attempt("bad_key", with_bad_key)
    print(json.dumps(seen, default=str))


asyncio.run(main())
