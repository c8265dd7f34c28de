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
def _listable_case(ref: str) -> str:
    return f"EXISTS (SELECT 1 FROM cases WHERE id = {ref}.case_id AND status IN {LISTABLE})"  # noqa: S608


def _bank_entry(ref: str) -> str:
    return (
        f"({ref}.hash_type = 'sha256' AND {ref}.bank_id IN "  # noqa: S608
        f"(SELECT id FROM hash_banks WHERE name IN {BANKS}))"
    )


def _banked_item(ref: str) -> str:
    return (
        "EXISTS (SELECT 1 FROM bank_entries WHERE hash_type = 'sha256' AND hash_value = "  # noqa: S608
        f"{ref}.sha256 AND bank_id IN (SELECT id FROM hash_banks WHERE name IN {CONFIRMED}))"
    )


def _shared(ref: str) -> str:
    return f"{ref}.shared_at IS NOT NULL"


# (table, columns whose update matters, bump, condition on a row reference): one trigger
# per event; an UPDATE fires when the old OR the new row qualifies.
WATCHED: list[tuple[str, str, str, Callable[[str], str]]] = [
    ("cases", "id, status, canonical_url", URLS, lambda r: f"{r}.status IN {LISTABLE}"),
    ("hosting_traces", "id, case_id, country", URLS, _listable_case),
    ("hash_banks", "id, name", HASHES, lambda r: f"{r}.name IN {BANKS}"),
    (
        "bank_entries",
        "bank_id, hash_type, hash_value, classification, removed_at",
        HASHES,
        _bank_entry,
    ),
    ("items", "id, sha256, md5, sha1, pdq, weak", HASHES, _banked_item),
    (
        "removal_requests",
        "sha256, md5, sha1, pdq, pdq_quality, shared_at",
        HASHES,
        _shared,
    ),
]
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
    for table, columns, bump, cond in WATCHED:
        for event in EVENTS:
            name = f"list_source_{table}_{event}"
            if event == "insert":
                condition, on = cond("NEW"), "INSERT"
            elif event == "delete":
                condition, on = cond("OLD"), "DELETE"
            else:
                condition = f"({cond('OLD')}) OR ({cond('NEW')})"
                on = f"UPDATE OF {columns}"
            if postgres:
                # PostgreSQL refuses subqueries in a trigger's WHEN: test inside the function.
                op.execute(
                    f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                    f"IF {condition} THEN {bump}; END IF; RETURN NULL; END; $$"
                )
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {on} ON {table} "
                    f"FOR EACH ROW EXECUTE FUNCTION {name}()"
                )
            else:
                op.execute(
                    f"CREATE TRIGGER {name} AFTER {on} ON {table} FOR EACH ROW "
                    f"WHEN {condition} BEGIN {bump}; END"
                )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, _columns, _bump, _cond in WATCHED:
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
