#!/usr/bin/env python3
"""Fan-out delivery latency: N viewers follow one Parley run; how late does each event reach them?

Starts a run that pauses for approval (the offline planner's "revoke the api key named ..."),
opens N SSE viewers on GET /v1/workflows/{id}/events after its last event, approves it, and
records, for every event every viewer receives until workflow_completed, receive time minus the
event's server timestamp (same host; millisecond timestamps add up to ~1 ms).

    python fanout.py --url http://127.0.0.1:8080 --key KEY --viewers 1000 [--rounds 3] [--json]
"""
import argparse
import asyncio
import json
import resource
import sys
import time
from datetime import datetime

import aiohttp


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    return round(values[min(len(values) - 1, int(len(values) * p / 100))], 2)


async def viewer(session, url, headers, after, ready, latencies):
    async with session.get(url, headers={**headers, "Last-Event-ID": str(after)}) as resp:
        resp.raise_for_status()
        ready.release()
        buffer = b""
        async for chunk in resp.content.iter_any():
            now = time.time()
            buffer += chunk
            while b"\n\n" in buffer:
                block, buffer = buffer.split(b"\n\n", 1)
                for line in block.split(b"\n"):
                    if line.startswith(b"data: "):
                        event = json.loads(line[6:])
                        if event.get("type") == "heartbeat":
                            continue
                        latencies.append((now - ts(event["timestamp"])) * 1000)
                        if event.get("type") in ("workflow_completed", "workflow_error"):
                            return


async def round_trip(session, args, headers):
    async with session.post(f"{args.url}/v1/sessions", headers=headers, json={}) as r:
        session_id = (await r.json())["session_id"]
    async with session.post(f"{args.url}/v1/api-keys", headers=headers, json={"name": f"fanout-{time.time_ns()}", "role": "viewer"}) as r:
        key_name = (await r.json())["name"]
    async with session.post(f"{args.url}/v1/sessions/{session_id}/messages", headers=headers,
                            json={"content": f"revoke the api key named {key_name}"}) as r:
        run = await r.json()
    workflow_id, approval_id = run["workflow_id"], run["approvals"][0]["approval_id"]
    async with session.get(f"{args.url}/v1/workflows/{workflow_id}/events", headers={**headers, "Accept": "application/json"}) as r:
        after = (await r.json())["data"][-1]["seq"]
    latencies = []
    ready = asyncio.Semaphore(0)
    url = f"{args.url}/v1/workflows/{workflow_id}/events"
    tasks = [asyncio.create_task(viewer(session, url, headers, after, ready, latencies)) for _ in range(args.viewers)]
    for _ in range(args.viewers):
        await ready.acquire()
    await asyncio.sleep(0.5)  # let every viewer settle into its live subscription
    async with session.post(f"{url.rsplit('/events', 1)[0]}/approvals/{approval_id}", headers=headers, json={"decision": "approve"}) as r:
        r.raise_for_status()
    await asyncio.gather(*tasks)
    return latencies


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--key", required=True)
    ap.add_argument("--viewers", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    headers = {"Authorization": f"Bearer {args.key}"}
    connector = aiohttp.TCPConnector(limit=0)
    all_latencies = []
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:
        for _ in range(args.rounds):
            all_latencies += await round_trip(session, args, headers)
    result = {"mode": "fanout", "viewers": args.viewers, "rounds": args.rounds, "events": len(all_latencies),
              "delivery_ms": {"p50": pct(all_latencies, 50), "p90": pct(all_latencies, 90), "p99": pct(all_latencies, 99),
                              "max": round(max(all_latencies), 2) if all_latencies else None}}
    print(json.dumps(result) if args.json else
          f"fan-out to {args.viewers} viewers x {args.rounds} runs: {len(all_latencies)} deliveries, "
          f"p50 {result['delivery_ms']['p50']} ms, p90 {result['delivery_ms']['p90']} ms, p99 {result['delivery_ms']['p99']} ms, max {result['delivery_ms']['max']} ms")


if __name__ == "__main__":
    try:
        import uvloop
        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
