"""One table: /missing against the framework's floor, the clock's idle sweep, the report, the import (issue 14).

    python benchmarks/bench.py                                   # SQLite, 1e5 and 1e6 episodes
    python benchmarks/bench.py --sizes 1e5 --requests 200        # quicker
    DATABASE_URL=postgresql://postgres@127.0.0.1/bench python benchmarks/bench.py   # SQLite, then PostgreSQL

DATABASE_URL names a PostgreSQL database that is EMPTIED and filled (SQLite always runs, on a
temporary file). For each database and size the history is loaded (benchmarks/benchdata.py: ten
episodes per child; the same 20 children missing now and 40 returns owed an interview at every
size), then four servers run side by side on the bot's own stack (uvicorn + FastAPI + Bolt):

- bare:  a Bolt app whose listener only acks;
- floor: bare plus one indexed query (a child by case reference) through a pooled connection;
- write floor: bare plus one durable INSERT transaction through a pooled connection (the yardstick
         for `report` and `found`, which commit);
- bot:   `missing-bot serve` as deployed (the clock's scheduler and deliverer running), posting to
         the Slack stand-in on loopback.

Signed slash commands go one at a time, interleaved bare / floor / (write floor) / bot so that all see
the same machine; p50 and p99 per command. `report` and `found` record and end real episodes. Then:
a sweep with nothing new due (in process, median of 5), `missing-bot report` over every episode
(wall time and peak memory of the process), and `missing-bot import` of 100,000 rows into an
empty database, then of 500,000 (its peak memory beside: bounded, not growing with the file;
peaks read by GNU time, /usr/bin/time); `serve`'s resident memory when idle,
beside the bare app's; 1,000 alerts falling due at once, under `serve` and under `tick`, beside
the fake Slack answering the same posts alone (`--burst-only` for just those; `--commands-only`
for just the slash commands and idle memory, to compare two checkouts quickly). Ratios are printed
beside the goals of issue 14; nothing here asserts a time."""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request  # resolved by name in the bare app's route (annotations are strings here)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

SECRET = "bench-signing-secret"
USER = "UBENCH0001"
CHANNEL = "CBENCH0001"
TRIGGERS = __import__("itertools").count(1)
GOALS = {"floor": 1.3, "due_growth": 1.1, "sweep_ms": 10, "report_s": 5, "report_mb": 300, "import_s": 5,
         "idle_mem": 1.5}


# -- the four servers (each its own process) ----------------------------------------------------

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
    if mode in ("bare", "floor", "write"):
        app = App(signing_secret=SECRET, client=client, process_before_response=True, token_verification_enabled=False)
        if mode == "bare":
            @app.command("/missing")
            def bare(ack):
                ack({"response_type": "ephemeral", "text": "ok"})
        elif mode == "write":
            from sqlalchemy import text

            from store.db import make_engine

            engine = make_engine(url)  # as the bot's: SQLite's BEGIN IMMEDIATE, each commit durable
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE IF NOT EXISTS bench_writes (ref VARCHAR(64), at VARCHAR(40))"))
            insert = text("INSERT INTO bench_writes (ref, at) VALUES (:ref, :at)")

            @app.command("/missing")
            def write_floor(ack, body):
                ref = body.get("text", "").split()[-1]
                with engine.begin() as conn:
                    conn.execute(insert, {"ref": ref, "at": datetime.now(timezone.utc).isoformat()})
                ack({"response_type": "ephemeral", "text": f"ok {ref}"})
        else:
            from sqlalchemy import text

            from store.db import make_engine

            engine = make_engine(url)
            query = text("SELECT id, label FROM children WHERE child_ref = :ref")

            @app.command("/missing")
            def floor(ack, body):
                ref = body.get("text", "").split()[-1]
                with engine.connect() as conn:
                    row = conn.execute(query, {"ref": ref}).first()
                ack({"response_type": "ephemeral", "text": f"ok {row[1] if row else '-'}"})
        web = plain_web_app(app)
    else:
        from handlers.slack.app import build_app
        from bot.context import build_services
        from bot.settings import Settings
        from scheduler.jobs import start_scheduler

        settings = Settings(_env_file=None, database_url=url, slack_bot_token="xoxb-bench", slack_signing_secret=SECRET,
                            slack_api_url=stub.url, alert_channel=CHANNEL, authorized_users=[USER])
        services = build_services(settings, migrate=False, client=client)
        app = build_app(services, token_verification=False, verified_by_edge=True)  # as serve builds it
        start_scheduler(services)
        web = create_web_app(services, app)
    uvicorn.run(web, host="127.0.0.1", port=port, log_level="error", access_log=False)


def plain_web_app(app):
    """The serving stack without the bot's edge checks (bot/edge.py): FastAPI, Bolt in a thread."""
    from fastapi import FastAPI
    from fastapi.concurrency import run_in_threadpool
    from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response

    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @web.post("/slack/events")
    async def events(request: Request):
        body = await request.body()
        return to_starlette_response(await run_in_threadpool(app.dispatch, to_bolt_request(request, body)))

    return web


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, mode: str, url: str) -> None:
        import httpx

        self.mode = mode
        port = free_port()
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--db", url, "--port", str(port)],
                                     cwd=ROOT)
        self.endpoint = f"http://127.0.0.1:{port}/slack/events"
        self.http = httpx.Client(timeout=30)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                self.http.post(self.endpoint, content=b"", timeout=1)
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise SystemExit(f"the {mode} server did not start")

    def command(self, text: str) -> tuple[float, str]:
        from slack_sdk.signature import SignatureVerifier

        body = urlencode({"token": "x", "team_id": "T0001", "team_domain": "bench", "channel_id": CHANNEL,
                          "channel_name": "bench", "user_id": USER, "user_name": "bench", "command": "/missing",
                          "text": text, "api_app_id": "A0BENCH", "is_enterprise_install": "false",
                          "response_url": "https://hooks.slack.com/commands/T0001/1/x",
                          # unique per request, as Slack's are (the bot refuses a replayed request)
                          "trigger_id": f"{next(TRIGGERS)}.1.bench"})
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
                   "X-Slack-Signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body)}
        t = time.perf_counter()
        resp = self.http.post(self.endpoint, content=body.encode(), headers=headers)
        elapsed = time.perf_counter() - t
        if resp.status_code != 200:
            raise SystemExit(f"{self.mode}: HTTP {resp.status_code} for {text!r}")
        return elapsed, resp.text

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.http.close()


# -- measuring ---------------------------------------------------------------------------------------

def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] * 1000


def run_child(argv: list[str], env: dict) -> tuple[float, float, str]:
    """Run a process to the end: (wall seconds, peak resident MB, stderr).

    The peak comes from GNU time, which starts the command itself: Linux counts a child's peak
    from before its exec, so a child of this (large) process would report this process's size."""
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t = time.perf_counter()
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        elapsed = time.perf_counter() - t
        if proc.returncode:
            raise SystemExit(f"{argv[1:3]} failed: {proc.stderr[-500:]}")
        return elapsed, int(rss.read().split()[-1]) / 1024, proc.stderr


def measure_commands(url: str, episodes: int, requests: int) -> dict:
    from benchdata import OPEN, OWED, child_ref

    children = episodes // 10
    servers = {mode: Server(mode, url) for mode in ("bare", "floor", "write", "bot")}
    out: dict = {"bare": [], "floor": [], "write": []}
    try:
        # Warm up each (imports, pools, caches), then idle memory.
        for i in range(20):
            for s in servers.values():
                s.command(f"help {child_ref(OPEN + OWED + i)}" if s.mode != "bot" else "help")
        time.sleep(1)
        out["rss"] = {mode: s.rss_mb() for mode, s in servers.items()}
        spread = max(1, (children - OPEN - OWED - 1) // (requests + 1))
        targets = [child_ref(OPEN + OWED + 1 + i * spread) for i in range(requests)]
        plan = [("status", lambda i: f"status {targets[i]}"), ("open", lambda i: "open"),
                ("due", lambda i: "due"), ("report", lambda i: f"report {targets[i]} at 10m ago risk medium"),
                ("found", lambda i: f"found {targets[i]}")]
        expect = {"status": "Episodes:", "open": "missing now", "due": "Return interviews",
                  "report": "Recorded:", "found": "returned"}
        for name, text in plan:
            bot = []
            for i in range(requests):
                ref = targets[i]
                out["bare"].append(servers["bare"].command(f"status {ref}")[0])
                out["floor"].append(servers["floor"].command(f"status {ref}")[0])
                if name in ("report", "found"):
                    out["write"].append(servers["write"].command(f"status {ref}")[0])
                elapsed, body = servers["bot"].command(text(i))
                if expect[name] not in body:
                    raise SystemExit(f"bot: unexpected answer to {text(i)!r}: {body[:300]}")
                bot.append(elapsed)
            out[name] = bot
    finally:
        for s in servers.values():
            s.stop()
    return out


def measure_sweep(url: str) -> float:
    """Median ms of a sweep with nothing new due (after one that fires what the history makes due)."""
    import logging

    from slack_sdk import WebClient

    from bot.context import build_services
    from bot.settings import Settings
    from tests.slack_stub import SlackStub
    from scheduler.sweep import sweep

    logging.disable(logging.WARNING)
    stub = SlackStub().start()
    settings = Settings(_env_file=None, database_url=url, slack_bot_token="xoxb-bench", slack_api_url=stub.url,
                        alert_channel=CHANNEL)
    services = build_services(settings, migrate=False, client=WebClient(token="xoxb-bench", base_url=stub.url))
    try:
        sweep(services)  # whatever the loaded history makes due, fired and delivered
        sweep(services)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            result = sweep(services)
            times.append(time.perf_counter() - t)
            assert result.enqueued == 0 and not result.errors, result.summary()
        return statistics.median(times) * 1000
    finally:
        services.engine.dispose()
        stub.stop()
        logging.disable(logging.NOTSET)


BURST = 1000  # alerts falling due at one instant
TICK = 60  # seconds between sweeps in `serve` (scheduler/jobs.py)


def burst_history(url: str, due: datetime) -> None:
    """An empty database plus BURST children, each missing since exactly 24 hours before `due`: at
    `due` each crosses the first long-missing threshold, one alert apiece, all at once."""
    from datetime import timedelta

    from sqlalchemy import insert

    from benchdata import reset
    from store.db import make_engine
    from store.models import Child, Episode

    reset(url)
    engine = make_engine(url)
    started = due - timedelta(hours=24)
    with engine.begin() as c:
        c.execute(insert(Child), [dict(id=i, child_ref=f"X{i:07d}", label="ZZ", looked_after=True, created_at=started,
                                       updated_at=started) for i in range(1, BURST + 1)])
        c.execute(insert(Episode), [dict(child_id=i, started_at=started, risk_grade="medium", reported_by="UBENCH0001",
                                         source="import", created_at=started, updated_at=started)
                                    for i in range(1, BURST + 1)])
    engine.dispose()


def measure_burst(url: str, mode: str) -> dict:
    """BURST alerts due at the instant a sweep runs. mode "serve": the background of `serve` (the
    minute's sweep and the deliverer thread, scheduler/jobs.py); "tick": one sweep in this thread,
    as `missing-bot tick` (cron) runs it. Returns seconds after they fell due: when the sweep had
    queued them, and when the fake Slack answered the first, the 501st and the last post (None if
    not within 2.5 ticks: left for a later tick); and the fake Slack's floor, the same BURST
    chat.postMessage calls made directly with the same WebClient one after another (the lower of
    two runs, after the bot's)."""
    import logging
    from datetime import timedelta

    from slack_sdk import WebClient

    import scheduler.sweep as sweep_module
    from bot.context import build_services, utcnow
    from bot.settings import Settings
    from scheduler.jobs import shutdown_background, start_scheduler
    from tests.slack_stub import SlackStub

    class TimedStub(SlackStub):
        def _answer(self, path, headers, raw):
            answer = super()._answer(path, headers, raw)
            if path.endswith("chat.postMessage"):
                self.answered.append(time.time())
            return answer

    def floor(posts: list[dict]) -> float:
        t = time.perf_counter()
        for args in posts:
            client.chat_postMessage(**args)
        return time.perf_counter() - t

    logging.disable(logging.WARNING)
    stub = TimedStub().start()
    stub.answered = []
    client = WebClient(token="xoxb-bench", base_url=stub.url)
    due = utcnow() + timedelta(seconds=1)
    burst_history(url, due)
    settings = Settings(_env_file=None, database_url=url, slack_bot_token="xoxb-bench", slack_api_url=stub.url,
                        alert_channel=CHANNEL)
    services = build_services(settings, migrate=False, client=client)
    queued: list[float] = []
    evaluate = sweep_module.evaluate

    def timed_evaluate(*args):  # the sweep's own evaluation, timed where it runs
        fired = evaluate(*args)
        queued.append(time.time())
        return fired

    sweep_module.evaluate = timed_evaluate
    time.sleep(max(0.0, (due - utcnow()).total_seconds()))
    try:
        if mode == "tick":
            sweep_module.sweep(services)
        else:
            scheduler = start_scheduler(services, sweep_seconds=TICK)  # its first sweep runs now
            deadline = time.monotonic() + 2.5 * TICK
            while len(stub.answered) < BURST and time.monotonic() < deadline:
                time.sleep(0.05)
            shutdown_background(scheduler)
    finally:
        sweep_module.evaluate = evaluate
        services.engine.dispose()
    got = sorted(stub.answered)
    posts = stub.posts()[:BURST]
    floors = [floor(posts), floor(posts)] if len(posts) == BURST else [float("nan")]
    stub.stop()
    logging.disable(logging.NOTSET)
    at = due.timestamp()

    def nth(n: int) -> float | None:
        return got[n - 1] - at if len(got) >= n else None

    return {"queued": queued[0] - at, "first": nth(1), "501st": nth(501), "last": nth(BURST), "floor": min(floors)}


def burst_rows(db: str, url: str, table: "Table") -> None:
    """The burst's rows of the table, for `serve` and for `tick`."""
    for mode in ("serve", "tick"):
        b = measure_burst(url, mode)
        ticks = {n: "not in this tick" if b[n] is None else f"{b[n]:.1f} s = {b[n] / TICK:.2f} tick" for n in ("501st", "last")}
        delivery = None if b["last"] is None else b["last"] - b["queued"]
        table.add(db, f"{BURST:,} due at once", f"{mode}: sweep queues them (s)", f"{b['queued']:.1f}", "", "", "")
        table.add(db, f"{BURST:,} due at once", f"{mode}: all posted, after queued / fake Slack alone (s)",
                  "-" if delivery is None else f"{delivery:.1f}", "", f"{b['floor']:.1f}",
                  "" if delivery is None else f"{delivery / b['floor']:.1f}x the fake Slack")
        ok = b["501st"] is not None and b["501st"] <= TICK
        table.add(db, f"{BURST:,} due at once", f"{mode}: 501st / last posted, after due", f"{ticks['501st']} / {ticks['last']}",
                  "", "", f"501st within one tick {verdict(ok)}")


def measure_import(url: str, rows: int, tmp: Path) -> tuple[float, float]:
    from benchdata import reset
    from import_bench import make_csv

    reset(url)
    path = tmp / "history.csv"
    path.write_bytes(make_csv(rows))
    env = {**os.environ, "DATABASE_URL": url, "ALERT_CHANNEL": CHANNEL, "TIMEZONE": "Europe/London"}
    seconds, mb, _ = run_child([sys.executable, "-m", "bot.cli", "import", str(path)], env)
    return seconds, mb


IMPORT_LARGE = 500_000
IMPORT_MEM_GROWTH = 1.1  # "a file of any size streams": the larger file's peak within 1.1x the smaller's


def import_memory_row(db: str, url: str, tmp: Path, table: "Table", small_mb: float) -> None:
    """`missing-bot import` of a file five times larger, its peak memory beside the 100,000-row
    import's: the file streams, so the peak must not grow with it (issue 14)."""
    seconds, mb = measure_import(url, IMPORT_LARGE, tmp)
    growth = mb / small_mb
    table.add(db, f"import {IMPORT_LARGE:,} rows", "missing-bot import (s / peak MB)", f"{seconds:.1f} / {mb:.0f}",
              "", "", f"peak {growth:.2f}x 100,000 rows' {verdict(growth <= IMPORT_MEM_GROWTH)}")


# -- the table ----------------------------------------------------------------------------------------

class Table:
    def __init__(self) -> None:
        self.rows: list[list[str]] = []

    def add(self, *cells) -> None:
        self.rows.append([str(c) for c in cells])
        print(" | ".join(self.rows[-1]), file=sys.stderr, flush=True)

    def markdown(self) -> str:
        header = ["database", "episodes", "measure", "bot", "bare", "floor", "against the goal"]
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        return "\n".join(lines)


def ms(values: list[float]) -> str:
    return f"{pct(values, 50):.1f} / {pct(values, 99):.1f}"


def verdict(ok: bool) -> str:
    return "ok" if ok else "**missed**"


def run_database(url: str, sizes: list[int], requests: int, table: Table, tmp: Path, burst_only: bool = False,
                 commands_only: bool = False) -> None:
    from benchdata import fill

    db = "PostgreSQL" if url.startswith("postgresql") else "SQLite"
    if burst_only:
        burst_rows(db, url, table)
        return
    env = {**os.environ, "DATABASE_URL": url, "TIMEZONE": "Europe/London"}
    if not commands_only:
        fill(url, 1000)
        sweep_small = measure_sweep(url)
        table.add(db, "1,000", "sweep, nothing due (ms)", f"{sweep_small:.1f}", "", "", "")
    p50: dict[tuple[str, int], float] = {}
    for size in sizes:
        seconds = fill(url, size)
        print(f"{db}: loaded {size:,} episodes in {seconds:.0f} s", file=sys.stderr, flush=True)
        sweep_ms = None if commands_only else measure_sweep(url)  # before the commands add open episodes and owed interviews
        got = measure_commands(url, size, requests)
        floor50, write50 = pct(got["floor"], 50), pct(got["write"], 50)
        table.add(db, f"{size:,}", "write floor: bare + one durable INSERT p50 / p99 (ms)", ms(got["write"]),
                  ms(got["bare"]), ms(got["floor"]), "")
        for name in ("status", "report", "found", "open", "due"):
            p50[(name, size)] = pct(got[name], 50)
            ratio = p50[(name, size)] / floor50
            note = f"{ratio:.2f}x floor {verdict(ratio <= GOALS['floor'] and pct(got[name], 99) < 50)}"
            if name in ("report", "found"):  # writes: against a durable write too
                ratio = p50[(name, size)] / write50
                note += f"; {ratio:.2f}x write floor {verdict(ratio <= GOALS['floor'] and pct(got[name], 99) < 50)}"
            table.add(db, f"{size:,}", f"/missing {name} p50 / p99 (ms)", ms(got[name]), ms(got["bare"]),
                      ms(got["floor"]), note)
        for name in ("open", "due"):
            if size != sizes[0]:
                growth = p50[(name, size)] / p50[(name, sizes[0])]
                table.add(db, f"{size:,}", f"/missing {name} p50 vs {sizes[0]:,}", f"{growth:.2f}x", "", "",
                          verdict(growth <= GOALS["due_growth"]))
        rss = got["rss"]
        table.add(db, f"{size:,}", "serve idle memory (MB)", f"{rss['bot']:.0f}", f"{rss['bare']:.0f}",
                  f"{rss['floor']:.0f}", f"{rss['bot'] / rss['bare']:.2f}x bare "
                                         f"{verdict(rss['bot'] / rss['bare'] <= GOALS['idle_mem'])}")
        if commands_only:
            continue
        table.add(db, f"{size:,}", "sweep, nothing due (ms)", f"{sweep_ms:.1f}", "", "",
                  f"{sweep_ms - sweep_small:+.1f} ms vs 1,000 {verdict(sweep_ms - sweep_small <= GOALS['sweep_ms'])}")
        seconds, mb, _ = run_child([sys.executable, "-m", "bot.cli", "report", "--from", "2000-01-01", "--format",
                                    "json", "-o", str(tmp / "report.json")], env)
        table.add(db, f"{size:,}", "missing-bot report, all episodes (s / peak MB)", f"{seconds:.1f} / {mb:.0f}", "", "",
                  verdict(seconds < GOALS["report_s"] and mb < GOALS["report_mb"]))
    if commands_only:
        return
    burst_rows(db, url, table)
    seconds, mb = measure_import(url, 100_000, tmp)
    table.add(db, "import 100,000 rows", "missing-bot import (s / peak MB)", f"{seconds:.1f} / {mb:.0f}", "", "",
              verdict(seconds < GOALS["import_s"]))
    import_memory_row(db, url, tmp, table, mb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--serve", choices=["bare", "floor", "write", "bot"], help=argparse.SUPPRESS)
    ap.add_argument("--db", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--sizes", default="1e5,1e6", help="episode counts, e.g. 1e5,1e6 (default)")
    ap.add_argument("--requests", type=int, default=300, help="requests per command and size (default 300)")
    ap.add_argument("--burst-only", action="store_true", help=f"only the {BURST:,} alerts due at once")
    ap.add_argument("--commands-only", action="store_true",
                    help="only the slash commands against bare, floor and write floor (and idle memory)")
    ap.add_argument("--databases", default="", help="sqlite,postgresql (default: SQLite, and PostgreSQL when "
                                                     "DATABASE_URL is set)")
    args = ap.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.port)
        return
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    pg = os.environ.get("DATABASE_URL", "")
    pg = pg.replace("postgresql://", "postgresql+psycopg://", 1) if pg.startswith("postgresql") else ""
    wanted = args.databases.split(",") if args.databases else ["sqlite"] + (["postgresql"] if pg else [])
    tmp_dir = tempfile.TemporaryDirectory(prefix="missing-bench-")
    tmp = Path(tmp_dir.name)
    table = Table()
    started = datetime.now(timezone.utc)
    print(f"missing-bot benchmark, {os.cpu_count()} cores, {args.requests} requests per command, one at a time",
          file=sys.stderr)
    for db in wanted:
        if db == "postgresql" and not pg:
            raise SystemExit("--databases postgresql needs DATABASE_URL=postgresql://...")
        url = pg if db == "postgresql" else f"sqlite:///{tmp / 'bench.sqlite3'}"
        run_database(url, sizes, args.requests, table, tmp, args.burst_only, args.commands_only)
        if db == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{tmp / 'bench.sqlite3'}{suffix}").unlink(missing_ok=True)
    minutes = (datetime.now(timezone.utc) - started).total_seconds() / 60
    load = os.getloadavg()[1]  # other work on the machine inflates every column alike; the ratios hold better
    print(f"\nMeasured {started:%Y-%m-%d} in {minutes:.0f} min on {os.cpu_count()} cores (load average {load:.1f} "
          f"at the end); p50 / p99 in ms over {args.requests} requests per command, one at a time; bare, floor, "
          f"write floor (beside report and found) and bot interleaved.\n")
    print(table.markdown())


if __name__ == "__main__":
    main()
