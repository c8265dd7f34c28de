"""blocklist: change counters the database moves whenever a list's source rows change

A publish compares the counter it stored with the current one and skips reading an
unchanged source (issue 14: an unchanged 5M-hash publish cost 7.8 s of digesting).
Triggers, not application code, move the counters: every writer (ORM, bulk Core updates,
raw SQL, a cascade) is caught, so no service function can forget. The conditions mirror
what `url_list_source` and `hash_list_source` read; a counter that moves for an
irrelevant row only costs one digest, one that does not move would publish a stale list,
so every condition errs on the side of moving.

One row (id 1) holds both counters: two rows could be locked in opposite orders by two
PostgreSQL transactions (a deadlock); one row serialises only the writers that change a
list's source, which are analysts' decisions, not intake. `epoch` is random per row, so a
re-created row never repeats a token that an old version stored.

Revision ID: 1170
Revises: 1120
Create Date: 2026-12-02 07:40:00
"""

import secrets
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1170"
down_revision: str | Sequence[str] | None = "1120"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the code's constants (a migration must not change when the code does):
# cases.lifecycle.LISTABLE, assessment.banks.CONFIRMED_BANK, reportremove's bank.
LISTABLE = "('assessed', 'actioned')"
BANKS = "('confirmed', 'self-generated')"
CONFIRMED = "('confirmed')"

URLS = "UPDATE list_source_changes SET urls = urls + 1 WHERE id = 1"
HASHES = "UPDATE list_source_changes SET hashes = hashes + 1 WHERE id = 1"


# Every piece below is a constant of this file or "OLD"/"NEW": no input reaches the SQL.
# Each condition comes in two parts: one on the row alone (a trigger's WHEN on both
# databases, so an irrelevant row, e.g. a new case at intake, never even calls a function)
# and one that needs a subquery (PostgreSQL refuses those in WHEN: tested in the function).
def _listable_case(ref: str) -> str:
    return f"EXISTS (SELECT 1 FROM cases WHERE id = {ref}.case_id AND status IN {LISTABLE})"  # noqa: S608


def _bank_of_lists(ref: str) -> str:
    return f"{ref}.bank_id IN (SELECT id FROM hash_banks WHERE name IN {BANKS})"  # noqa: S608


def _banked_item(ref: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM bank_entries WHERE hash_type = 'sha256' AND hash_value = "  # noqa: S608
        f"{ref}.sha256 AND bank_id IN (SELECT id FROM hash_banks WHERE name IN {CONFIRMED}))"
    )


Condition = Callable[[str], str] | None

# (table, columns whose update matters, bump, row condition, subquery condition): one
# trigger per event; an UPDATE fires when the old OR the new row qualifies.
WATCHED: list[tuple[str, str, str, Condition, Condition]] = [
    ("cases", "id, status, canonical_url", URLS, lambda r: f"{r}.status IN {LISTABLE}", None),
    ("hosting_traces", "id, case_id, country", URLS, None, _listable_case),
    ("hash_banks", "id, name", HASHES, lambda r: f"{r}.name IN {BANKS}", None),
    (
        "bank_entries",
        "bank_id, hash_type, hash_value, classification, removed_at",
        HASHES,
        lambda r: f"{r}.hash_type = 'sha256'",
        _bank_of_lists,
    ),
    ("items", "id, sha256, md5, sha1, pdq, weak", HASHES, None, _banked_item),
    (
        "removal_requests",
        "sha256, md5, sha1, pdq, pdq_quality, shared_at",
        HASHES,
        lambda r: f"{r}.shared_at IS NOT NULL",
        None,
    ),
]


def _both(plain: Condition, sub: Condition, ref: str) -> str:
    parts = [f"({c(ref)})" for c in (plain, sub) if c is not None]
    return " AND ".join(parts)


def _on_rows(cond: Condition, refs: tuple[str, ...]) -> str | None:
    if cond is None:
        return None
    return " OR ".join(f"({cond(r)})" for r in refs)


EVENTS = ("insert", "update", "delete")


def upgrade() -> None:
    op.create_table(
        "list_source_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.String(length=32), nullable=False),
        sa.Column("urls", sa.BigInteger(), nullable=False),
        sa.Column("hashes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_source_changes")),
    )
    op.execute(
        sa.text(
            "INSERT INTO list_source_changes (id, epoch, urls, hashes) VALUES (1, :e, 0, 0)"
        ).bindparams(e=secrets.token_hex(16))
    )
    with op.batch_alter_table("list_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_token", sa.String(length=100), nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, columns, bump, plain, sub in WATCHED:
        for event in EVENTS:
            name = f"list_source_{table}_{event}"
            refs = {"insert": ("NEW",), "delete": ("OLD",), "update": ("OLD", "NEW")}[event]
            on = f"UPDATE OF {columns}" if event == "update" else event.upper()
            whole = " OR ".join(f"({_both(plain, sub, r)})" for r in refs)
            if postgres:
                when = _on_rows(plain, refs)
                test = whole if sub is not None else "TRUE"
                op.execute(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF {test} THEN {bump}; END IF; RETURN NULL; END; $$"
                )
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {on} ON {table} FOR EACH ROW "
                    + (f"WHEN ({when}) " if when else "")
                    + f"EXECUTE FUNCTION {name}()"
                )
            else:
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {on} ON {table} FOR EACH ROW "
                    f"WHEN {whole} BEGIN {bump}; END"
                )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, _columns, _bump, _plain, _sub in WATCHED:
        for event in EVENTS:
            name = f"list_source_{table}_{event}"
            if postgres:
                op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                op.execute(f"DROP FUNCTION IF EXISTS {name}()")
            else:
                op.execute(f"DROP TRIGGER IF EXISTS {name}")
    with op.batch_alter_table("list_versions", schema=None) as batch_op:
        batch_op.drop_column("source_token")
    op.drop_table("list_source_changes")
