"""An invented sample for `missing-bot console --demo`: eight children, three months of episodes.

Every reference and label here is made up. Times are relative to now, so the demo always
shows a child missing right now, an overdue return interview and a persistent child."""
from __future__ import annotations

from datetime import date, timedelta

from bot.context import Services
from store.models import Child, Episode

CHILDREN = [
    # ref, label, dob, gender, looked_after, placement, out_of_area
    ("C1001", "JB", date(2011, 4, 23), "female", True, "la_residential", False),
    ("C1002", "KT", date(2010, 9, 2), "male", True, "independent_residential", True),
    ("C1003", "RM", date(2012, 1, 17), "female", True, "foster_care", False),
    ("C1004", "DS", date(2009, 6, 30), "male", True, "semi_independent", False),
    ("C1005", "AL", date(2013, 11, 5), "female", False, "home", False),
    ("C1006", "OW", date(2010, 3, 14), "male", False, "home", False),
    ("C1007", "PH", date(2011, 12, 1), "transgender", True, "foster_care", True),
    ("C1008", "EN", date(2012, 7, 19), "female", True, "la_residential", False),
]

# Across council boundaries (invented placements): ours placed in another area, another council's placed here.
PLACED = {"C1002": {"placed_in": "Derbyshire"}, "C1007": {"placed_by": "Nottinghamshire"}}

# ref, started (hours ago), duration hours (None: still missing), found at, RI (outcome, hours after return) or None, risk
EPISODES = [
    ("C1001", 26, None, "", None, "high"),
    ("C1001", 24 * 9, 14, "Friend's address", ("completed", 40), "medium"),
    ("C1001", 24 * 20, 30, "Bus station, city centre", ("completed", 90), "medium"),
    ("C1003", 24 * 2, 9, "Retail park", None, "medium"),
    ("C1003", 24 * 5, 6, "Bus station, city centre", None, "low"),
    ("C1003", 24 * 12, 20, "Known adult's flat", ("completed", 60), "high"),
    ("C1003", 24 * 25, 4, "Retail park", ("declined", 30), "low"),
    ("C1004", 24 * 4 + 3, 11, "Train station", None, "low"),
    ("C1005", 24 * 40, 5, "Grandparent's home", ("completed", 20), "no_apparent_risk"),
    ("C1006", 24 * 33, 50, "Out of area, another city", ("voided", 10), "medium"),
    ("C1007", 24 * 18, 3, "Park", ("completed", 70), "low"),
    ("C1007", 24 * 61, 8, "Park", ("completed", 100), "low"),
    ("C1008", 24 * 7, 16, "Bus station, city centre", ("completed", 50), "medium"),
    ("C1008", 24 * 70, 2, "Shopping centre", ("completed", 12), "low"),
]


def load_demo(services: Services) -> str:
    now = services.now()
    with services.sessions.begin() as s:
        kids = {}
        for ref, label, dob, gender, la, placement, ooa in CHILDREN:
            kids[ref] = Child(child_ref=ref, label=label, date_of_birth=dob, gender=gender, looked_after=la,
                              placement_type=placement, out_of_area=ooa, created_at=now - timedelta(days=90),
                              updated_at=now - timedelta(days=90), **PLACED.get(ref, {}))
            s.add(kids[ref])
        s.flush()
        for ref, ago, hours, found, ri, risk in EPISODES:
            start = (now - timedelta(hours=ago)).replace(second=0, microsecond=0)
            end = start + timedelta(hours=hours) if hours is not None else None
            child = kids[ref]
            s.add(Episode(child_id=child.id, episode_type="missing", started_at=start, missing_from="Placement",
                          placement_type=child.placement_type, looked_after=child.looked_after, risk_grade=risk, reported_by="UDEMO00001",
                          returned_at=end, found_location=found if end else "",
                          ri_outcome=ri[0] if ri else None, ri_at=end + timedelta(hours=ri[1]) if ri and end else None,
                          ri_by="Return interview worker" if ri else "", cse_concern=ref == "C1003",
                          cce_concern=ref == "C1004", source="demo", created_at=start, updated_at=end or start))
        from bot.protocol.meetings import Person, SeriesConfig
        from store.meetings import save_series

        series = SeriesConfig(location="Council House, Room 4 (invented)", first_date=(now - timedelta(days=100)).date(),
                              chair=Person(name="Missing coordinator", email="coordinator@example.org"),
                              attendees=[Person(name="Police missing persons unit", email="mispers@example.org"),
                                         Person(name="Return interview service", email="ri@example.org")])
        save_series(s, series, actor="UDEMO00001", now=now, source="demo",
                    channel=services.settings.alert_channel)
    return f"{len(CHILDREN)} children, {len(EPISODES)} episodes, a monthly monitoring meeting"
