"""The scheduled list rebuild and federation round, through the job framework."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from openhotline import domains
from openhotline.blocklist.models import ListVersion
from openhotline.bootstrap import build as build_services
from openhotline.config import FederationPeer, Settings
from openhotline.jobs.models import Job
from tests.blocklist.helpers import confirmed_case


def test_tick_queues_list_publish_and_federation_once(
    session_factory: sessionmaker[Session], settings: Settings
) -> None:
    handlers = domains.handlers()
    peers = {"NL": FederationPeer(base_url="http://127.0.0.1:9", api_key="k", public_key="x")}
    rt = build_services(
        settings.model_copy(update={"federation_peers": peers, "list_publish_interval_hours": 12})
    )
    for hook in domains.tick_hooks():
        if hook.__module__.startswith(("openhotline.blocklist", "openhotline.federation")):
            hook(rt)
            hook(rt)  # deduplicated within the interval
    with session_factory() as s:
        kinds = sorted(j.kind for j in s.execute(select(Job)).scalars())
    assert kinds == ["federation.run", "lists.publish"]
    with session_factory.begin() as s:
        confirmed_case(s, "http://listed.example.test/")
    handlers["lists.publish"](rt, {})
    handlers["federation.run"](rt, {})  # nothing queued: a no-op round
    with session_factory() as s:
        versions = s.execute(select(ListVersion.kind, ListVersion.entry_count)).all()
    assert sorted(versions) == [("hashes", 0), ("urls", 1)]
    off = build_services(settings)  # default: no schedule, no peers
    for hook in domains.tick_hooks():
        if hook.__module__.startswith(("openhotline.blocklist", "openhotline.federation")):
            hook(off)
    with session_factory() as s:
        assert len(s.execute(select(Job)).scalars().all()) == 2
