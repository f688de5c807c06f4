"""Thin I/O to the PostgreSQL warehouse: statements from ``sql/``, transactions, and bulk reads and
writes (no row-by-row INSERT, no ``read_sql``/``to_sql``).

Statements are templates: identifiers (table and column names) are composed with
:mod:`psycopg2.sql`, values are always bind parameters in ``%(name)s`` form. Every session runs in
UTC, so ``timestamptz`` values cross the wire unambiguously.

- **Writes** go through ADBC (``adbc-driver-postgresql``: Arrow in, binary ``COPY`` underneath), in a
  :class:`BulkSession` transaction with the statements around them (:meth:`Warehouse.bulk`).
- **Reads** (:meth:`Warehouse.read_frame`) stay hand-written, because ADBC missed the extraction bar in
  ``make bench`` (1.6x to 2x the time of a raw ``COPY ... TO STDOUT`` at 3.37M rows, against at most
  1.3x; its binary decoding runs on one thread): ``COPY ... TO STDOUT`` runs in a thread that writes
  into an OS pipe while Arrow's streaming CSV reader parses the other end, so parsing overlaps the
  transfer and the CSV text is never held in memory. ``docs/benchmarks.md`` has the figures.

Types of a read: integers become ``int64`` (``Int64`` when the column holds NULLs), ``real``/``double
precision`` ``float64``, ``numeric`` ``float64`` on purpose (a double's 15-17 significant digits: cast
to ``text`` in the query to keep exact decimals), ``timestamptz`` ``datetime64[us, UTC]``,
``timestamp`` ``datetime64[us]``, ``date`` Python dates, ``boolean`` ``bool``, text ``str`` (or
``category`` on request). Other types (``jsonb``, arrays...) are refused with a message saying to cast
them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import IO, Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from pipeline.config import PROJECT_ROOT
from pipeline.errors import PermanentError

log = logging.getLogger(__name__)

SQL_DIR = PROJECT_ROOT / "sql"


# PostgreSQL type OID -> Arrow type used to parse COPY's CSV output. See pg_type.dat in PostgreSQL.
_ARROW_TYPES: dict[int, pa.DataType] = {
    16: pa.bool_(),
    20: pa.int64(),
    21: pa.int64(),
    23: pa.int64(),
    700: pa.float64(),
    701: pa.float64(),
    1700: pa.float64(),
    25: pa.string(),
    1042: pa.string(),
    1043: pa.string(),
    1082: pa.date32(),
    1114: pa.timestamp("us"),
    1184: pa.timestamp("us", tz="UTC"),
    2950: pa.string(),  # uuid, in its canonical text form (lowercase, hyphenated), as PostgreSQL prints it
}

# Bytes moved per pipe write/read, and the size of the CSV blocks Arrow parses at a time (about
# 10,000 rows of a 20-column table).
_PIPE_BYTES = 1 << 20


class WarehouseError(RuntimeError):
    """A warehouse statement failed; the message names the statement and PostgreSQL's reason. As such
    it may be transient (a dropped connection, a deadlock, a restart): the DAGs retry it."""


class WarehouseQueryError(WarehouseError, PermanentError):
    """The database refused the statement itself, or its result does not fit: an undefined column or
    table, a syntax error, a missing privilege, a value of the wrong type (an SQLSTATE class in
    :data:`PERMANENT_SQLSTATE_CLASSES`). The same statement fails the same way again, so the DAGs do
    not retry it."""


PERMANENT_SQLSTATE_CLASSES = frozenset({"42", "22", "0A", "3F"})
"""SQLSTATE classes (PostgreSQL manual, Appendix A) of errors in the statement or its data, which no
retry fixes: 42 syntax error or access rule violation (42703 undefined column, 42P01 undefined table,
42601 syntax error, 42883 undefined function, 42501 insufficient privilege), 22 data exception, 0A
feature not supported, 3F invalid schema name. The others stay retryable: 08 connection, 40 deadlock
or serialization failure, 53 insufficient resources, 57 operator intervention (a restart, a cancel),
23 integrity constraint (a concurrent writer), XX internal."""


def statement_failed(exc: Exception, reason: str) -> WarehouseError:
    """The error to raise for the database's ``exc`` (psycopg2's, with ``pgcode``, or ADBC's, with
    ``sqlstate``): :class:`WarehouseQueryError` for a permanent SQLSTATE class, else
    :class:`WarehouseError`; the message gives ``reason`` and the SQLSTATE."""
    code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
    kind = WarehouseQueryError if code and code[:2] in PERMANENT_SQLSTATE_CLASSES else WarehouseError
    return kind(f"warehouse statement failed{f' (SQLSTATE {code})' if code else ''}: {reason}")


@cache
def _template(name: str) -> str:
    path = SQL_DIR / f"{name}.sql"
    if not path.is_file():
        raise WarehouseError(f"SQL file not found: {path}")
    return path.read_text().strip().rstrip(";")


def statement(name: str, **identifiers: sql.Composable | str) -> sql.Composed:
    """The statement in ``sql/<name>.sql`` with ``{placeholders}`` filled.

    A ``str`` identifier such as ``"ml.predictions"`` becomes a quoted, schema-qualified identifier;
    pass a :class:`psycopg2.sql.Composable` for anything else (a column list, a sub-query).
    """
    parts = {k: v if isinstance(v, sql.Composable) else qualified(v) for k, v in identifiers.items()}
    return sql.SQL(_template(name)).format(**parts)


def qualified(name: str) -> sql.Identifier:
    """``"schema.table"`` -> ``"schema"."table"`` as a safely quoted identifier."""
    return sql.Identifier(*name.split("."))


def engine_for(url: str) -> Engine:
    """A pooled SQLAlchemy engine on psycopg2 for a ``postgresql://`` URL, sessions in UTC, without
    JIT compilation: the point-in-time feature queries have many expressions and high cost estimates,
    so PostgreSQL's JIT compiled them for longer than they ran (the regression model's 63-day training
    window: 7.8 s with JIT, 1.3 s without)."""
    parsed = make_url(url).set(drivername="postgresql+psycopg2")
    return create_engine(parsed, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC -c jit=off"})


def _adbc_uri(url: str) -> str:
    """The libpq URI ADBC connects with: the same database, sessions in UTC."""
    base = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    return f"{base}{'&' if '?' in base else '?'}options={quote('-c timezone=UTC')}"  # libpq: %20, not +


class Warehouse:
    """A connection pool to one warehouse database.

    Args:
        url: ``postgresql://user:password@host:port/database``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)

    def _connect(self):
        try:
            return self.engine.raw_connection()
        except Exception as exc:
            raise WarehouseError(f"cannot connect to the warehouse {make_url(self.url)!r}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A cursor inside one transaction: committed on success, rolled back on any error.

        Raises:
            WarehouseError: the database refused a statement or could not be reached; a
                :class:`WarehouseQueryError` (permanent) when the statement itself is at fault.
        """
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except psycopg2.Error as exc:
            conn.rollback()
            raise statement_failed(exc, (exc.pgerror or str(exc)).strip()) from exc
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.close()

    @contextmanager
    def rolled_back(self) -> Iterator[Cursor]:
        """A cursor inside one transaction that is always rolled back, never committed: for what-if
        statements (the leakage check's changes to source rows) that must leave no trace. Row locks
        taken meanwhile are held until the block ends.

        Raises:
            WarehouseError: as :meth:`transaction`.
        """
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                yield cur
        except psycopg2.Error as exc:
            raise statement_failed(exc, (exc.pgerror or str(exc)).strip()) from exc
        finally:
            try:
                conn.rollback()
            finally:
                conn.close()

    def run(self, name: str, params: Mapping[str, Any] | None = None, **identifiers: Any) -> None:
        """Execute ``sql/<name>.sql`` in its own transaction."""
        with self.transaction() as cur:
            cur.execute(statement(name, **identifiers), params)

    def fetch(self, name: str, params: Mapping[str, Any] | None = None, **identifiers: Any) -> list[dict]:
        """Rows of ``sql/<name>.sql`` as dicts (column name -> Python value)."""
        with self.transaction() as cur:
            return fetch(cur, name, params, **identifiers)

    def table_exists(self, name: str) -> bool:
        """Whether the table ``schema.table`` exists."""
        return self.fetch("migrations/table_exists", {"table": name})[0]["present"]

    @contextmanager
    def bulk(self) -> Iterator[BulkSession]:
        """A :class:`BulkSession`: one ADBC transaction for statements and bulk writes,
        committed when the block ends and rolled back on any error, so nothing is half-written.

        Raises:
            WarehouseError: the database refused a statement or could not be reached; a
                :class:`WarehouseQueryError` (permanent) when the statement itself is at fault.
        """
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi

        binder = self._connect()  # psycopg2 binds parameters client-side; it runs nothing here
        try:
            try:
                conn = adbc_driver_postgresql.dbapi.connect(_adbc_uri(self.url))
            except adbc_driver_manager.Error as exc:
                raise WarehouseError(f"cannot connect to the warehouse {make_url(self.url)!r}: {exc}") from exc
            try:
                with binder.cursor() as bind, conn.cursor() as cur:
                    yield BulkSession(conn, cur, bind)
                conn.commit()
            except adbc_driver_manager.Error as exc:
                conn.rollback()
                raise statement_failed(exc, _reason(exc)) from exc
            except BaseException:
                conn.rollback()
                raise
            finally:
                conn.close()
        finally:
            binder.close()

    def read_frame(
        self, query: str | sql.Composable, params: Mapping[str, Any], categorical: Sequence[str] = ()
    ) -> pd.DataFrame:
        """Run ``query`` and return its result through ``COPY ... TO STDOUT``.

        Args:
            query: a SELECT with ``%(name)s`` bind parameters (text, or composed with identifiers).
            params: the bind parameters' values.
            categorical: text columns to return as ``category`` dtype, categories sorted.

        Returns:
            One row per result row, dtypes as the module docstring lists.

        Raises:
            WarehouseError: the query failed or the connection dropped; a WarehouseQueryError
                (permanent) for a missing table or column, a type not mapped here, or a missing
                ``categorical`` column.
        """
        with self.transaction() as cur:
            return read_frame(cur, query, params, categorical)


class BulkSession:
    """Statements and Arrow-native writes inside one ADBC transaction (:meth:`Warehouse.bulk`)."""

    def __init__(self, conn: Any, cur: Any, bind: Cursor) -> None:
        self._conn, self._cur, self._bind = conn, cur, bind
        self._schemas: dict[str, pa.Schema] = {}

    def _bound(self, query: str | sql.Composable, params: Mapping[str, Any] | None) -> str:
        query = query if isinstance(query, sql.Composable) else sql.SQL(query.strip().rstrip(";"))
        return self._bind.mogrify(query, params).decode()

    def execute(self, name: str, params: Mapping[str, Any] | None = None, **identifiers: Any) -> None:
        """Execute ``sql/<name>.sql`` (one statement) in the session's transaction."""
        self._cur.execute(self._bound(statement(name, **identifiers), params))

    def write_frame(self, frame: pd.DataFrame, table: str) -> int:
        """Bulk-load ``frame`` into ``table`` (``"schema.table"``) in the session's transaction.

        Columns are matched by name and cast to the table's own types (an ``int64`` frame column
        into an ``integer`` column, say); table columns the frame lacks take their defaults;
        NaN/NA/None become NULL; nanosecond timestamps are rounded to microseconds; text uuids (as
        :meth:`Warehouse.read_frame` returns them) go into a ``uuid`` column as their 16 bytes.

        Returns:
            Rows written.

        Raises:
            WarehouseError: a type or constraint refused the data (WarehouseQueryError for a type or
                a column the table lacks); the whole session rolls back.
        """
        schema_name, table_name = table.split(".")
        if table not in self._schemas:
            self._schemas[table] = self._conn.adbc_get_table_schema(table_name, db_schema_filter=schema_name)
        target = self._schemas[table]
        data = pa.Table.from_pandas(frame, preserve_index=False)
        unknown = [c for c in data.column_names if target.get_field_index(c) < 0]
        if unknown:
            raise WarehouseQueryError(f"{table} has no column(s) {unknown}")
        for i, column in enumerate(data.columns):
            if pa.types.is_timestamp(column.type) and column.type.unit == "ns":  # PostgreSQL keeps microseconds
                data = data.set_column(i, data.field(i), pc.round_temporal(column, 1, "microsecond"))
            elif _is_uuid(target.field(data.column_names[i]).type):
                data = data.set_column(i, pa.field(data.column_names[i], pa.binary(16)), _uuid_bytes(column))
        try:
            data = data.cast(pa.schema([target.field(c) for c in data.column_names]))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise WarehouseQueryError(f"cannot write to {table}: {exc}") from exc
        self._cur.adbc_ingest(table_name, data, mode="append", db_schema_name=schema_name)
        return len(frame)


def _is_uuid(arrow_type: pa.DataType) -> bool:
    """Whether ADBC reports a column as PostgreSQL ``uuid`` (16 fixed bytes, or Arrow's uuid extension)."""
    storage = getattr(arrow_type, "storage_type", arrow_type)
    return pa.types.is_fixed_size_binary(storage) and storage.byte_width == 16


def _uuid_bytes(column: pa.ChunkedArray) -> pa.Array:
    """Text uuids (or uuid objects) as 16-byte values; nulls stay null.

    Raises:
        ValueError: a value is not a uuid.
    """
    return pa.array([None if v is None else uuid.UUID(str(v)).bytes for v in column.to_pylist()], type=pa.binary(16))


def fetch(cur: Cursor, name: str, params: Mapping[str, Any] | None = None, **identifiers: Any) -> list[dict]:
    """Rows of ``sql/<name>.sql`` run on ``cur``, as dicts."""
    cur.execute(statement(name, **identifiers), params)
    if cur.description is None:
        return []
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _reason(exc: Exception) -> str:
    """PostgreSQL's message from an ADBC error, without the driver's preamble."""
    return str(exc).strip()


def read_frame(
    cur: Cursor, query: str | sql.Composable, params: Mapping[str, Any], categorical: Sequence[str] = ()
) -> pd.DataFrame:
    """:meth:`Warehouse.read_frame` on an open cursor (inside the caller's transaction)."""
    copy_sql, options = _prepare_copy_out(cur, query, params, categorical)
    with _copy_out(cur, copy_sql) as stream:
        reader = pacsv.open_csv(stream, **options)
        columns = [_column_builder(field.type) for field in reader.schema]
        for batch in reader:  # each batch copied out while the next is in flight, then freed
            for column, array in zip(columns, batch.columns, strict=True):
                column.append(array)
    return pd.DataFrame(
        {name: column.finish() for name, column in zip(reader.schema.names, columns, strict=True)}, copy=False
    )


def _prepare_copy_out(
    cur: Cursor, query: str | sql.Composable, params: Mapping[str, Any], categorical: Sequence[str]
) -> tuple[bytes, dict[str, Any]]:
    """The bound ``COPY (query) TO STDOUT`` statement and the options of Arrow's CSV reader for it.
    ``query`` is SQL text, or a composed statement (from :func:`statement`) with identifiers filled."""
    query_sql = query if isinstance(query, sql.Composable) else sql.SQL(query.strip().rstrip(";"))
    cur.execute(statement("io/describe_query", query=query_sql), params)
    types: dict[str, pa.DataType] = {}
    for col in cur.description:
        if col.type_code not in _ARROW_TYPES:
            raise WarehouseQueryError(
                f"column {col.name!r} has PostgreSQL type OID {col.type_code}, which has no "
                "mapping; cast it in the query to integer, double precision, text or timestamptz"
            )
        types[col.name] = _ARROW_TYPES[col.type_code]
    missing = [c for c in categorical if c not in types]
    if missing:
        raise WarehouseQueryError(f"the query returns no column(s) {missing}; it returns {list(types)}")
    for name in categorical:
        # Parsed straight into dictionary arrays: pandas gets categories without re-hashing strings.
        types[name] = pa.dictionary(pa.int32(), types[name])
    # psycopg2 binds parameters client-side; mogrify is the same binding, done before COPY wraps the query.
    copy_sql = cur.mogrify(statement("io/copy_query_out", query=query_sql), params)
    options = {
        "read_options": pacsv.ReadOptions(block_size=_PIPE_BYTES),
        # Quoted text may hold line breaks: without this, Arrow splits blocks inside such a value.
        "parse_options": pacsv.ParseOptions(newlines_in_values=True),
        "convert_options": pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],  # COPY's NULL is an unquoted empty field; text such as 'NA' is data
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],  # COPY writes booleans as t/f
            false_values=["f"],
        ),
    }
    return copy_sql, options


def _to_frame(table: pa.Table) -> pd.DataFrame:
    """``table`` as pandas with :meth:`Warehouse.read_frame`'s dtypes, one column at a time: each
    Arrow column is released once converted, so the peak is the frame plus one column."""
    columns: dict[str, pd.Series] = {}
    for name in table.column_names:
        column = table.column(0)
        table = table.remove_column(0)
        if pa.types.is_integer(column.type) and column.null_count:
            series = column.to_pandas(types_mapper={column.type: pd.Int64Dtype()}.get)
        else:
            series = column.to_pandas()
        if isinstance(series.dtype, pd.CategoricalDtype):
            series = _as_astype_category(series)
        columns[name] = series
        del column
    return pd.DataFrame(columns, copy=False)


class _NumpyColumn:
    """A streamed int64, float64 or timestamp column, copied batch by batch into one growing NumPy
    array: the result is never held twice (Arrow batches, then pandas), and the copying overlaps the
    transfer. Integers with NULLs get a mask (``Int64``); float NULLs become NaN, timestamp ones NaT.
    """

    _FIRST_CAPACITY = 1 << 16

    def __init__(self, arrow_type: pa.DataType) -> None:
        self.arrow_type = arrow_type
        if pa.types.is_timestamp(arrow_type):
            dtype = np.dtype(f"datetime64[{arrow_type.unit}]")
        else:
            dtype = np.dtype(arrow_type.to_pandas_dtype())
        self.values = np.empty(0, dtype)
        self.mask: np.ndarray | None = None  # integers only, made at the first NULL
        self.rows = 0

    def _reserve(self, rows: int) -> None:
        if rows <= len(self.values):
            return
        capacity = max(rows, 2 * len(self.values), self._FIRST_CAPACITY)
        # realloc: a large block grows by remapping pages, without copying them.
        self.values.resize(capacity, refcheck=False)
        if self.mask is not None:
            self.mask.resize(capacity, refcheck=False)  # new entries are False

    def append(self, array: pa.Array) -> None:
        n = len(array)
        self._reserve(self.rows + n)
        target = self.values[self.rows : self.rows + n]
        itemsize = self.values.dtype.itemsize
        # The values buffer as is (NULL slots hold arbitrary values), then the NULLs marked.
        buffer = array.buffers()[1]
        if buffer is None:  # no values at all (every slot NULL)
            target.view(np.int64)[:] = 0
        else:
            target[:] = np.frombuffer(buffer, self.values.dtype, count=n, offset=array.offset * itemsize)
        if array.null_count:
            nulls = array.is_null().to_numpy(zero_copy_only=False)
            if target.dtype.kind == "f":
                target[nulls] = np.nan
            elif target.dtype.kind == "M":
                target[nulls] = np.datetime64("NaT")
            else:
                if self.mask is None:
                    self.mask = np.zeros(len(self.values), bool)
                self.mask[self.rows : self.rows + n] = nulls
        del target
        self.rows += n

    def finish(self) -> pd.Series:
        values, mask = self.values, self.mask
        self.values = self.mask = None
        values.resize(self.rows, refcheck=False)
        if mask is not None:
            mask.resize(self.rows, refcheck=False)
            return pd.Series(pd.arrays.IntegerArray(values, mask), copy=False)
        series = pd.Series(values, copy=False)
        if pa.types.is_timestamp(self.arrow_type) and self.arrow_type.tz is not None:
            series = series.dt.tz_localize(self.arrow_type.tz)
        return series


class _ArrowColumn:
    """A streamed column of any other type (text, category, boolean, date), kept as Arrow arrays
    and converted at the end (text stays Arrow-backed in pandas; categories are small)."""

    def __init__(self, arrow_type: pa.DataType) -> None:
        self.arrow_type = arrow_type
        self.chunks: list[pa.Array] = []

    def append(self, array: pa.Array) -> None:
        self.chunks.append(array)

    def finish(self) -> pd.Series:
        table = pa.table({"c": pa.chunked_array(self.chunks, self.arrow_type)})
        self.chunks = []
        return _to_frame(table)["c"]


def _column_builder(arrow_type: pa.DataType) -> _NumpyColumn | _ArrowColumn:
    fixed_width = pa.types.is_int64(arrow_type) or pa.types.is_float64(arrow_type)
    if fixed_width or pa.types.is_timestamp(arrow_type):
        return _NumpyColumn(arrow_type)
    return _ArrowColumn(arrow_type)


def _as_astype_category(series: pd.Series) -> pd.Series:
    """A categorical from an Arrow dictionary with the categories ``astype("category")`` would give:
    only the values present (a slice keeps its batch's whole dictionary), sorted (Arrow keeps them in
    first-seen order). Works on the codes, 25 times faster than ``remove_unused_categories``."""
    cat = series.array
    codes = cat.codes
    used = np.flatnonzero(np.bincount(codes[codes >= 0], minlength=len(cat.categories)))
    categories = cat.categories[used]
    order = categories.argsort()
    remap = np.full(len(cat.categories) + 1, -1, dtype=codes.dtype)  # the last slot maps NULL's -1 to -1
    remap[used[order]] = np.arange(len(used), dtype=codes.dtype)
    recoded = pd.Categorical.from_codes(remap[codes], categories[order], validate=False)
    return pd.Series(recoded, index=series.index, name=series.name)


def _widen(fd: int) -> None:
    """Give a pipe a 1 MiB buffer (Linux; the 64 KiB default costs a context switch per 64 KiB)."""
    try:
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_BYTES)
    except (AttributeError, OSError):  # not Linux, or above /proc/sys/fs/pipe-max-size
        pass


def _pipe_writer(name: str, write: Callable[[IO[bytes]], None]) -> tuple[int, threading.Thread, list[BaseException]]:
    """Run ``write(sink)`` in a thread, ``sink`` being the write end of a pipe with a widened buffer.

    Returns:
        The pipe's read file descriptor, the started thread, and a list that receives the exception
        ``write`` raised, if any (for the caller to re-raise in its own thread).
    """
    read_fd, write_fd = os.pipe()
    _widen(write_fd)
    failure: list[BaseException] = []

    def produce() -> None:
        try:
            with open(write_fd, "wb", buffering=_PIPE_BYTES) as sink:
                write(sink)
        except BaseException as exc:  # re-raised by the reader
            failure.append(exc)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    return read_fd, thread, failure


@contextmanager
def _copy_out(cur: Cursor, copy_sql: bytes) -> Iterator[IO[bytes]]:
    """A readable stream of ``copy_sql``'s output, written by ``copy_expert`` in a thread.

    On leaving, the rest of the stream is read and discarded so that the COPY ends and the
    connection is usable again, then the thread is joined. An error of the COPY (a query failing
    part-way) is raised then, in preference to the reader's own (which it usually caused).
    """

    def copy(sink: IO[bytes]) -> None:
        cur.copy_expert(copy_sql, sink)

    read_fd, thread, failure = _pipe_writer("copy-out", copy)
    source = open(read_fd, "rb", buffering=_PIPE_BYTES)
    try:
        yield source
    finally:
        try:
            while source.read(_PIPE_BYTES):
                pass
        finally:
            source.close()
            thread.join()
        if failure:
            raise failure[0]
