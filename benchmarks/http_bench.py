"""Throughput of a signed `/missing report` through the whole HTTP stack.

For each data size it starts a server process (uvicorn + FastAPI + Bolt + the database, with
the Slack Web API stand-in on loopback receiving the channel posts), fires signed slash
commands at it from a client in this process, and prints requests per second and p50/p99
latency; beside it, a bare Bolt app (same stack, a listener that only acks) answers the same
request, so the ratio shows what the bot's own work costs.

    python benchmarks/http_bench.py                      # 10k children / 100k episodes, then 10x
    python benchmarks/http_bench.py --sizes 10000 --requests 3000 --concurrency 8
    DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1/bench python benchmarks/http_bench.py

The database named by DATABASE_URL is emptied and filled; by default a temporary SQLite file."""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-signing-secret"
USER = "UBENCH0001"
CHANNEL = "CBENCH0001"
EPISODES_PER_CHILD = 10


# -- data ---------------------------------------------------------------------------------

def fill(url: str, children: int) -> float:
    from sqlalchemy import insert, text

    from store.db import make_engine, upgrade
    from store.models import Base, Child, Episode

    if url.startswith("postgresql"):
        eng = make_engine(url)
        with eng.begin() as c:
            c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        eng.dispose()
    upgrade(url)
    eng = make_engine(url)
    now = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    chunk = 5000
    with eng.begin() as c:
        for start in range(0, children, chunk):
            rows = [dict(child_ref=f"B{i:07d}", label="ZZ", date_of_birth=date(2010, 1, 1) + timedelta(days=i % 2000),
                         gender="unknown", looked_after=i % 3 != 0, placement_type="foster_care", out_of_area=False,
                         worker_user_id=None, created_at=now, updated_at=now)
                    for i in range(start, min(children, start + chunk))]
            c.execute(insert(Child), rows)
        ids = [r[0] for r in c.execute(text("SELECT id FROM children ORDER BY id"))]
        batch = []
        for cid in ids:
            for k in range(EPISODES_PER_CHILD):
                s = now - timedelta(days=40 + 30 * k, hours=cid % 24)
                r = s + timedelta(hours=6)
                batch.append(dict(child_id=cid, episode_type="missing", started_at=s, missing_from="", placement_type="foster_care",
                                  police_ref="", risk_grade="low", reported_by="UIMPORT", returned_at=r, found_location="Park",
                                  reasons="", cse_concern=False, cce_concern=False, ri_outcome="completed",
                                  ri_at=r + timedelta(hours=30), ri_by="",
                                  source="import", created_at=r, updated_at=r))
            if len(batch) >= 20000:
                c.execute(insert(Episode), batch)
                batch = []
        if batch:
            c.execute(insert(Episode), batch)
    if url.startswith("postgresql"):
        with eng.begin() as c:
            c.execute(text("ANALYZE"))
    eng.dispose()
    return time.perf_counter() - t0


# -- server process -------------------------------------------------------------------------

def serve(mode: str, url: str, port: int) -> None:
    import logging

    import uvicorn
    from slack_bolt import App
    from slack_sdk import WebClient

    logging.disable(logging.WARNING)
    from bot.serve import create_web_app
    from tests.slack_stub import SlackStub

    stub = SlackStub().start()
    client = WebClient(token="xoxb-bench", base_url=stub.url)
    if mode == "bare":
        app = App(signing_secret=SECRET, client=client, process_before_response=True, token_verification_enabled=False)

        @app.command("/missing")
        def bare(ack):
            ack({"response_type": "ephemeral", "text": "ok"})

        services = None
        web = create_web_app(type("S", (), {"engine": None})(), app)
    else:
        from handlers.slack.app import build_app
        from bot.context import build_services
        from bot.settings import Settings

        settings = Settings(_env_file=None, database_url=url, slack_bot_token="xoxb-bench", slack_signing_secret=SECRET,
                            slack_api_url=stub.url, alert_channel=CHANNEL, authorized_users=[USER])
        services = build_services(settings, migrate=False, client=client)
        app = build_app(services, token_verification=False)
        try:
            from scheduler.jobs import start_scheduler

            start_scheduler(services)
        except ModuleNotFoundError:
            pass
        web = create_web_app(services, app)
    uvicorn.run(web, host="127.0.0.1", port=port, log_level="error", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(mode: str, url: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--db", url, "--port", str(port)], cwd=ROOT)
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}/slack/events", content=b"", timeout=1)
            return proc, f"http://127.0.0.1:{port}/slack/events"
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("server did not start")


# -- client -----------------------------------------------------------------------------------

def body_for(i: int) -> str:
    return urlencode({"token": "x", "team_id": "T0001", "team_domain": "bench", "channel_id": CHANNEL,
                      "channel_name": "bench", "user_id": USER, "user_name": "bench", "command": "/missing",
                      "text": f"report B{i:07d} at 10m ago risk medium", "api_app_id": "A0BENCH",
                      "is_enterprise_install": "false", "response_url": "https://hooks.slack.com/commands/T0001/1/x",
                      "trigger_id": "1.1.bench"})


def fire(endpoint: str, n: int, concurrency: int, children: int, offset: int = 0) -> tuple[float, list[float], int]:
    import httpx
    from slack_sdk.signature import SignatureVerifier

    verifier = SignatureVerifier(SECRET)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    counter = iter(range(offset, offset + n))
    local = threading.local()

    def one(_):
        nonlocal errors
        i = next(counter)
        body = body_for((i * 7919) % children)  # spread over the stored children, each reported once
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body)}
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=30)
        t = time.perf_counter()
        try:
            resp = local.client.post(endpoint, content=body.encode(), headers=headers)
            ok = resp.status_code == 200 and ("missing since" in resp.text or resp.text.find('"ok"') >= 0)
        except httpx.HTTPError:
            ok = False
        dt = time.perf_counter() - t
        with lock:
            latencies.append(dt)
            if not ok:
                errors += 1

    with ThreadPoolExecutor(concurrency) as pool:
        t0 = time.perf_counter()
        list(pool.map(one, range(n)))
        elapsed = time.perf_counter() - t0
    return elapsed, latencies, errors


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", choices=["full", "bare"])
    ap.add_argument("--db")
    ap.add_argument("--port", type=int)
    ap.add_argument("--sizes", default="10000,100000", help="numbers of children (10 episodes each)")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.port)
        return
    tmp = tempfile.TemporaryDirectory(prefix="missing-bench-")
    url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(tmp.name) / 'bench.sqlite3'}"
    url = url.replace("postgresql://", "postgresql+psycopg://", 1)
    backend = url.split(":", 1)[0]
    print(f"missing-bot HTTP benchmark: {args.requests} signed `/missing report` requests, "
          f"{args.concurrency} concurrent clients, {os.cpu_count()} cores, database {backend}")
    print(f"{'stored':>32} | {'app':>5} | {'req/s':>7} | {'p50 ms':>7} | {'p99 ms':>7} | errors")
    for size in [int(s) for s in args.sizes.split(",")]:
        if url.startswith("sqlite"):
            Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
        seconds = fill(url, size)
        label = f"{size:,} children / {size * EPISODES_PER_CHILD:,} episodes"
        results = {}
        for mode in ("bare", "full"):
            proc, endpoint = start_server(mode, url)
            try:
                n = min(args.requests, size - 100)
                fire(endpoint, 50, args.concurrency, size, offset=n)  # warm-up, other children
                elapsed, lat, errors = fire(endpoint, n, args.concurrency, size)
            finally:
                proc.terminate()
                proc.wait(10)
            results[mode] = n / elapsed
            print(f"{label:>32} | {mode:>5} | {n / elapsed:7.0f} | {pct(lat, 50):7.1f} | {pct(lat, 99):7.1f} | {errors}")
        print(f"{'':>32} | ratio full/bare throughput: {results['full'] / results['bare']:.2f} "
              f"(data loaded in {seconds:.0f} s)")


if __name__ == "__main__":
    main()
