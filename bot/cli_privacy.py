"""`missing-bot sar <child-ref> [-o FILE]` and `missing-bot retention [--apply]`: the council's
data-protection duties on the server (store/privacy.py says what each holds and does)."""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("sar", help="everything held about one child (subject access request), as JSON and HTML")
    p.add_argument("child_ref")
    p.add_argument("-o", "--output", default="", metavar="FILE",
                   help="write FILE.json and FILE.html (default: the JSON on standard output)")
    p.set_defaults(func=_sar)
    p = sub.add_parser("retention", help="list the children past the retention rule; --apply anonymises them")
    p.add_argument("--apply", action="store_true", help="erase them (one transaction and one audit row per child)")
    p.set_defaults(func=_retention)


def _sar(args, services) -> int:
    from sqlalchemy import select

    from store.audit import audit
    from store.models import Child
    from store.privacy import sar_bundle, sar_html

    now = services.now()
    with services.sessions.begin() as s:
        child = s.scalar(select(Child).where(Child.child_ref == args.child_ref.strip()))
        if child is None:
            print(f"missing-bot: no child with reference {args.child_ref[:64]!r}", file=sys.stderr)
            return 1
        bundle = sar_bundle(s, child, now)
        audit(s, actor="cli", action="child.sar", entity="child", entity_id=child.id, now=now,
              after={"output": "file" if args.output else "stdout"})
    data = json.dumps(bundle, indent=2, ensure_ascii=False, sort_keys=True)
    if not args.output:
        print(data)
        return 0
    base = Path(args.output)
    if base.suffix in (".json", ".html"):
        base = base.with_suffix("")
    base.with_suffix(".json").write_text(data + "\n", encoding="utf-8")
    base.with_suffix(".html").write_text(sar_html(bundle), encoding="utf-8")
    print(f"wrote {base.with_suffix('.json')} and {base.with_suffix('.html')}")
    return 0


def _retention(args, services) -> int:
    from store.models import Child
    from store.privacy import due_for_erasure, erase_child

    now = services.now()
    today = now.astimezone(services.zone).date()
    p = services.protocol
    with services.sessions() as s:
        due, undated = due_for_erasure(s, p, today)
    print(f"retention rule: looked-after children until their {p.retention_years_looked_after}th birthday, "
          f"others until their {p.retention_years_other}th")
    for d in due:
        print(f"{d.child_ref}\t{'looked-after' if d.looked_after else 'not looked-after'}\tkept until {d.keep_until}")
    print(f"{len(due)} child(ren) past the rule" + (f"; {undated} without a date of birth (not assessed)" if undated else ""))
    if not args.apply:
        if due:
            print("nothing changed; run with --apply to erase them")
        return 0
    erased = 0
    for d in due:
        with services.sessions.begin() as s:  # one transaction per child
            child = s.get(Child, d.child_id)
            if child is None or child.child_ref != d.child_ref:
                continue
            erase_child(s, child, actor="cli", now=now, zone=services.zone)
            erased += 1
    print(f"erased {erased} child(ren)")
    return 0
