#!/usr/bin/env python3
"""agentload: load generator for agent chat servers that stream Server-Sent Events.

Used against both Parley and the seed000 Python peer (Benchmarks/peers/seed000).

Subcommands
  turns     closed-loop chat turns (POST /chat, read SSE until workflow_completed/_error)
  delivery  like turns, plus per-event delivery latency (receive time - event "timestamp")
  idle      hold many idle SSE connections open and measure the server's RSS per stream

Examples
  agentload.py --url http://127.0.0.1:8080 --key KEY turns --concurrency 16 --duration 10
  agentload.py --url http://127.0.0.1:8080 delivery --concurrency 200 --duration 10 --json
  agentload.py idle --target-url http://127.0.0.1:8080/v1/workflows/idle-{i}/events \
      --streams 10000 --step 1000 --pid 12345 --hold 10

Notes
  * One process, one asyncio loop (uvloop when installed), one shared aiohttp connector.
  * The client runs on the same machine as the server; the report includes the client's
    own CPU time so you can judge whether the client was the bottleneck.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import sys
import time
from datetime import datetime
from typing import Any, Optional

import aiohttp

try:
    import uvloop  # type: ignore
except ImportError:  # pragma: no cover
    uvloop = None

TERMINAL = ("workflow_completed", "workflow_error")


# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def raise_nofile() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    elif hard == resource.RLIM_INFINITY:
        for target in (1 << 20, 1 << 16):
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                break
            except (ValueError, OSError):
                continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def percentile(sorted_vals: list[float], p: float) -> Optional[float]:
    """Nearest-rank percentile on an already sorted list."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[k]


def rnd(v: Optional[float], nd: int = 3) -> Optional[float]:
    return None if v is None else round(v, nd)


def read_rss_kib(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def read_proc_cpu_s(pid: int) -> Optional[float]:
    """utime + stime of a process, in seconds (from /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def parse_timestamp(ts: Any) -> Optional[float]:
    """ISO 8601 (e.g. 2026-11-21T10:00:00.123Z) -> POSIX seconds; also accepts epoch s/ms numbers."""
    if isinstance(ts, (int, float)):
        return ts / 1000.0 if ts > 1e11 else float(ts)
    if not isinstance(ts, str):
        return None
    s = ts.strip()
    if s.endswith("Z") or s.endswith("z"):
        s = s[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(s).timestamp()
    except ValueError:
        pass
    # Python < 3.11 cannot parse fractions that are not 3 or 6 digits; normalise to 6.
    try:
        main, _, rest = s.partition(".")
        frac = "".join(ch for ch in rest if ch.isdigit())
        tz = rest[len(frac):]
        return datetime.fromisoformat(f"{main}.{(frac + '000000')[:6]}{tz}").timestamp()
    except ValueError:
        return None


class Usage:
    """Client-side CPU accounting for the report."""

    def __init__(self) -> None:
        self.wall0 = time.perf_counter()
        self.ru0 = resource.getrusage(resource.RUSAGE_SELF)

    def report(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.wall0
        ru = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (ru.ru_utime - self.ru0.ru_utime) + (ru.ru_stime - self.ru0.ru_stime)
        return {
            "client_cpu_s": round(cpu, 2),
            "client_wall_s": round(wall, 2),
            "client_cpu_util": round(cpu / wall, 3) if wall > 0 else None,
            "cpu_count": os.cpu_count(),
            "note": (
                "load generator shares the machine's CPUs with the server; "
                "client_cpu_util near 1.0 means the (single-threaded) client may be the bottleneck"
            ),
        }


# ---------------------------------------------------------------------------
# SSE parsing (incremental, on raw byte chunks)
# ---------------------------------------------------------------------------


class SSEParser:
    """Incremental text/event-stream parser (WHATWG rules).

    Lines end in CRLF, LF or CR. `field: value` (one leading space after the colon is
    dropped); lines starting with ':' are comments; a blank line dispatches the event.
    Multiple data lines are joined with '\n'. Events with no data are not dispatched.
    """

    __slots__ = ("buf", "data", "event", "last_id", "retry", "_bom_checked")

    def __init__(self) -> None:
        self.buf = b""
        self.data: list[str] = []
        self.event = ""
        self.last_id = ""
        self.retry: Optional[int] = None
        self._bom_checked = False

    def feed(self, chunk: bytes) -> list[tuple[str, str, str]]:
        """Returns completed events as (event_type, data, last_event_id)."""
        buf = self.buf + chunk
        if not self._bom_checked and len(buf) >= 3:
            if buf.startswith(b"\xef\xbb\xbf"):
                buf = buf[3:]
            self._bom_checked = True
        # Hold back a trailing CR: it may be the first half of a CRLF.
        hold = b""
        if buf.endswith(b"\r"):
            buf, hold = buf[:-1], b"\r"
        if b"\r" in buf:
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self.buf = lines.pop() + hold
        out: list[tuple[str, str, str]] = []
        for raw in lines:
            if not raw:
                if self.data:
                    out.append((self.event or "message", "\n".join(self.data), self.last_id))
                self.data = []
                self.event = ""
                continue
            if raw[0] == 0x3A:  # ':' comment
                continue
            line = raw.decode("utf-8", "replace")
            name, sep, value = line.partition(":")
            if sep and value.startswith(" "):
                value = value[1:]
            if name == "data":
                self.data.append(value)
            elif name == "event":
                self.event = value
            elif name == "id":
                if "\x00" not in value:
                    self.last_id = value
            elif name == "retry":
                if value.isdigit():
                    self.retry = int(value)
        return out


# ---------------------------------------------------------------------------
# Turns / delivery
# ---------------------------------------------------------------------------


class TurnError(Exception):
    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


async def one_turn(
    session: aiohttp.ClientSession,
    url: str,
    headers: dict[str, str],
    body: bytes,
    want_delivery: bool,
    timeout: float,
) -> tuple[float, int, list[float], str]:
    """Runs one chat turn. Returns (latency_s, events, delivery_latencies_ms, terminal_type)."""
    t0 = time.perf_counter()
    parser = SSEParser()
    n_events = 0
    delivery: list[float] = []
    async with asyncio.timeout(timeout) if hasattr(asyncio, "timeout") else _null_ctx():
        async with session.post(url, data=body, headers=headers) as resp:
            if resp.status != 200:
                text = (await resp.read())[:200].decode("utf-8", "replace")
                raise TurnError(f"http_{resp.status}", text)
            async for chunk in resp.content.iter_any():
                recv_wall = time.time()
                for etype, data, _ in parser.feed(chunk):
                    n_events += 1
                    try:
                        obj = json.loads(data)
                    except ValueError:
                        obj = None
                    if isinstance(obj, dict):
                        if want_delivery:
                            ts = parse_timestamp(obj.get("timestamp"))
                            if ts is not None:
                                delivery.append((recv_wall - ts) * 1000.0)
                        # Prefer the SSE event name, fall back to the JSON "type".
                        if etype == "message":
                            etype = obj.get("type", etype)
                    if etype in TERMINAL:
                        return time.perf_counter() - t0, n_events, delivery, etype
    raise TurnError("stream_ended", f"no terminal event after {n_events} events")


class _null_ctx:
    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


def make_session(limit: int = 0, sock_read: Optional[float] = None) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, force_close=False, ttl_dns_cache=None)
    timeout = aiohttp.ClientTimeout(total=None, connect=30, sock_connect=30, sock_read=sock_read)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)


async def run_turns(args: argparse.Namespace, want_delivery: bool) -> dict[str, Any]:
    url = args.url.rstrip("/") + "/chat"
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    if args.key:
        headers["Authorization"] = f"Bearer {args.key}"
    body = json.dumps({"message": args.message}).encode()

    latencies: list[float] = []
    events_per_turn: list[int] = []
    delivery_all: list[float] = []
    errors: dict[str, int] = {}
    error_samples: list[str] = []
    terminal_errors = 0
    warm_turns = 0

    usage = Usage()
    start = time.perf_counter()
    measure_from = start + args.warmup
    deadline = measure_from + args.duration
    stop = asyncio.Event()

    async def client(session: aiohttp.ClientSession) -> None:
        nonlocal terminal_errors, warm_turns
        while not stop.is_set() and time.perf_counter() < deadline:
            t_start = time.perf_counter()
            try:
                lat, n, dl, term = await one_turn(session, url, headers, body, want_delivery, args.timeout)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                t_end = time.perf_counter()
                if measure_from <= t_end <= deadline:
                    kind = exc.kind if isinstance(exc, TurnError) else type(exc).__name__
                    if isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
                        kind = "timeout"
                    if kind not in errors and len(error_samples) < 5:
                        error_samples.append(repr(exc)[:300])  # first example of each kind
                    errors[kind] = errors.get(kind, 0) + 1
                # Avoid a hot loop when the server is down.
                await asyncio.sleep(0.05)
                continue
            t_end = t_start + lat
            if t_end < measure_from:
                warm_turns += 1
                continue
            if t_end > deadline:
                continue
            if term == "workflow_error":
                terminal_errors += 1
                errors["workflow_error"] = errors.get("workflow_error", 0) + 1
            latencies.append(lat * 1000.0)
            events_per_turn.append(n)
            if want_delivery:
                delivery_all.extend(dl)

    async with make_session(limit=0, sock_read=args.timeout) as session:
        tasks = [asyncio.create_task(client(session)) for _ in range(args.concurrency)]
        await asyncio.sleep(max(0.0, measure_from - time.perf_counter()))
        srv_cpu0 = read_proc_cpu_s(args.pid) if args.pid else None
        await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
        srv_cpu1 = read_proc_cpu_s(args.pid) if args.pid else None
        stop.set()
        # Let in-flight turns finish briefly (they are not counted), then cancel the rest.
        _, pending = await asyncio.wait(tasks, timeout=args.drain)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    latencies.sort()
    n_ok = len(latencies)
    result: dict[str, Any] = {
        "mode": "delivery" if want_delivery else "turns",
        "url": url,
        "concurrency": args.concurrency,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "turns": n_ok,
        "turns_per_s": round(n_ok / args.duration, 2) if args.duration > 0 else None,
        "latency_ms": {
            "p50": rnd(percentile(latencies, 50)),
            "p90": rnd(percentile(latencies, 90)),
            "p99": rnd(percentile(latencies, 99)),
            "max": rnd(latencies[-1] if latencies else None),
            "mean": rnd(sum(latencies) / n_ok if n_ok else None),
        },
        "errors": sum(errors.values()),
        "errors_by_kind": errors,
        "error_samples": error_samples,
        "events_per_turn": round(sum(events_per_turn) / n_ok, 2) if n_ok else None,
    }
    if srv_cpu0 is not None and srv_cpu1 is not None and args.duration > 0:
        result["server_cpu_util"] = round((srv_cpu1 - srv_cpu0) / args.duration, 3)
        result["server_pid"] = args.pid
        result["server_rss_mib"] = rnd((read_rss_kib(args.pid) or 0) / 1024.0, 1)
    if want_delivery:
        delivery_all.sort()
        result["events"] = len(delivery_all)
        result["delivery_ms"] = {
            "p50": rnd(percentile(delivery_all, 50)),
            "p90": rnd(percentile(delivery_all, 90)),
            "p99": rnd(percentile(delivery_all, 99)),
            "max": rnd(delivery_all[-1] if delivery_all else None),
            "min": rnd(delivery_all[0] if delivery_all else None),
        }
        result["delivery_note"] = (
            "receive wall-clock minus event timestamp on the same host; "
            "millisecond-resolution timestamps add up to ~1 ms (mean ~0.5 ms) of quantisation"
        )
    result["client"] = usage.report()
    return result


# ---------------------------------------------------------------------------
# Idle streams
# ---------------------------------------------------------------------------


async def run_idle(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"Accept": "text/event-stream"}
    if args.key:
        headers["Authorization"] = f"Bearer {args.key}"
    usage = Usage()
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)

    base_rss = read_rss_kib(args.pid) if args.pid else None
    steps: list[dict[str, Any]] = []
    release = asyncio.Event()
    open_count = 0
    failed = 0
    fail_kinds: dict[str, int] = {}
    events_received = 0
    dropped_later = 0
    sem = asyncio.Semaphore(args.open_concurrency)

    async def stream(session: aiohttp.ClientSession, i: int, ready: asyncio.Future) -> None:
        nonlocal events_received, dropped_later
        url = args.target_url.replace("{i}", str(i))
        try:
            async with sem:
                resp = await session.get(url, headers=headers)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001
            if not ready.done():
                ready.set_result(type(exc).__name__)
            return
        try:
            if resp.status != 200:
                if not ready.done():
                    ready.set_result(f"http_{resp.status}")
                return
            if not ready.done():
                ready.set_result(None)
            parser = SSEParser()
            async for chunk in resp.content.iter_any():
                events_received += len(parser.feed(chunk))
                if release.is_set():
                    break
            if not release.is_set():
                dropped_later += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001
            if not release.is_set():
                dropped_later += 1
        finally:
            resp.release()

    tasks: list[asyncio.Task] = []
    async with make_session(limit=0, sock_read=None) as session:
        loop = asyncio.get_running_loop()
        i = 0
        while i < args.streams:
            n = min(args.step, args.streams - i)
            t_step = time.perf_counter()
            futs = []
            for _ in range(n):
                fut = loop.create_future()
                futs.append(fut)
                tasks.append(asyncio.create_task(stream(session, i, fut)))
                i += 1
            results = await asyncio.gather(*futs)
            step_open = sum(1 for r in results if r is None)
            for r in results:
                if r is not None:
                    fail_kinds[r] = fail_kinds.get(r, 0) + 1
            open_count += step_open
            failed += n - step_open
            open_time = time.perf_counter() - t_step
            if args.settle > 0:
                await asyncio.sleep(args.settle)
            rss = read_rss_kib(args.pid) if args.pid else None
            row: dict[str, Any] = {
                "requested": i,
                "open_streams": open_count,
                "failed": failed,
                "step_open_s": round(open_time, 3),
                "rss_mib": round(rss / 1024.0, 1) if rss is not None else None,
                "kib_per_stream": (
                    round((rss - base_rss) / open_count, 2)
                    if rss is not None and base_rss is not None and open_count
                    else None
                ),
            }
            steps.append(row)
            print(  # progress on stderr
                f"  step: requested={row['requested']:>7} open={row['open_streams']:>7} "
                f"failed={row['failed']:>6} open_time={row['step_open_s']:>7.3f}s "
                f"rss={row['rss_mib']} MiB kib/stream={row['kib_per_stream']}",
                file=sys.stderr,
                flush=True,
            )
        if args.hold > 0:
            await asyncio.sleep(args.hold)
        rss_end = read_rss_kib(args.pid) if args.pid else None
        still_open = open_count - dropped_later
        release.set()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return {
        "mode": "idle",
        "target_url": args.target_url,
        "streams_requested": args.streams,
        "step": args.step,
        "open_streams": open_count,
        "failed": failed,
        "failures_by_kind": fail_kinds,
        "closed_by_server_during_hold": dropped_later,
        "still_open_at_end": still_open,
        "events_received": events_received,
        "pid": args.pid,
        "baseline_rss_mib": round(base_rss / 1024.0, 1) if base_rss is not None else None,
        "end_rss_mib": round(rss_end / 1024.0, 1) if rss_end is not None else None,
        "hold_s": args.hold,
        "steps": steps,
        "client_nofile_limit": list(nofile),
        "client": usage.report(),
    }


# ---------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------


def print_summary(r: dict[str, Any]) -> None:
    p = print
    if r["mode"] in ("turns", "delivery"):
        lat = r["latency_ms"]
        p(f"{r['mode']}: {r['url']}  concurrency={r['concurrency']} duration={r['duration_s']}s warmup={r['warmup_s']}s")
        p(f"  turns:           {r['turns']}  ({r['turns_per_s']} turns/s)")
        p(f"  latency ms:      p50={lat['p50']} p90={lat['p90']} p99={lat['p99']} max={lat['max']} mean={lat['mean']}")
        p(f"  events/turn:     {r['events_per_turn']}")
        p(f"  errors:          {r['errors']} {r['errors_by_kind'] or ''}")
        if "server_cpu_util" in r:
            p(f"  server:          pid {r['server_pid']} used {r['server_cpu_util']} cores, RSS {r['server_rss_mib']} MiB at end")
        for s in r["error_samples"]:
            p(f"    e.g. {s}")
        if r["mode"] == "delivery":
            d = r["delivery_ms"]
            p(f"  events:          {r['events']}")
            p(f"  delivery ms:     p50={d['p50']} p90={d['p90']} p99={d['p99']} max={d['max']} min={d['min']}")
            p(f"                   ({r['delivery_note']})")
    else:
        p(f"idle: {r['target_url']}  streams={r['streams_requested']} step={r['step']} pid={r['pid']}")
        p(f"  baseline RSS:    {r['baseline_rss_mib']} MiB")
        p(f"  {'open':>8} {'failed':>7} {'RSS MiB':>9} {'KiB/stream':>11} {'open s':>8}")
        for s in r["steps"]:
            p(
                f"  {s['open_streams']:>8} {s['failed']:>7} {str(s['rss_mib']):>9} "
                f"{str(s['kib_per_stream']):>11} {s['step_open_s']:>8}"
            )
        p(f"  failures:        {r['failures_by_kind'] or 'none'}")
        p(f"  closed by server during hold: {r['closed_by_server_during_hold']} (hold {r['hold_s']}s, end RSS {r['end_rss_mib']} MiB)")
        p(f"  client fd limit: {r['client_nofile_limit']}")
    c = r["client"]
    p(
        f"  client:          cpu={c['client_cpu_s']}s wall={c['client_wall_s']}s util={c['client_cpu_util']} "
        f"on {c['cpu_count']} CPUs shared with the server"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="Load generator for SSE agent chat servers (Parley / seed000 peer).")
    ap.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL (default %(default)s)")
    ap.add_argument("--key", default=os.environ.get("AGENTLOAD_KEY"), help="API key, sent as Authorization: Bearer")
    ap.add_argument("--message", default="give me an account overview", help="chat message (default %(default)r)")
    ap.add_argument("--json", action="store_true", help="print one JSON result object on stdout")
    # The global options are also accepted after the subcommand.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=argparse.SUPPRESS)
    common.add_argument("--key", default=argparse.SUPPRESS)
    common.add_argument("--message", default=argparse.SUPPRESS)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS)
    sub = ap.add_subparsers(dest="cmd", required=True)

    for name, helptext in (("turns", "closed-loop chat turns"), ("delivery", "chat turns + per-event delivery latency")):
        sp = sub.add_parser(name, help=helptext, parents=[common])
        sp.add_argument("--concurrency", "-c", type=int, default=16)
        sp.add_argument("--duration", "-d", type=float, default=10.0, help="measured seconds")
        sp.add_argument("--warmup", type=float, default=0.0, help="seconds run before measuring (default 0)")
        sp.add_argument("--timeout", type=float, default=60.0, help="per-turn timeout in seconds")
        sp.add_argument("--drain", type=float, default=5.0, help="seconds to let in-flight turns finish at the end")
        sp.add_argument("--pid", type=int, help="server pid: report its CPU use (cores) over the measured window")

    sp = sub.add_parser("idle", help="hold many idle SSE streams and sample server RSS", parents=[common])
    sp.add_argument("--target-url", required=True, help="full SSE URL; '{i}' is replaced by the stream index")
    sp.add_argument("--streams", type=int, required=True)
    sp.add_argument("--step", type=int, default=1000)
    sp.add_argument("--pid", type=int, help="server pid for VmRSS sampling")
    sp.add_argument("--hold", type=float, default=5.0, help="seconds to keep all streams open at the end")
    sp.add_argument("--settle", type=float, default=1.0, help="seconds to wait after each step before sampling RSS")
    sp.add_argument("--open-concurrency", type=int, default=256, help="max connection attempts in flight")

    args = ap.parse_args()
    raise_nofile()

    if args.cmd in ("turns", "delivery") and args.concurrency < 1:
        ap.error("--concurrency must be >= 1")
    if args.cmd == "idle" and (args.streams < 1 or args.step < 1):
        ap.error("--streams and --step must be >= 1")

    if args.cmd == "turns":
        coro = run_turns(args, want_delivery=False)
    elif args.cmd == "delivery":
        coro = run_turns(args, want_delivery=True)
    else:
        coro = run_idle(args)
    if uvloop is not None and hasattr(uvloop, "run"):
        result = uvloop.run(coro)
    elif uvloop is not None:
        uvloop.install()
        result = asyncio.run(coro)
    else:
        result = asyncio.run(coro)
    result["uvloop"] = uvloop is not None

    if args.json:
        json.dump(result, sys.stdout)
        sys.stdout.write("\n")
    else:
        print_summary(result)


if __name__ == "__main__":
    main()
