"""`status` through the serve process, on Teams and on Slack, each beside a bare app on the same stack.

    python benchmarks/teams_bench.py                 # 300 requests each
    python benchmarks/teams_bench.py --requests 1000

Four servers, each its own process, uvicorn + FastAPI:
- teams bare: the Teams SDK app (microsoft-teams-apps, our adapter and token checks) whose message
  handler only answers "ok" (one POST to the connector, as every Teams answer is);
- teams bot:  `missing-bot serve`'s web app with the Teams edge: `status C0001` in the personal chat;
- slack bare: a Bolt app whose listener only acks (benchmarks/bench.py's bare server);
- slack bot:  the same web app's /slack/events: `/missing status C0001`.
The fake token issuer and Bot Connector (tests/teams/) run in this process on loopback; every
activity carries a freshly signed token that the server validates (keys cached, as in production).
Requests go one at a time, interleaved across the four, so all see the same machine; p50 and p99
per server. Nothing here asserts a time."""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-signing-secret"
SLACK_USER = "UBENCH0001"
CHANNEL = "CBENCH0001"
TEAMS_USER = ("29:1bench-user", "Bench User", "00000000-0000-4000-8000-0000000be7c4")


def settings(url: str, stub_url: str, env: dict):
    from bot.settings import Settings

    return Settings(_env_file=None, database_url=url, slack_bot_token="xoxb-bench", slack_signing_secret=SECRET,
                    slack_api_url=stub_url, alert_channel=CHANNEL, authorized_users=[SLACK_USER, TEAMS_USER[2]],
                    teams_client_id=env["TEAMS_CLIENT_ID"], teams_client_secret=env["TEAMS_CLIENT_SECRET"],
                    teams_tenant_id=env["TEAMS_TENANT_ID"], teams_token_url=env["TEAMS_TOKEN_URL"],
                    teams_openid_url=env["TEAMS_OPENID_URL"], teams_token_issuer=env["TEAMS_TOKEN_ISSUER"])


def serve(mode: str, url: str, port: int) -> None:
    import asyncio
    import logging
    import warnings

    import uvicorn
    from fastapi import FastAPI
    from slack_bolt import App
    from slack_sdk import WebClient

    warnings.simplefilter("ignore")
    logging.disable(logging.WARNING)
    from bot.serve import create_web_app
    from tests.slack_stub import SlackStub

    stub = SlackStub().start()
    client = WebClient(token="xoxb-bench", base_url=stub.url)
    s = settings(url, stub.url, os.environ)
    if mode == "slack-bare":
        app = App(signing_secret=SECRET, client=client, process_before_response=True, token_verification_enabled=False)

        @app.command("/missing")
        def bare(ack):
            ack({"response_type": "ephemeral", "text": "ok"})

        sys.path.insert(0, str(ROOT / "benchmarks"))
        from bench import plain_web_app  # FastAPI + Bolt (its own signature check) in a thread, no bot edge

        web = plain_web_app(app)
    elif mode == "teams-bare":
        from handlers.teams.sdk import cloud_for, new_app

        web = FastAPI()
        teams = new_app(client_id=s.teams_client_id, client_secret=s.teams_client_secret, tenant_id=s.teams_tenant_id,
                        cloud=cloud_for(s), token_url=s.teams_token_url, web=web)

        @teams.on_message
        async def bare_teams(ctx):
            await ctx.send("ok")

        asyncio.run(teams.initialize())
    else:
        from handlers.slack.app import build_app
        from bot.context import build_services

        services = build_services(s, migrate=False, client=client)
        web = create_web_app(services, build_app(services, token_verification=False))
    uvicorn.run(web, host="127.0.0.1", port=port, log_level="error", access_log=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(mode: str, url: str, env: dict) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    proc = subprocess.Popen([sys.executable, __file__, "--serve", mode, "--db", url, "--port", str(port)], cwd=ROOT,
                            env={**os.environ, **env})
    path = "/api/messages" if mode.startswith("teams") else "/slack/events"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://127.0.0.1:{port}{path}", content=b"{}", timeout=1)
            return proc, f"http://127.0.0.1:{port}{path}"
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{mode} did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve")
    parser.add_argument("--db")
    parser.add_argument("--port", type=int)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.db, args.port)
        return

    import httpx
    from slack_sdk.signature import SignatureVerifier

    from bot.context import build_services
    from handlers.commands import run_command
    from store.db import upgrade
    from tests.teams import activities as acts
    from tests.teams.connector import FakeConnector
    from tests.slack_stub import SlackStub
    from tests.teams.issuer import FakeIssuer

    issuer = FakeIssuer().start()
    connector = FakeConnector(issuer).start()
    env = {"TEAMS_CLIENT_ID": issuer.client_id, "TEAMS_CLIENT_SECRET": issuer.client_secret,
           "TEAMS_TENANT_ID": issuer.tenant_id, "TEAMS_TOKEN_URL": f"{issuer.base}/{{tenant}}/oauth2/v2.0/token",
           "TEAMS_OPENID_URL": issuer.openid_metadata_url, "TEAMS_TOKEN_ISSUER": issuer.issuer}
    tmp = tempfile.mkdtemp()
    url = f"sqlite:///{tmp}/bench.sqlite3"
    upgrade(url)
    stub = SlackStub().start()
    services = build_services(settings(url, stub.url, env), migrate=False)
    for text in ("child C0001 label AB dob 2012-03-04", "report C0001 at 2h ago from Oak House risk medium",
                 "found C0001 at 1h ago"):
        run_command(services, user_id=SLACK_USER, channel_id=CHANNEL, text=text, is_admin=False)
    services.engine.dispose()

    modes = ["teams-bare", "teams-bot", "slack-bare", "slack-bot"]
    servers = {m: start(m, url, env) for m in modes}
    verifier = SignatureVerifier(SECRET)
    client = httpx.Client(timeout=30)

    def slack(endpoint: str) -> int:
        body = urlencode({"token": "x", "team_id": "T0001", "channel_id": CHANNEL, "user_id": SLACK_USER,
                          "command": "/missing", "text": "status C0001", "api_app_id": "A0BENCH",
                          "trigger_id": f"1.{time.monotonic_ns()}.bench",
                          "response_url": "https://hooks.slack.com/commands/T0001/1/x"})
        ts = str(int(time.time()))
        return client.post(endpoint, content=body.encode(), headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body)}).status_code

    def teams(endpoint: str) -> int:
        activity = acts.message("status C0001", issuer=issuer, service_url=connector.url, user=TEAMS_USER)
        token = issuer.mint(service_url=connector.url)
        return client.post(endpoint, json=activity, headers={"Authorization": f"Bearer {token}"}).status_code

    times: dict[str, list[float]] = {m: [] for m in modes}
    errors = {m: 0 for m in modes}
    try:
        for m in modes:  # warm up: keys fetched, tokens granted, connections open
            for _ in range(10):
                (teams if m.startswith("teams") else slack)(servers[m][1])
        for _ in range(args.requests):
            for m in modes:
                t = time.perf_counter()
                status = (teams if m.startswith("teams") else slack)(servers[m][1])
                times[m].append(time.perf_counter() - t)
                errors[m] += status != 200
        answered = sum("C0001" in str(c.body) for c in connector.delivered())
    finally:
        for proc, _ in servers.values():
            proc.terminate()
        for proc, _ in servers.values():
            proc.wait(10)
        issuer.stop()
        connector.stop()
        stub.stop()

    def pct(xs: list[float], q: float) -> float:
        return statistics.quantiles(xs, n=100)[q - 1] * 1000 if q < 100 else max(xs) * 1000

    print(f"`status` one request at a time, {args.requests} each, SQLite, interleaved")
    print(f"{'server':<12} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for m in modes:
        print(f"{m:<12} {pct(times[m], 50):8.1f} {pct(times[m], 99):8.1f} {errors[m]:7d}")
    print(f"(teams bot: {answered} status cards about C0001 reached the connector)")
    for platform in ("teams", "slack"):
        bare, bot = times[f"{platform}-bare"], times[f"{platform}-bot"]
        print(f"{platform}: bot/bare p50 {statistics.median(bot) / statistics.median(bare):.2f}x")


if __name__ == "__main__":
    main()
