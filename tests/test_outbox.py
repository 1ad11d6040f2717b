"""The outbox's unique key: a second enqueue of the same key adds nothing, and says so."""
from sqlalchemy import func, select

from store.models import Outbox
from store.outbox import enqueue


def test_enqueue_is_idempotent_per_key(services, clock):
    with services.sessions.begin() as s:
        assert enqueue(s, key="k1", kind="t", channel="C1", text="one", now=clock()) is True
        assert enqueue(s, key="k1", kind="t", channel="C1", text="again", now=clock()) is False
        assert enqueue(s, key="k2", kind="t", channel="", text="nowhere", now=clock()) is False
    with services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Outbox)) == 1
