"""blocklist: hash-list entries carry a confirmed video's vPDQ frames

A video's vPDQ (python-threatexchange's signal string: a JSON list of "pdq_hex,quality,
timestamp") travels with its file hashes on the signed hash list (issue 13), so partners
match re-encoded copies too. The list's source now also reads the confirmed bank's vpdq
entries, so the change triggers of 1170 on bank_entries fire for them as well.

Revision ID: 1180
Revises: 1171
Create Date: 2026-12-02 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "1180"
down_revision: str | Sequence[str] | None = "1171"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies (a migration must not change when the code does): 1170's bank_entries
# triggers with the row condition widened from sha256 to sha256 or vpdq.
BANKS = "('confirmed', 'self-generated')"
HASHES = "UPDATE list_source_changes SET hashes = hashes + 1 WHERE id = 1"
COLUMNS = "bank_id, hash_type, hash_value, classification, removed_at"
EVENTS = ("insert", "update", "delete")


def _plain(ref: str, types: str) -> str:
    return f"{ref}.hash_type IN {types}"


def _sub(ref: str) -> str:
    return f"{ref}.bank_id IN (SELECT id FROM hash_banks WHERE name IN {BANKS})"  # noqa: S608


def _triggers(types: str) -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for event in EVENTS:
        name = f"list_source_bank_entries_{event}"
        refs = {"insert": ("NEW",), "delete": ("OLD",), "update": ("OLD", "NEW")}[event]
        on = f"UPDATE OF {COLUMNS}" if event == "update" else event.upper()
        whole = " OR ".join(f"(({_plain(r, types)}) AND ({_sub(r)}))" for r in refs)
        if postgres:
            when = " OR ".join(f"({_plain(r, types)})" for r in refs)
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON bank_entries")
            op.execute(f"DROP FUNCTION IF EXISTS {name}()")
            op.execute(
                f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                f"IF {whole} THEN {HASHES}; END IF; RETURN NULL; END; $$"
            )
            op.execute(
                f"CREATE TRIGGER {name} AFTER {on} ON bank_entries FOR EACH ROW "
                f"WHEN ({when}) EXECUTE FUNCTION {name}()"
            )
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            op.execute(
                f"CREATE TRIGGER {name} AFTER {on} ON bank_entries FOR EACH ROW "
                f"WHEN {whole} BEGIN {HASHES}; END"
            )


def upgrade() -> None:
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("vpdq", sa.Text(), nullable=True))
    _triggers("('sha256', 'vpdq')")
    # Lists published before now have no vPDQ: the next publish must read its source.
    op.execute("UPDATE list_source_changes SET hashes = hashes + 1 WHERE id = 1")


def downgrade() -> None:
    _triggers("('sha256')")
    with op.batch_alter_table("list_entries", schema=None) as batch_op:
        batch_op.drop_column("vpdq")
