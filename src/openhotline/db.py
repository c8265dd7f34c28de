"""Database engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, Engine, String, Table, TypeDecorator, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from openhotline.clock import SYSTEM_CLOCK, Clock

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)
log = logging.getLogger("openhotline.db")
ItemT = TypeVar("ItemT")
RawT = TypeVar("RawT")


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes and store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use openhotline.db.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Return aware UTC datetimes whatever the backend gave back."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class EnumString(TypeDecorator[E], Generic[E]):
    """A StrEnum stored as its string value; Python code only ever sees enum members."""

    # The class, not an instance: TypeDecorator builds impl from __init__'s arguments only
    # when impl is callable, and a shared String(40) made every column 40 long.
    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int = 40) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        """Store the value; refuse strings that are not a member (no silent typo states)."""
        if value is None:
            return None
        return self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        """Return the enum member for a stored value."""
        if value is None:
            return None
        return self.enum(value)


class Base(DeclarativeBase):
    """Declarative base for all openhotline tables."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    # WAL: readers never block the writer. synchronous=NORMAL in WAL mode keeps every
    # committed transaction across a process crash (kill -9); only power loss can lose
    # the last commits, which FULL would also protect at a large throughput cost.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def make_engine(url: str) -> Engine:
    """Create an engine with the settings each backend needs."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=8,
            max_overflow=16,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


def make_sessionmaker(engine: Engine, clock: Clock | None = None) -> sessionmaker[Session]:
    """Return a session factory bound to engine; its sessions carry the process clock."""
    return sessionmaker(bind=engine, expire_on_commit=False, info={"clock": clock or SYSTEM_CLOCK})


def clock_of(session: Session) -> Clock:
    """Return the clock the composition root gave this session's factory."""
    clock: Clock = session.info.get("clock") or SYSTEM_CLOCK
    return clock


def now(session: Session) -> datetime:
    """Return the current time from the session's clock (the seam every service uses)."""
    return clock_of(session).now()


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """Open a session, commit on success, roll back on error (callers own transactions)."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


@contextmanager
def write_transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A transaction that will write: on SQLite it takes the write lock at BEGIN.

    A deferred SQLite transaction that reads before it writes fails at once with "database
    is locked" when another process committed in between (its snapshot is stale; the busy
    timeout cannot help). BEGIN IMMEDIATE waits on busy_timeout for the lock instead, so
    writers in several server processes queue rather than fail.
    """
    session = factory()
    try:
        conn = session.connection()
        if conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def sqlite_write_locked(session: Session) -> bool:
    """True on SQLite when this session's transaction holds the write lock: it began
    IMMEDIATE (write_transaction) or has written, so no other connection can write until it
    ends. A deferred transaction that has only read holds nothing; False on other backends."""
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        return False
    # The sqlite3 module's own flag: True from BEGIN IMMEDIATE or the first write on.
    return bool(conn.connection.driver_connection.in_transaction)  # type: ignore[union-attr]


def is_lock_timeout(exc: BaseException) -> bool:
    """True when SQLite gave up waiting for another process's write lock."""
    return isinstance(exc, sa_exc.OperationalError) and "database is locked" in str(exc)


def insert_ignore(
    session: Session, table: type[Base] | Table, rows: Sequence[dict[str, Any]]
) -> None:
    """Insert rows, silently skipping those that hit a unique constraint (both backends)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    target: Any = table.__table__ if isinstance(table, type) else table
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(target).on_conflict_do_nothing()
    elif dialect == "sqlite":
        stmt = sqlite.insert(target).on_conflict_do_nothing()
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database dialect {dialect}")
    session.execute(stmt, list(rows))


# Rows per multi-row INSERT: far below SQLite's 32,766 and PostgreSQL's 65,535 bind
# parameters for the widest intake table.
BULK_CHUNK = 500
# A type's length or precision, left out of unnest()'s array casts (see BulkInsert).
_LENGTH = re.compile(r"\(.*\)")


class BulkInsert:
    """An INSERT of fixed columns whose SQL is built once per dialect, run on driver-ready rows.

    The intake path writes thousands of rows a second; SQLAlchemy's per-row parameter
    processing (a dict per row, a bind processor per value) cost as much as the SQL itself.
    Callers pass tuples the driver takes as they are (str, int, bool, None) and run any
    value that needs a type's conversion (a batch's timestamp, an enum) through `bind()`
    once. Every column with a Python-side default must be named, since nothing fills it in.
    """

    def __init__(
        self, table: Table, columns: Sequence[str], *, ignore_conflicts: bool = False
    ) -> None:
        unknown = [c for c in columns if c not in table.c]
        if unknown:
            raise ValueError(f"{table.name} has no column {', '.join(unknown)}")
        left_out = [
            c.name
            for c in table.c
            if c.default is not None and c.server_default is None and c.name not in columns
        ]
        if left_out:
            raise ValueError(f"{table.name}: Python-side defaults left out: {left_out}")
        self.table = table
        self.columns = tuple(columns)
        self.ignore_conflicts = ignore_conflicts
        self._sql: dict[tuple[str, int, tuple[str, ...]], str] = {}
        self._sequence: dict[str, str] = {}

    def bind(self, session: Session, column: str, value: Any) -> Any:
        """A value as the column's type would hand it to this session's driver."""
        dialect = session.get_bind().dialect
        proc = self.table.c[column].type._cached_bind_processor(dialect)
        return value if proc is None else proc(value)

    def _statement(self, dialect: Dialect, rows: int, returning: tuple[str, ...] = ()) -> str:
        key = (dialect.name, rows, returning)
        sql = self._sql.get(key)
        if sql is None:
            quote = dialect.identifier_preparer.quote
            mark = "?" if dialect.paramstyle == "qmark" else "%s"
            one = "(" + ", ".join([mark] * len(self.columns)) + ")"
            # Only the model's own table and column names (quoted) go into the text; every
            # value is a bound parameter.
            sql = (
                f"INSERT INTO {quote(self.table.name)} "  # noqa: S608
                f"({', '.join(quote(c) for c in self.columns)}) VALUES " + ", ".join([one] * rows)
            )
            if self.ignore_conflicts:
                sql += " ON CONFLICT DO NOTHING"
            if returning:
                sql += " RETURNING " + ", ".join(quote(c) for c in returning)
            self._sql[key] = sql
        return sql

    def _unnest_statement(self, dialect: Dialect, returning: tuple[str, ...]) -> str:
        """PostgreSQL: one INSERT ... SELECT FROM unnest(column arrays), whatever the rows.

        Its text is short and the same for any number of rows, so psycopg converts it once
        (its cache skips long queries: converting a 500-row VALUES list was ~40% of the
        group writer's CPU on batches) and prepares it on the server after a few runs.
        """
        key = (dialect.name, -1, returning)
        sql = self._sql.get(key)
        if sql is None:
            quote = dialect.identifier_preparer.quote
            # The arrays' element types without a length: the INSERT's assignment cast then
            # refuses an over-long value, as VALUES does (an explicit varchar(n) cast would
            # cut it short without a word).
            types = [
                _LENGTH.sub("", self.table.c[c].type.compile(dialect=dialect)) for c in self.columns
            ]
            # Only the model's own table, column and type names go into the text.
            sql = (
                f"INSERT INTO {quote(self.table.name)} "  # noqa: S608
                f"({', '.join(quote(c) for c in self.columns)}) SELECT * FROM unnest("
                + ", ".join(f"%s::{t}[]" for t in types)
                + ")"
            )
            if self.ignore_conflicts:
                sql += " ON CONFLICT DO NOTHING"
            if returning:
                sql += " RETURNING " + ", ".join(quote(c) for c in returning)
            self._sql[key] = sql
        return sql

    def _columns_of(self, rows: Sequence[Sequence[Any]]) -> tuple[list[Any], ...]:
        """The rows as one list per column (the arrays unnest takes)."""
        cols = tuple(list(col) for col in zip(*rows, strict=True))
        if len(cols) != len(self.columns):
            raise ValueError(
                f"{self.table.name}: rows of {len(cols)} values, not {len(self.columns)}"
            )
        return cols

    def execute(self, session: Session, rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows: executemany of one prepared statement (SQLite), one INSERT from
        unnest()ed column arrays (PostgreSQL: one round trip, a statement psycopg caches)."""
        if not rows:
            return
        conn = session.connection()
        dialect = conn.dialect
        if dialect.name == "sqlite":
            conn.exec_driver_sql(self._statement(dialect, 1), list(rows))
            return
        conn.exec_driver_sql(self._unnest_statement(dialect, ()), self._columns_of(rows))

    def returning(
        self, session: Session, rows: Sequence[Sequence[Any]], returning: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        """Insert rows and return the named columns of each row inserted (in no set order;
        with ignore_conflicts, rows skipped for a conflict return nothing)."""
        out: list[tuple[Any, ...]] = []
        if not rows:
            return out
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            sql = self._unnest_statement(conn.dialect, tuple(returning))
            return [tuple(r) for r in conn.exec_driver_sql(sql, self._columns_of(rows))]
        for start in range(0, len(rows), BULK_CHUNK):
            chunk = rows[start : start + BULK_CHUNK]
            flat = tuple(v for row in chunk for v in row)
            sql = self._statement(conn.dialect, len(chunk), tuple(returning))
            out.extend(tuple(r) for r in conn.exec_driver_sql(sql, flat))
        return out

    def next_ids(self, session: Session, count: int) -> list[int]:
        """Reserve `count` ids: from the table's id sequence (PostgreSQL, for COPY), or on
        SQLite the ones after the largest, which only a holder of the write lock may take
        (see sqlite_write_locked: no other connection can insert before it commits)."""
        conn = session.connection()
        if conn.dialect.name == "sqlite":
            if not sqlite_write_locked(session):
                raise RuntimeError("SQLite ids are only reserved under the write lock")
            quote = conn.dialect.identifier_preparer.quote
            top = conn.exec_driver_sql(
                f"SELECT COALESCE(MAX(id), 0) FROM {quote(self.table.name)}"  # noqa: S608
            ).scalar_one()
            return list(range(int(top) + 1, int(top) + 1 + count))
        seq = self._sequence.get("id")
        if seq is None:
            seq = str(
                conn.exec_driver_sql(
                    "SELECT pg_get_serial_sequence(%s, 'id')", (self.table.name,)
                ).scalar_one()
            )
            self._sequence["id"] = seq
        result = conn.exec_driver_sql(
            "SELECT nextval(%s) FROM generate_series(1, %s)", (seq, count)
        )
        return [int(r[0]) for r in result]

    def copy(self, session: Session, rows: Sequence[Sequence[Any]]) -> None:
        """Insert rows with PostgreSQL's COPY (psycopg): the fastest way in for big batches."""
        if self.ignore_conflicts:
            raise ValueError("COPY cannot skip conflicting rows")
        if not rows:
            return
        conn = session.connection()
        quote = conn.dialect.identifier_preparer.quote
        sql = (
            f"COPY {quote(self.table.name)} ({', '.join(quote(c) for c in self.columns)}) "
            "FROM STDIN"
        )
        raw: Any = conn.connection.driver_connection
        try:
            with raw.cursor() as cur, cur.copy(sql) as copy:
                for row in rows:
                    copy.write_row(row)
        except conn.dialect.loaded_dbapi.Error as exc:
            # The same exception family as every other statement (outage detection).
            raise sa_exc.DBAPIError.instance(
                sql, None, exc, conn.dialect.loaded_dbapi.Error
            ) from exc


class _Job:
    __slots__ = ("callback", "error", "fn", "future", "item", "loop", "prepare", "result")

    def __init__(
        self,
        fn: Callable[[Session, list[Any]], list[Any]],
        item: Any,
        callback: Callable[[_Job], None] | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        future: asyncio.Future[None] | None = None,
    ) -> None:
        self.fn = fn
        self.item = item
        # A thread waits on its callback; a coroutine on its future, resolved in its loop.
        self.callback = callback
        self.loop = loop
        self.future = future
        # CPU-only work the writer thread does before the write transaction (and the gate).
        self.prepare: Callable[[Any], Any] | None = None
        self.result: Any = None
        self.error: BaseException | None = None


def _notify(jobs: list[_Job]) -> None:
    """Answer every job of a finished group: one wake-up per event loop, not one per job.

    Each `call_soon_threadsafe` writes to the loop's self-pipe and wakes it; with 50 clients
    waiting that was most of the intake's cost of handing work to the writer thread.
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for job in jobs:
        if job.callback is not None:
            job.callback(job)
        elif job.loop is not None and job.future is not None:
            by_loop.setdefault(job.loop, []).append(job.future)
    for loop, futures in by_loop.items():
        # A closed loop (shutdown) has nobody waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_resolve_all, futures)


LOCK_RETRIES = 3


class WriterGate:
    """A lock file that the group committers of every server process on one SQLite file share.

    SQLite's own wait for its write lock is a sleep-and-retry loop (1, 2, 5 ... 100 ms
    naps), so a second server process's writer kept missing the moment the first let go:
    two processes gave 0.99x of one, with a 5 s p99. A blocking `flock` wakes the next
    writer the moment the lock is released, in the kernel, with the GIL released while it
    waits. Other writers (the worker, the CLI) still queue on SQLite's busy timeout.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def for_factory(cls, factory: sessionmaker[Session]) -> WriterGate | None:
        """The gate for a factory bound to a SQLite file; None for anything else."""
        bind = factory.kw.get("bind")
        url = getattr(bind, "url", None)
        if url is None or url.get_backend_name() != "sqlite":
            return None
        database = url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(Path(database).with_name(Path(database).name + ".writers"))

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold the gate (blocking) for the duration of the block."""
        import fcntl  # POSIX only; the gate is only made on a SQLite file, see for_factory

        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (the file itself stays: other processes may hold it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class GroupCommitter:
    """Runs writes from many requests in one transaction per group (group commit).

    A caller submits `fn` and one item; the writer thread collects what is queued, calls
    each distinct `fn(session, items)` once with all of its items (so one INSERT carries
    many rows), commits, and only then answers each caller: an acknowledged write is
    durable. If a group fails, its jobs are retried one by one so that one bad job cannot
    fail the others.
    """

    def __init__(self, factory: sessionmaker[Session], max_group: int = 512) -> None:
        self._factory = factory
        self._max_group = max_group
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._gate = WriterGate.for_factory(factory) if os.name == "posix" else None
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._closed = False
        self._thread.start()

    def run(self, fn: Callable[[Session, list[ItemT]], list[T]], item: ItemT) -> T:
        """Write item with fn in the next group; return its result once committed."""
        done = threading.Event()
        job = _Job(fn, item, lambda _job: done.set())
        self._put(job)
        done.wait()
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    async def run_async(self, fn: Callable[[Session, list[ItemT]], list[T]], item: ItemT) -> T:
        """Like run(), without blocking the event loop."""
        return await self._run_async(fn, item, None)

    async def run_prepared_async(
        self,
        prepare: Callable[[RawT], ItemT],
        raw: RawT,
        fn: Callable[[Session, list[ItemT]], list[T]],
    ) -> T:
        """Like run_async(), with `prepare(raw)` (CPU only) run by the writer thread first.

        The writer does it before it opens the transaction and takes the SQLite gate: CPU
        work stays on one thread per process (no GIL fight among request threads) while
        the other server processes keep writing. An error in `prepare` fails this job only.
        """
        return await self._run_async(fn, raw, prepare)

    async def _run_async(
        self,
        fn: Callable[[Session, list[Any]], list[T]],
        item: Any,
        prepare: Callable[[Any], Any] | None,
    ) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        job = _Job(fn, item, loop=loop, future=future)
        job.prepare = prepare
        self._put(job)
        await future
        if job.error is not None:
            raise job.error
        result: T = job.result
        return result

    def _put(self, job: _Job) -> None:
        if self._closed:
            raise RuntimeError("group committer is closed")
        self._queue.put(job)

    def close(self) -> None:
        """Finish queued work and stop the writer thread."""
        if not self._closed:
            self._closed = True
            self._queue.put(None)
            self._thread.join(timeout=30)
            if self._gate is not None:
                self._gate.close()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            stop = False
            while len(jobs) < self._max_group:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                jobs.append(nxt)
            self._run_group(jobs)
            if stop:
                return

    @staticmethod
    def _apply(session: Session, jobs: list[_Job]) -> None:
        by_fn: dict[Any, list[_Job]] = {}
        for job in jobs:
            by_fn.setdefault(job.fn, []).append(job)
        for fn, group in by_fn.items():
            results = fn(session, [job.item for job in group])
            for job, result in zip(group, results, strict=True):
                job.result = result

    def _commit(self, jobs: list[_Job]) -> None:
        """Run jobs in one write transaction; a lock timeout (another process held SQLite's
        write lock past busy_timeout) is retried, since nothing was written."""
        for attempt in range(LOCK_RETRIES + 1):
            try:
                with (
                    self._gate.held() if self._gate is not None else contextlib.nullcontext(),
                    write_transaction(self._factory) as session,
                ):
                    self._apply(session, jobs)
                return
            except Exception as exc:
                if attempt == LOCK_RETRIES or not is_lock_timeout(exc):
                    raise
                log.warning("database locked by another writer; retrying (%d)", attempt + 1)

    @staticmethod
    def _prepare(jobs: list[_Job]) -> list[_Job]:
        """Run each job's CPU-only preparation; answer the ones that fail, keep the rest."""
        ready: list[_Job] = []
        failed: list[_Job] = []
        for job in jobs:
            if job.prepare is not None:
                try:
                    job.item = job.prepare(job.item)
                except Exception as exc:
                    job.error = exc
                    failed.append(job)
                    continue
                job.prepare = None
            ready.append(job)
        if failed:
            _notify(failed)
        return ready

    def _run_group(self, jobs: list[_Job]) -> None:
        if any(job.prepare is not None for job in jobs):
            jobs = self._prepare(jobs)
            if not jobs:
                return
        if len(jobs) > 1:
            try:
                self._commit(jobs)
            except Exception as exc:
                if not is_outage(exc):  # an outage is logged once, by the OutageMonitor
                    log.warning("group commit of %d jobs failed; retrying one by one", len(jobs))
            else:
                _notify(jobs)
                return
        for job in jobs:
            try:
                self._commit([job])
            except Exception as exc:
                job.error = exc
            _notify([job])


def _resolve_all(futures: list[asyncio.Future[None]]) -> None:
    for future in futures:
        if not future.done():
            future.set_result(None)


# Errors that mean "the database cannot be reached or written now" (down, restarting,
# connection lost, disk full, pool exhausted), not "this statement is wrong".
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


def is_outage(exc: BaseException) -> bool:
    """True when exc means the database is unavailable (answer 503, try again later)."""
    if isinstance(exc, OUTAGE_ERRORS):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated


class OutageMonitor:
    """Logs one line when an engine's database becomes unavailable and one when it is back.

    An outage used to log a traceback per request (4,162 in 20 s); the state is kept here
    instead, from the engine's own events: a failed statement or connection marks it down,
    the next statement that succeeds marks it up. Nothing needs a restart.
    """

    def __init__(self, engine: Engine, clock: Clock | None = None) -> None:
        self.clock = clock or SYSTEM_CLOCK
        self.down_since: datetime | None = None
        self._lock = threading.Lock()
        event.listen(engine, "handle_error", self._on_error)
        event.listen(engine, "after_cursor_execute", self._on_success)

    @property
    def down(self) -> bool:
        """Whether the last thing the engine tried failed for an outage."""
        return self.down_since is not None

    def _on_error(self, context: Any) -> None:
        error = context.sqlalchemy_exception or context.original_exception
        if not (is_outage(error) or context.is_disconnect):
            return
        with self._lock:
            if self.down_since is None:
                self.down_since = self.clock.now()
                reason = str(context.original_exception).strip().splitlines()[:1]
                log.error(
                    "database unavailable: %s: %s",
                    type(context.original_exception).__name__,
                    reason[0] if reason else "",
                )

    def _on_success(self, *_args: Any) -> None:
        if self.down_since is None:  # the common case: one attribute read, no lock
            return
        with self._lock:
            if self.down_since is not None:
                seconds = (self.clock.now() - self.down_since).total_seconds()
                self.down_since = None
                log.warning("database available again after %.0f s", seconds)
