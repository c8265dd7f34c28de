"""The lists' change tokens: every write that changes a source moves its token, so a
publish that skips on an equal token never keeps a stale list (issue 14, migration 1170).

Each path test publishes, changes the source through the real code path (or raw SQL, which
no service could intercept), and asserts that the next publish makes a new version with
the change in it: with a token that did not move, the publish would return the old version
and the test would fail.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from openhotline.assessment.banks import confirmed_bank
from openhotline.assessment.policy import policy_from
from openhotline.blocklist import service
from openhotline.blocklist.models import ListEntry, ListKind, ListSourceChanges, ListVersion
from openhotline.cases.lifecycle import LISTABLE
from openhotline.cases.models import Case, CaseStatus
from openhotline.cases.service import move
from openhotline.matching import service as matching
from openhotline.matching.formats import Row
from openhotline.matching.models import BankEntry, HashBank, HashType
from openhotline.media.models import Item, ItemStatus
from openhotline.reportremove import service as removal
from openhotline.reportremove.store import OneItemStore
from openhotline.trace.models import HostingTrace
from tests.blocklist.helpers import confirmed_case, confirmed_item
from tests.console_fixtures import png_bytes
from tests.reportremove.helpers import LIMITS

URLS, HASHES = ListKind.URLS, ListKind.HASHES
Factory = sessionmaker[Session]


def _publish(
    factory: Factory, exclude: tuple[str, ...] = (), provenance: str = "Hotline"
) -> dict[ListKind, int]:
    with factory.begin() as s:
        out = service.publish_lists(s, exclude_countries=exclude, provenance=provenance)
        return {kind: v.version for kind, v in out.items()}


def _counters(factory: Factory) -> tuple[int, int]:
    with factory.begin() as s:
        service.source_token(s, URLS)  # creates the row where a test truncated it
        row = s.execute(select(ListSourceChanges.urls, ListSourceChanges.hashes)).one()
        return int(row[0]), int(row[1])


def _live(factory: Factory, kind: ListKind) -> list[tuple[object, ...]]:
    with factory() as s:
        return [
            tuple(r)
            for r in s.execute(
                select(ListEntry.key, ListEntry.url, ListEntry.pdq, ListEntry.classification)
                .where(ListEntry.kind == kind, ListEntry.removed_version.is_(None))
                .order_by(ListEntry.key)
            )
        ]


def _changed(
    factory: Factory,
    kind: ListKind,
    change: Callable[[Session], object],
    *,
    exclude: tuple[str, ...] = (),
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Publish, apply `change` in its own transaction, publish again: the change must make
    exactly one new version of `kind` and leave the other list's counter alone.
    Returns the live entries before and after."""
    before_versions = _publish(factory, exclude)
    before = _live(factory, kind)
    counters = _counters(factory)
    with factory.begin() as s:
        change(s)
    moved = _counters(factory)
    other = 1 if kind is URLS else 0
    assert moved[other] == counters[other], "an unrelated list's counter moved"
    after_versions = _publish(factory, exclude)
    assert after_versions[kind] == before_versions[kind] + 1, "the change was not published"
    after = _live(factory, kind)
    assert after != before
    return before, after


# ---- the URL list --------------------------------------------------------------------


def test_a_case_confirmed_illegal_enters(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        confirmed_case(s, "http://a.example.test/1")
    _, after = _changed(
        session_factory, URLS, lambda s: confirmed_case(s, "http://a.example.test/2")
    )
    assert len(after) == 2


def _case_id(s: Session, url: str) -> int:
    return s.execute(select(Case.id).where(Case.canonical_url == url)).scalar_one()


def test_a_url_removed_at_source_leaves(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        case = confirmed_case(s, "http://a.example.test/gone", CaseStatus.ACTIONED)
        confirmed_case(s, "http://a.example.test/stays")
        url = case.canonical_url

    def removed(s: Session) -> None:
        move(s, s.get_one(Case, _case_id(s, url)), CaseStatus.REMOVED, actor="test")

    before, after = _changed(session_factory, URLS, removed)
    assert (len(before), len(after)) == (2, 1)
    assert after[0][1] != url


def test_an_upheld_appeal_delists(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        case = confirmed_case(s, "http://a.example.test/appealed")
        url = case.canonical_url
    _publish(session_factory)
    with session_factory.begin() as s:
        appeal = service.file_appeal(s, url, "this is my own holiday photo", None)
        appeal_id = appeal.id
    _, after = _changed(
        session_factory,
        URLS,
        lambda s: service.decide_appeal(s, appeal_id, True, "checked", actor="sup"),
    )
    assert after == []


def _trace(s: Session, url: str, country: str) -> None:
    s.add(HostingTrace(case_id=_case_id(s, url), host="a.example.test", country=country))


def test_a_trace_into_and_out_of_an_excluded_country(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        url = confirmed_case(s, "http://a.example.test/traced").canonical_url
    own = ("GB",)
    _, after = _changed(session_factory, URLS, lambda s: _trace(s, url, "GB"), exclude=own)
    assert after == []
    _, after = _changed(session_factory, URLS, lambda s: _trace(s, url, "NL"), exclude=own)
    assert len(after) == 1
    # A raw delete of the newest trace (no service involved) puts it back in GB.
    _, after = _changed(
        session_factory,
        URLS,
        lambda s: s.execute(text("DELETE FROM hosting_traces WHERE country = 'NL'")),
        exclude=own,
    )
    assert after == []


def test_changing_the_excluded_countries_publishes(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        url = confirmed_case(s, "http://a.example.test/abroad").canonical_url
        _trace(s, url, "GB")
    assert _publish(session_factory)[URLS] == 1
    assert _publish(session_factory, ("GB",))[URLS] == 2
    assert _live(session_factory, URLS) == []
    assert _publish(session_factory, ("gb",))[URLS] == 2  # same setting, any case
    assert _publish(session_factory)[URLS] == 3


def test_raw_sql_status_and_url_changes(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        url = confirmed_case(s, "http://a.example.test/raw").canonical_url
    _, after = _changed(
        session_factory,
        URLS,
        lambda s: s.execute(
            update(Case).where(Case.canonical_url == url).values(canonical_url=url + "?x=1")
        ),
    )
    assert after[0][1] == url + "?x=1"
    _, after = _changed(
        session_factory,
        URLS,
        lambda s: s.execute(text("UPDATE cases SET status = 'closed'")),
    )
    assert after == []


@pytest.mark.parametrize("status", list(CaseStatus))
def test_the_triggers_know_every_listable_status(session_factory: Factory, status: str) -> None:
    """The statuses frozen in migration 1170 are exactly LISTABLE's: a new listable status
    without a migration fails here."""
    with session_factory.begin() as s:
        confirmed_case(s, "http://a.example.test/s", CaseStatus.TRIAGE)
    start = _counters(session_factory)[0]
    with session_factory.begin() as s:
        s.execute(text("UPDATE cases SET status = :s").bindparams(s=status))
    moved = _counters(session_factory)[0] != start
    assert moved is (status in LISTABLE.values)


# ---- the hash list -------------------------------------------------------------------


def test_a_confirmed_item_enters(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        confirmed_item(s, 1)
    _, after = _changed(session_factory, HASHES, lambda s: confirmed_item(s, 2))
    assert len(after) == 2


def test_removal_from_the_bank_leaves(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        sha = confirmed_item(s, 1).sha256
        confirmed_item(s, 2)

    def remove(s: Session) -> None:
        assert matching.remove_entry(s, confirmed_bank(s), HashType.SHA256, sha, "sup") == 1

    _, after = _changed(session_factory, HASHES, remove)
    assert [r[0] for r in after] != [sha] and len(after) == 1


def test_a_reclassified_entry_is_republished(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        sha = confirmed_item(s, 1).sha256
    _, after = _changed(
        session_factory,
        HASHES,
        lambda s: s.execute(
            update(BankEntry)
            .where(BankEntry.hash_value == sha)
            .values(classification="default:category-a")
        ),
    )
    assert after[0][3] == "default:category-a"


def test_an_items_hashes_changing_is_republished(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        item_id = confirmed_item(s, 1).id

    def weak(s: Session) -> None:
        s.get_one(Item, item_id).weak = True  # a rehash found the PDQ weak

    _, after = _changed(session_factory, HASHES, weak)
    assert after[0][2] is None


def test_raw_sql_delete_and_bulk_import(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        confirmed_item(s, 1)
        keep = confirmed_item(s, 2).sha256
    _, after = _changed(
        session_factory,
        HASHES,
        lambda s: s.execute(delete(BankEntry).where(BankEntry.hash_value != keep)),
    )
    assert [r[0] for r in after] == [keep]
    with session_factory.begin() as s:
        extra = confirmed_item(s, 3, ItemStatus.NEW)  # an item outside the bank
        sha = extra.sha256

    def bulk(s: Session) -> None:
        row = Row(1, HashType.SHA256, sha, "import", "default:x")
        assert matching.import_rows(s, confirmed_bank(s), [row], "import").added == 1

    _, after = _changed(session_factory, HASHES, bulk)
    assert len(after) == 2


def test_renaming_the_confirmed_bank_empties_the_list(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        confirmed_item(s, 1)
    _, after = _changed(
        session_factory,
        HASHES,
        lambda s: s.execute(
            update(HashBank).where(HashBank.name == "confirmed").values(name="old-confirmed")
        ),
    )
    assert after == []


def test_report_remove_sharing_and_unsharing(session_factory: Factory, tmp_path: Path) -> None:
    store = OneItemStore(tmp_path / "rr")
    with session_factory.begin() as s:
        confirmed_item(s, 1)
        receipt = removal.submit(s, store, png_bytes(7), LIMITS)
        removal.confirm_identity(
            s, receipt.request_id, "user:c", method="chat", under_18=True, identity_confirmed=True
        )
    policy = policy_from()
    _, after = _changed(
        session_factory,
        HASHES,
        lambda s: removal.verify(s, receipt.request_id, "user:a", policy, "baseline"),
    )
    assert len(after) == 2
    _, after = _changed(
        session_factory,
        HASHES,
        lambda s: s.execute(text("UPDATE removal_requests SET shared_at = NULL")),
    )
    assert len(after) == 1


def test_a_new_provenance_publishes(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        confirmed_item(s, 1)
    assert _publish(session_factory, provenance="A")[HASHES] == 1
    assert _publish(session_factory, provenance="A")[HASHES] == 1
    assert _publish(session_factory, provenance="B")[HASHES] == 2


# ---- what must NOT move a token, and what an equal token saves ---------------------------


def test_unrelated_writes_leave_the_tokens_alone(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        confirmed_case(s, "http://a.example.test/listed")
        confirmed_item(s, 1)
    _publish(session_factory)
    start = _counters(session_factory)
    with session_factory.begin() as s:
        fresh = confirmed_case(s, "http://a.example.test/new", CaseStatus.NEW)
        move(s, fresh, CaseStatus.TRIAGE, actor="test")  # intake and triage
        _trace(s, fresh.canonical_url, "GB")  # a trace of an unlisted case
        confirmed_item(s, 2, ItemStatus.NEW)  # an item outside the bank
        other = matching.create_bank(s, "partner", "imported")
        matching.add_entry(s, other, HashType.SHA256, "ab" * 32, "p", "x:y")
        matching.add_entry(s, confirmed_bank(s), HashType.PDQ, "cd" * 32, "i", "x:y")
    assert _counters(session_factory) == start

    def boom() -> service.Source:
        raise AssertionError("an unchanged source must not be read")

    with session_factory.begin() as s:
        for kind in (URLS, HASHES):
            params = "" if kind is URLS else "Hotline"
            token = service.source_token(s, kind, params)
            assert service.publish_list(s, kind, boom, token=token).version == 1


def test_a_change_in_the_same_session_is_seen(session_factory: Factory) -> None:
    """The token is read as columns: the ORM identity map would hand back a stale row."""
    with session_factory.begin() as s:
        assert service.publish_lists(s, provenance="H")[HASHES].version == 1
        confirmed_item(s, 1)
        assert service.publish_lists(s, provenance="H")[HASHES].version == 2


def test_a_lost_counter_row_falls_back_to_the_digest(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        confirmed_item(s, 1)
    assert _publish(session_factory)[HASHES] == 1
    with session_factory.begin() as s:
        s.execute(delete(ListSourceChanges))
        confirmed_item(s, 2)  # the trigger has no row to move
    assert _publish(session_factory)[HASHES] == 2  # a new epoch: the digest decides
    assert _publish(session_factory)[HASHES] == 2


def test_an_unchanged_digest_stores_the_new_token(session_factory: Factory) -> None:
    with session_factory.begin() as s:
        confirmed_item(s, 1)
    _publish(session_factory)
    start = _counters(session_factory)[1]
    with session_factory.begin() as s:
        sha = confirmed_item(s, 2).sha256
    with session_factory.begin() as s:
        matching.remove_entry(s, confirmed_bank(s), HashType.SHA256, sha)
    assert _counters(session_factory)[1] > start  # moved twice; the content is v1's again
    assert _publish(session_factory)[HASHES] == 1  # the digest says: unchanged
    with session_factory() as s:
        stored = s.execute(
            select(ListVersion.source_token).where(ListVersion.kind == HASHES)
        ).scalar_one()
        assert stored == service.source_token(s, HASHES, "Hotline")


def test_every_trigger_is_installed(session_factory: Factory) -> None:
    """A batch migration that recreates a table drops its triggers: this catches it."""
    tables = ("cases", "hosting_traces", "hash_banks", "bank_entries", "items")
    expected = {
        f"list_source_{t}_{e}"
        for t in (*tables, "removal_requests")
        for e in ("insert", "update", "delete")
    }
    with session_factory() as s:
        if s.get_bind().dialect.name == "postgresql":
            query = "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'list_source_%'"
        else:
            query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
        names = set(s.execute(text(query)).scalars())
    assert expected <= names
