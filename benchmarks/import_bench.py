"""Time the CSV import of an invented history: 100,000 episodes of 10,000 children by default.

    python benchmarks/import_bench.py                      # SQLite file in a temp directory
    python benchmarks/import_bench.py --rows 100000 --database-url postgresql://postgres@127.0.0.1/bench

The database must be empty (SQLite: a fresh temp file is used; PostgreSQL: pass an empty
database, which is migrated first). Prints parse+check+write seconds and rows per second for
the first import, then for re-importing the same file (which must change nothing)."""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.context import Ctx, Services  # noqa: E402
from bot.protocol.csvimport import COLUMNS  # noqa: E402
from bot.protocol.words import GENDERS, PLACEMENT_TYPES, RI_OUTCOMES  # noqa: E402

NOW = datetime(2026, 11, 19, 10, 0, tzinfo=timezone.utc)


def make_csv(rows: int, children: int | None = None, seed: int = 903, start: datetime = datetime(2023, 1, 1, 8, 0)
             ) -> bytes:
    """An invented history: each child's episodes a few days apart, never overlapping."""
    rnd = random.Random(seed)
    children = children or max(1, rows // 10)
    lines = [",".join(COLUMNS)]
    per_child = [rows // children + (1 if i < rows % children else 0) for i in range(children)]
    for i, n in enumerate(per_child):
        ref = f"INV{i:06d}"
        dob = f"{rnd.randint(2006, 2016)}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
        gender, placement = rnd.choice(GENDERS), rnd.choice(PLACEMENT_TYPES)
        t = start + timedelta(minutes=rnd.randint(0, 60 * 24 * 30))
        for _ in range(n):
            hours = rnd.choice((2, 5, 9, 20, 30, 80, 200))
            back = t + timedelta(hours=hours)
            ri = rnd.choice(RI_OUTCOMES + ("",))
            ri_at = (back + timedelta(hours=rnd.randint(1, 120))).strftime("%Y-%m-%d %H:%M") if ri else ""
            lines.append(",".join([
                ref, f"L{i % 100}", dob, gender, rnd.choice("YN"), placement, rnd.choice("YN"), rnd.choice("MA"),
                "placement", t.strftime("%d/%m/%Y %H:%M"), back.strftime("%Y-%m-%d %H:%M"),
                rnd.choice(("low", "medium", "high", "")), f"PR{i}-{t:%y%m%d}", rnd.choice(("Park", "Town centre", "")),
                "", rnd.choice("NNNY"), rnd.choice("NNNY"), ri, ri_at]))
            t = back + timedelta(hours=rnd.randint(12, 24 * 6))
    return ("\n".join(lines) + "\n").encode()


def run(services: Services, data: bytes):
    from store.db import transaction
    from store.imports import import_csv

    t0 = time.perf_counter()
    with transaction(services.sessions) as session:
        ctx = Ctx(services=services, session=session, user_id="cli:bench", channel_id="", now=NOW, is_admin=True)
        result = import_csv(ctx, data)
    return result, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--children", type=int, default=None)
    ap.add_argument("--database-url", default="")
    ap.add_argument("--start", type=datetime.fromisoformat, default=datetime(2023, 1, 1, 8, 0),
                    help="local time the invented history starts (default 2023-01-01; 2026-05-20 makes it recent, "
                         "so the clock's on_import hook evaluates most children)")
    args = ap.parse_args(argv)

    from bot.context import build_services
    from bot.settings import Settings
    from store.db import upgrade

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{tmp.name}/bench.sqlite3"
    settings = Settings(_env_file=None, database_url=url)
    upgrade(settings.database_url)
    services = build_services(settings, migrate=False, clock=lambda: NOW)

    t0 = time.perf_counter()
    data = make_csv(args.rows, args.children, start=args.start)
    print(f"generated {args.rows} rows ({len(data) / 2**20:.1f} MB) in {time.perf_counter() - t0:.1f} s")
    backend = services.engine.dialect.name
    result, secs = run(services, data)
    print(f"{backend}: first import: {result.summary()}")
    print(f"{backend}: first import: {secs:.1f} s, {result.rows / secs:,.0f} rows/s")
    result, secs = run(services, data)
    print(f"{backend}: re-import: {result.summary()}")
    print(f"{backend}: re-import: {secs:.1f} s, {result.rows / secs:,.0f} rows/s")
    from datetime import date

    from bot.cli_figures import load_figures

    t0 = time.perf_counter()
    with services.sessions() as session:
        fig = load_figures(session, services, args.start.date(), date(2026, 11, 19), now=NOW)
    print(f"{backend}: report over all {fig['episodes']} episodes: {time.perf_counter() - t0:.1f} s")
    services.engine.dispose()
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
