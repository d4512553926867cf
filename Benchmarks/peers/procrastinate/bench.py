#!/usr/bin/env python3
"""Peer benchmark: procrastinate (PostgreSQL task queue for Python) running an outbox job.

Equivalent of `parley bench-queue` (Sources/ParleyCLI/BenchCommands.swift): enqueue N jobs, then
run one in-process worker with C concurrent jobs until the queue is empty. Each job writes one row
to `outbox` through the same PostgreSQL pool the queue uses, like Parley's OutboxChannel.

    python bench.py --database-url postgres://parley:parley@127.0.0.1:5432/bench_procrastinate \
        --jobs 2000 --concurrency 4 --json

Every run drops and recreates the schema given by --schema (default `procrastinate_bench`) in
that database: procrastinate's tables and the `outbox` table live there, nothing else is touched.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import logging
import platform
import re
import sys
import time

import procrastinate
import psycopg
from psycopg import sql

OUTBOX_DDL = """
CREATE TABLE outbox (
    id serial PRIMARY KEY,
    job_ref text UNIQUE NOT NULL,
    created_at timestamptz NOT NULL
)
"""

# One row per job; `job_ref` is unique, so a retried job cannot leave a second copy (as in Parley).
OUTBOX_INSERT = "INSERT INTO outbox (job_ref, created_at) VALUES (%s, now()) ON CONFLICT (job_ref) DO NOTHING"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="procrastinate outbox-job benchmark (peer of `parley bench-queue`)")
    p.add_argument("--database-url", required=True, help="postgres://USER:PASSWORD@HOST:PORT/DB (use a dedicated database)")
    p.add_argument("--jobs", type=int, default=2000, help="jobs to enqueue and run (default 2000)")
    p.add_argument("--concurrency", type=int, default=4, help="jobs the worker runs at once (default 4)")
    p.add_argument("--pool-size", type=int, default=None,
                   help="connections in the psycopg pool shared by queue and task (default: concurrency + 1; "
                        "the LISTEN connection is separate)")
    p.add_argument("--polling-interval", type=float, default=0.05, help="worker fetch_job_polling_interval in s (default 0.05)")
    p.add_argument("--schema", default="procrastinate_bench", help="schema dropped and recreated each run (default procrastinate_bench)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    a = p.parse_args(argv)
    if a.jobs < 1 or a.concurrency < 1:
        p.error("--jobs and --concurrency must be at least 1")
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", a.schema):
        p.error("--schema must be a plain lower-case identifier")
    if a.pool_size is None:
        a.pool_size = a.concurrency + 1
    return a


def reset_schema(url: str, schema: str) -> None:
    """Fresh state each run: drop the benchmark schema (procrastinate's objects and outbox) and recreate it."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("SET search_path = {}").format(sql.Identifier(schema)))
        conn.execute(OUTBOX_DDL)


def percentile(sorted_values: list[float], p: float) -> float:
    # Same nearest-rank rule as `parley bench-queue`.
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


async def run(a: argparse.Namespace) -> dict:
    reset_schema(a.database_url, a.schema)

    connector = procrastinate.PsycopgConnector(
        conninfo=a.database_url,
        min_size=a.pool_size,
        max_size=a.pool_size,
        # Every connection (pool and the worker's LISTEN connection) works in the benchmark schema.
        kwargs={"options": f"-c search_path={a.schema}"},
    )
    app = procrastinate.App(connector=connector)

    # job_ref -> (enqueued_at, started_at, delivered_at), wall clock (time.time()) on this machine.
    results: dict[str, tuple[float, float, float]] = {}

    @app.task(name="deliver_to_outbox", queue="outbox")
    async def deliver_to_outbox(job_ref: str, enqueued_at: float) -> None:
        started = time.time()
        # One small INSERT through the pool procrastinate itself uses, committed when the block exits.
        async with connector.pool.connection() as conn:
            await conn.execute(OUTBOX_INSERT, (job_ref,))
        results[job_ref] = (enqueued_at, started, time.time())

    async with app.open_async():
        await app.schema_manager.apply_schema_async()

        # 1. Enqueue every job first, one defer (one INSERT + NOTIFY) at a time, like the Parley bench.
        enqueue_start = time.perf_counter()
        for i in range(a.jobs):
            await deliver_to_outbox.defer_async(job_ref=f"bench-{i}", enqueued_at=time.time())
        enqueue_seconds = time.perf_counter() - enqueue_start

        # 2. One worker, C concurrent jobs, until the queue is empty (wait=False: it stops as soon as
        #    a fetch finds nothing, after its running jobs finish). LISTEN/NOTIFY on, 50 ms polling.
        worker_start_wall = time.time()
        worker_start = time.perf_counter()
        worker_cpu_start = time.process_time()
        await app.run_worker_async(
            queues=["outbox"],
            concurrency=a.concurrency,
            wait=False,
            fetch_job_polling_interval=a.polling_interval,
            listen_notify=True,
            install_signal_handlers=False,
            delete_jobs="never",
        )
        worker_exit_seconds = time.perf_counter() - worker_start
        worker_cpu_seconds = time.process_time() - worker_cpu_start

        async with connector.pool.connection() as conn:
            cur = await conn.execute("SELECT status::text, count(*) FROM procrastinate_jobs GROUP BY 1")
            statuses = {s: n for s, n in await cur.fetchall()}
            cur = await conn.execute("SELECT count(*) FROM outbox")
            (outbox_rows,) = await cur.fetchone()

    done = sorted(results.values(), key=lambda r: r[2])
    last_done = done[-1][2] if done else worker_start_wall
    to_last = max(last_done - worker_start_wall, 1e-9)
    # Per the brief: execution (row written) minus enqueue, both wall-clock on this machine.
    lat = sorted((d - e) * 1000 for e, _, d in done)
    # As `parley bench-queue` counts it: from when the job was both queued and the worker running.
    lat_ws = sorted((d - max(e, worker_start_wall)) * 1000 for e, _, d in done)
    # Until the task body started (pickup latency, before the INSERT).
    lat_start = sorted((s - e) * 1000 for e, s, _ in done)

    def pcts(v: list[float]) -> dict:
        return {"p50": round(percentile(v, 0.5), 1), "p99": round(percentile(v, 0.99), 1)}

    return {
        "peer": "procrastinate",
        "procrastinate": importlib.metadata.version("procrastinate"),
        "psycopg": importlib.metadata.version("psycopg"),
        "python": platform.python_version(),
        "jobs": a.jobs,
        "completed": len(done),
        "succeeded_in_queue": statuses.get("succeeded", 0),
        "outbox_rows": outbox_rows,
        "concurrency": a.concurrency,
        "pool_size": a.pool_size,
        "polling_interval_s": a.polling_interval,
        "enqueue_per_s": round(a.jobs / max(enqueue_seconds, 1e-9), 1),
        "jobs_per_s": round(len(done) / to_last, 1),
        "worker_start_to_last_completion_s": round(to_last, 3),
        "worker_start_to_exit_s": round(worker_exit_seconds, 3),
        # CPU this Python process used while the worker ran (the other side is PostgreSQL).
        "worker_process_cpu_s": round(worker_cpu_seconds, 3),
        "enqueue_to_execute_ms": pcts(lat),
        "enqueue_to_execute_ms_from_worker_start": pcts(lat_ws),
        "enqueue_to_task_start_ms": pcts(lat_start),
    }


def main() -> int:
    a = parse_args()
    # The app is defined in this script (__main__) and the worker runs in this same process, so
    # procrastinate's "App is instantiated in the main Python module" warning does not apply.
    logging.getLogger("procrastinate.blueprints").setLevel(logging.ERROR)
    r = asyncio.run(run(a))
    ok = r["completed"] == r["jobs"] == r["outbox_rows"] == r["succeeded_in_queue"]
    if a.json:
        print(json.dumps(r, sort_keys=True))
    else:
        print(f"procrastinate {r['procrastinate']} (psycopg {r['psycopg']}, Python {r['python']})")
        print(f"jobs {r['jobs']}  completed {r['completed']}  succeeded {r['succeeded_in_queue']}  outbox rows {r['outbox_rows']}")
        print(f"concurrency {r['concurrency']}  pool {r['pool_size']}  polling {r['polling_interval_s']} s  LISTEN/NOTIFY on")
        print(f"enqueue            {r['enqueue_per_s']:>10.1f} jobs/s")
        print(f"worker throughput  {r['jobs_per_s']:>10.1f} jobs/s  ({r['worker_start_to_last_completion_s']} s to last completion, "
              f"{r['worker_start_to_exit_s']} s to worker exit, {r['worker_process_cpu_s']} s Python CPU)")
        for key, label in (("enqueue_to_execute_ms", "enqueue -> executed"),
                           ("enqueue_to_execute_ms_from_worker_start", "max(enqueue, worker start) -> executed"),
                           ("enqueue_to_task_start_ms", "enqueue -> task start")):
            print(f"{label:<40} p50 {r[key]['p50']:>9.1f} ms  p99 {r[key]['p99']:>9.1f} ms")
    if not ok:
        print("error: not every job completed exactly once", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
