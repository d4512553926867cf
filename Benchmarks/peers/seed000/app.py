"""Seed 000 comparison peer: FastAPI + sse-starlette + a langchain-core tool-calling agent.

A small, self-contained stand-in for the "seed 000" Python stack used as the
baseline in Parley's benchmarks. The chat model is fake (zero latency) so that
what gets measured is the framework, agent loop, database access and streaming
overhead, not an LLM.

Run:  uvicorn app:app --host 127.0.0.1 --port 8001 --log-level warning
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Optional

from fastapi import FastAPI, Request
from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, tool
from langchain_core.utils.function_calling import convert_to_openai_tool

MAX_ITERATIONS = 10
QUEUE_MAXSIZE = 1000
HEARTBEAT_SECONDS = 30.0
DEFAULT_TENANT = "tenant-001"


def utc_timestamp() -> str:
    """ISO 8601 UTC with millisecond precision, e.g. 2026-11-21T10:00:00.123Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---------------------------------------------------------------------------
# Database (SQLite in a temp dir, read through a worker thread)
# ---------------------------------------------------------------------------


class Database:
    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="seed000-")
        self.path = os.path.join(self.dir, "peer.db")
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
        return conn

    def setup(self) -> None:
        conn = sqlite3.connect(self.path)
        conn.executescript(
            """
            PRAGMA journal_mode=WAL;
            CREATE TABLE tenants (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, plan TEXT NOT NULL, created_at TEXT NOT NULL
            );
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id),
                label TEXT NOT NULL, prefix TEXT NOT NULL, created_at TEXT NOT NULL, revoked INTEGER NOT NULL DEFAULT 0
            );
            CREATE TABLE workflows (
                id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES tenants(id),
                status TEXT NOT NULL, prompt TEXT NOT NULL, created_at TEXT NOT NULL
            );
            CREATE INDEX idx_api_keys_tenant ON api_keys(tenant_id);
            CREATE INDEX idx_workflows_tenant_created ON workflows(tenant_id, created_at);
            """
        )
        plans = ["free", "team", "enterprise"]
        for t in range(1, 6):
            tid = f"tenant-{t:03d}"
            conn.execute(
                "INSERT INTO tenants VALUES (?, ?, ?, ?)",
                (tid, f"Tenant {t}", plans[t % 3], f"2026-0{t}-01T00:00:00.000Z"),
            )
            for k in range(1, 5):
                conn.execute(
                    "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?)",
                    (f"key-{t}-{k}", tid, f"key {k}", f"pk_{t}{k}ab", f"2026-02-{k:02d}T12:00:00.000Z", int(k == 4)),
                )
            for w in range(1, 21):
                conn.execute(
                    "INSERT INTO workflows VALUES (?, ?, ?, ?, ?)",
                    (
                        f"wf-{t}-{w:03d}",
                        tid,
                        ["completed", "failed", "running"][w % 3],
                        f"sample prompt {w}",
                        f"2026-03-{w:02d}T08:00:00.000Z",
                    ),
                )
        conn.commit()
        conn.close()

    def _query(self, sql: str, params: tuple) -> list[dict[str, Any]]:
        return [dict(r) for r in self._conn().execute(sql, params).fetchall()]

    async def query(self, sql: str, params: tuple = ()) -> list[dict[str, Any]]:
        return await asyncio.to_thread(self._query, sql, params)

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


db = Database()


# ---------------------------------------------------------------------------
# Tools: one database read each
# ---------------------------------------------------------------------------


@tool
async def get_tenant(tenant_id: str) -> str:
    """Look up a tenant's name, plan and creation date."""
    rows = await db.query("SELECT id, name, plan, created_at FROM tenants WHERE id = ?", (tenant_id,))
    return json.dumps(rows[0] if rows else {"error": "tenant not found"})


@tool
async def list_api_keys(tenant_id: str) -> str:
    """List the API keys (without secrets) that belong to a tenant."""
    rows = await db.query(
        "SELECT id, label, prefix, created_at, revoked FROM api_keys WHERE tenant_id = ? ORDER BY created_at",
        (tenant_id,),
    )
    return json.dumps(rows)


@tool
async def list_recent_workflows(tenant_id: str, limit: int = 5) -> str:
    """List a tenant's most recent workflows."""
    rows = await db.query(
        "SELECT id, status, created_at FROM workflows WHERE tenant_id = ? ORDER BY created_at DESC LIMIT ?",
        (tenant_id, limit),
    )
    return json.dumps(rows)


TOOLS: list[BaseTool] = [get_tenant, list_api_keys, list_recent_workflows]
TOOLS_BY_NAME = {t.name: t for t in TOOLS}


# ---------------------------------------------------------------------------
# Fake chat model (zero latency, stateless so it is safe under concurrency)
# ---------------------------------------------------------------------------


class ScriptedToolCallingModel(BaseChatModel):
    """First turn: call every bound tool. After tool results: answer from them."""

    tenant_id: str = DEFAULT_TENANT

    @property
    def _llm_type(self) -> str:
        return "scripted-tool-calling-fake"

    def bind_tools(self, tools, *, tool_choice: Optional[str] = None, **kwargs: Any):
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _respond(self, messages: list[BaseMessage], tools: list[dict]) -> AIMessage:
        tool_results = [m for m in messages if isinstance(m, ToolMessage)]
        if not tool_results and tools:
            calls = []
            for spec in tools:
                name = spec["function"]["name"]
                args: dict[str, Any] = {"tenant_id": self.tenant_id}
                if "limit" in spec["function"].get("parameters", {}).get("properties", {}):
                    args["limit"] = 5
                calls.append({"name": name, "args": args, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "tool_call"})
            return AIMessage(content="", tool_calls=calls)

        summary: dict[str, Any] = {}
        for m in tool_results:
            try:
                summary[m.name or m.tool_call_id] = json.loads(m.content)
            except (TypeError, ValueError):
                summary[m.name or m.tool_call_id] = m.content
        tenant = summary.get("get_tenant", {})
        keys = summary.get("list_api_keys", [])
        wfs = summary.get("list_recent_workflows", [])
        active = sum(1 for k in keys if not k.get("revoked")) if isinstance(keys, list) else 0
        text = (
            f"Account overview for {tenant.get('name', self.tenant_id)} ({tenant.get('plan', 'unknown')} plan): "
            f"{active} active API key(s) of {len(keys) if isinstance(keys, list) else 0}; "
            f"recent workflows: "
            + (", ".join(f"{w['id']} ({w['status']})" for w in wfs) if isinstance(wfs, list) and wfs else "none")
            + "."
        )
        return AIMessage(content=text)

    def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._respond(messages, kwargs.get("tools", [])))])

    async def _agenerate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
        return self._generate(messages, stop=stop, **kwargs)


model = ScriptedToolCallingModel().bind_tools(TOOLS)


# ---------------------------------------------------------------------------
# Streaming coordinator: per-workflow queues, seq numbers, timestamps
# ---------------------------------------------------------------------------


@dataclass
class Channel:
    seq: int = 0
    subscribers: set[asyncio.Queue] = field(default_factory=set)


class StreamCoordinator:
    TERMINAL = ("workflow_completed", "workflow_error")

    def __init__(self) -> None:
        self.channels: dict[str, Channel] = {}
        self.dropped = 0

    def subscribe(self, workflow_id: str) -> asyncio.Queue:
        """Create (if needed) the workflow's channel and attach a bounded queue to it."""
        ch = self.channels.get(workflow_id)
        if ch is None:
            ch = self.channels[workflow_id] = Channel()
        q: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_MAXSIZE)
        ch.subscribers.add(q)
        return q

    def unsubscribe(self, workflow_id: str, q: asyncio.Queue) -> None:
        ch = self.channels.get(workflow_id)
        if ch is None:
            return
        ch.subscribers.discard(q)
        if not ch.subscribers:
            del self.channels[workflow_id]

    def make_event(self, workflow_id: str, type_: str, **data: Any) -> dict[str, Any]:
        ch = self.channels.get(workflow_id)
        if ch is None:
            ch = self.channels[workflow_id] = Channel()
        ch.seq += 1
        return {"type": type_, "workflow_id": workflow_id, "timestamp": utc_timestamp(), "seq": ch.seq, **data}

    def emit(self, workflow_id: str, type_: str, **data: Any) -> dict[str, Any]:
        event = self.make_event(workflow_id, type_, **data)
        ch = self.channels[workflow_id]
        for q in list(ch.subscribers):
            try:
                q.put_nowait(event)
            except asyncio.QueueFull:
                self.dropped += 1
        if not ch.subscribers and type_ in self.TERMINAL:
            self.channels.pop(workflow_id, None)
        return event


coordinator = StreamCoordinator()
background_tasks: set[asyncio.Task] = set()


def sse(event: dict[str, Any]) -> dict[str, str]:
    return {"id": str(event["seq"]), "event": event["type"], "data": json.dumps(event)}


# ---------------------------------------------------------------------------
# Agent loop
# ---------------------------------------------------------------------------


async def run_tool(workflow_id: str, call: dict[str, Any]) -> ToolMessage:
    name = call["name"]
    coordinator.emit(workflow_id, "tool_start", tool=name, input=call["args"])
    started = time.perf_counter()
    try:
        tool_obj = TOOLS_BY_NAME[name]
        output = await tool_obj.ainvoke(call["args"])
        success = True
    except Exception as exc:  # tool failures are reported back to the model
        output = f"error: {exc}"
        success = False
    coordinator.emit(
        workflow_id,
        "tool_end",
        tool=name,
        output=output,
        duration_ms=round((time.perf_counter() - started) * 1000, 3),
        success=success,
    )
    return ToolMessage(content=str(output), name=name, tool_call_id=call["id"])


async def run_workflow(workflow_id: str, prompt: str) -> None:
    started = time.perf_counter()
    step = 0
    tools_used: list[str] = []
    try:
        coordinator.emit(workflow_id, "workflow_started", initial_prompt=prompt, agent_type="tool_calling")
        messages: list[BaseMessage] = [
            SystemMessage(content="You are an account assistant. Use the tools to answer."),
            HumanMessage(content=prompt),
        ]
        final_text: Optional[str] = None
        for _ in range(MAX_ITERATIONS):
            ai: AIMessage = await model.ainvoke(messages)
            messages.append(ai)
            if not ai.tool_calls:
                final_text = ai.content if isinstance(ai.content, str) else json.dumps(ai.content)
                break
            for call in ai.tool_calls:
                step += 1
                coordinator.emit(
                    workflow_id,
                    "reasoning_step",
                    step_id=f"{workflow_id}-step-{step}",
                    thought=f"I should call {call['name']} to gather information.",
                    action=call["name"],
                    action_input=call["args"],
                    step_number=step,
                )
                tools_used.append(call["name"])
            results = await asyncio.gather(*(run_tool(workflow_id, c) for c in ai.tool_calls))
            messages.extend(results)
        if final_text is None:
            final_text = "Stopped: maximum iterations reached."
        coordinator.emit(workflow_id, "text_delta", text=final_text)
        coordinator.emit(
            workflow_id,
            "workflow_completed",
            final_response=final_text,
            total_steps=step,
            execution_time_ms=round((time.perf_counter() - started) * 1000, 3),
            tools_used=sorted(set(tools_used)),
        )
    except Exception as exc:
        coordinator.emit(workflow_id, "workflow_error", error=str(exc), error_type=type(exc).__name__)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------


@asynccontextmanager
async def lifespan(_: FastAPI):
    db.setup()
    try:
        yield
    finally:
        db.cleanup()


app = FastAPI(title="seed000-peer", lifespan=lifespan)


class ChatRequest(BaseModel):
    message: str


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/chat")
async def chat(body: ChatRequest, request: Request) -> EventSourceResponse:
    # An `Authorization: Bearer ...` header is accepted and ignored.
    workflow_id = str(uuid.uuid4())
    queue = coordinator.subscribe(workflow_id)
    task = asyncio.create_task(run_workflow(workflow_id, body.message))
    background_tasks.add(task)
    task.add_done_callback(background_tasks.discard)

    async def stream() -> AsyncIterator[dict[str, str]]:
        try:
            while True:
                event = await queue.get()
                yield sse(event)
                if event["type"] in StreamCoordinator.TERMINAL:
                    break
        finally:
            coordinator.unsubscribe(workflow_id, queue)

    return EventSourceResponse(stream())


@app.get("/v1/workflows/{workflow_id}/events")
async def workflow_events(workflow_id: str, request: Request) -> EventSourceResponse:
    queue = coordinator.subscribe(workflow_id)

    async def stream() -> AsyncIterator[dict[str, str]]:
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=HEARTBEAT_SECONDS)
                except asyncio.TimeoutError:
                    yield sse(coordinator.make_event(workflow_id, "heartbeat"))
                    continue
                yield sse(event)
                if event["type"] in StreamCoordinator.TERMINAL:
                    break
        finally:
            coordinator.unsubscribe(workflow_id, queue)

    return EventSourceResponse(stream())
