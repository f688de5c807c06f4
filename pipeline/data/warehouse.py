"""Thin I/O to the PostgreSQL warehouse: statements from ``sql/``, transactions, and Arrow-native bulk
reads and writes through ADBC (``adbc-driver-postgresql``, binary ``COPY`` underneath; no row-by-row
INSERT, no ``read_sql``/``to_sql``).

Statements are templates: identifiers (table and column names) are composed with
:mod:`psycopg2.sql`, values are always bind parameters in ``%(name)s`` form. Small statements run on
a pooled psycopg2 connection; bulk work runs on an ADBC connection, with the statement's parameters
bound client-side by psycopg2 (``mogrify``, the same binding psycopg2 always does). Every session
runs in UTC, so ``timestamptz`` values cross the wire unambiguously.

Types of a bulk read (:meth:`Warehouse.read_frame`): integers of any width become ``int64``
(``Int64`` when the column holds NULLs), ``real``/``double precision`` ``float64``, ``numeric``
``float64`` on purpose (a double's 15-17 significant digits: cast to ``text`` in the query to keep
exact decimals), ``timestamptz`` ``datetime64[us, UTC]``, ``timestamp`` ``datetime64[us]``, ``date``
Python dates, ``boolean`` ``bool``, text ``str`` (or ``category`` on request). Other types (``jsonb``,
arrays...) are refused with a message saying to cast them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any
from urllib.parse import quote

import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.compute as pc
from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from pipeline.config import PROJECT_ROOT

log = logging.getLogger(__name__)

SQL_DIR = PROJECT_ROOT / "sql"


# The PostgreSQL types a bulk read maps (ADBC's type names); anything else must be cast in the query.
_MAPPED_TYPES = frozenset(
    {"int2", "int4", "int8", "float4", "float8", "numeric", "bool", "text", "varchar", "bpchar", "date"}
    | {"timestamp", "timestamptz"}
)


class WarehouseError(RuntimeError):
    """A warehouse statement failed; the message names the statement and PostgreSQL's reason."""


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
    """A pooled SQLAlchemy engine on psycopg2 for a ``postgresql://`` URL, sessions in UTC."""
    parsed = make_url(url).set(drivername="postgresql+psycopg2")
    return create_engine(parsed, pool_pre_ping=True, connect_args={"options": "-c timezone=UTC"})


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
            WarehouseError: the database refused a statement or could not be reached.
        """
        conn = self._connect()
        try:
            with conn.cursor() as cur:
                yield cur
            conn.commit()
        except psycopg2.Error as exc:
            conn.rollback()
            raise WarehouseError(f"warehouse statement failed: {(exc.pgerror or str(exc)).strip()}") from exc
        except BaseException:
            conn.rollback()
            raise
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

    @contextmanager
    def bulk(self) -> Iterator[BulkSession]:
        """A :class:`BulkSession`: one ADBC transaction for statements, bulk reads and bulk writes,
        committed when the block ends and rolled back on any error, so nothing is half-written.

        Raises:
            WarehouseError: the database refused a statement or could not be reached.
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
                raise WarehouseError(f"warehouse statement failed: {_reason(exc)}") from exc
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
        """Run a query and return its result as a DataFrame (:meth:`BulkSession.read_frame`), in a
        transaction of its own."""
        with self.bulk() as session:
            return session.read_frame(query, params, categorical)


class BulkSession:
    """Statements, Arrow-native reads and writes inside one ADBC transaction (:meth:`Warehouse.bulk`)."""

    def __init__(self, conn: Any, cur: Any, bind: Cursor) -> None:
        self._conn, self._cur, self._bind = conn, cur, bind
        self._schemas: dict[str, pa.Schema] = {}

    def _bound(self, query: str | sql.Composable, params: Mapping[str, Any] | None) -> str:
        query = query if isinstance(query, sql.Composable) else sql.SQL(query.strip().rstrip(";"))
        return self._bind.mogrify(query, params).decode()

    def execute(self, name: str, params: Mapping[str, Any] | None = None, **identifiers: Any) -> None:
        """Execute ``sql/<name>.sql`` (one statement) in the session's transaction."""
        self._cur.execute(self._bound(statement(name, **identifiers), params))

    def fetch(self, name: str, params: Mapping[str, Any] | None = None, **identifiers: Any) -> list[dict]:
        """Rows of ``sql/<name>.sql`` as dicts, in the session's transaction."""
        return self.read_frame(statement(name, **identifiers), params or {}).to_dict(orient="records")

    def read_frame(
        self, query: str | sql.Composable, params: Mapping[str, Any], categorical: Sequence[str] = ()
    ) -> pd.DataFrame:
        """Run ``query`` and return its result, read as Arrow record batches (binary COPY).

        Args:
            query: a SELECT with ``%(name)s`` bind parameters (text, or composed with identifiers).
            params: the bind parameters' values.
            categorical: text columns to return as ``category`` dtype, categories sorted.

        Returns:
            One row per result row, dtypes as the module docstring lists.

        Raises:
            WarehouseError: the query fails (a missing table, say), returns a type not mapped here,
                or lacks a ``categorical`` column.
        """
        self._cur.execute(self._bound(query, params))
        table = self._cur.fetch_arrow_table()
        missing = [c for c in categorical if c not in table.column_names]
        if missing:
            raise WarehouseError(f"the query returns no column(s) {missing}; it returns {table.column_names}")
        return _to_frame(table, set(categorical))

    def write_frame(self, frame: pd.DataFrame, table: str) -> int:
        """Bulk-load ``frame`` into ``table`` (``"schema.table"``) in the session's transaction.

        Columns are matched by name and cast to the table's own types (an ``int64`` frame column
        into an ``integer`` column, say); table columns the frame lacks take their defaults;
        NaN/NA/None become NULL; nanosecond timestamps are rounded to microseconds.

        Returns:
            Rows written.

        Raises:
            WarehouseError: a type or constraint refused the data; the whole session rolls back.
        """
        schema_name, table_name = table.split(".")
        if table not in self._schemas:
            self._schemas[table] = self._conn.adbc_get_table_schema(table_name, db_schema_filter=schema_name)
        target = self._schemas[table]
        data = pa.Table.from_pandas(frame, preserve_index=False)
        unknown = [c for c in data.column_names if target.get_field_index(c) < 0]
        if unknown:
            raise WarehouseError(f"{table} has no column(s) {unknown}")
        for i, column in enumerate(data.columns):  # PostgreSQL keeps microseconds: round, as it does text
            if pa.types.is_timestamp(column.type) and column.type.unit == "ns":
                data = data.set_column(i, data.field(i), pc.round_temporal(column, 1, "microsecond"))
        try:
            data = data.cast(pa.schema([target.field(c) for c in data.column_names]))
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise WarehouseError(f"cannot write to {table}: {exc}") from exc
        self._cur.adbc_ingest(table_name, data, mode="append", db_schema_name=schema_name)
        return len(frame)


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


def _to_frame(table: pa.Table, categorical: set[str]) -> pd.DataFrame:
    """``table`` as pandas with the module's dtypes, one column at a time (each Arrow column is
    released once converted)."""
    columns: dict[str, pd.Series] = {}
    for field in table.schema:
        column = table.column(0)
        table = table.remove_column(0)
        columns[field.name] = _to_series(field, column, field.name in categorical)
        del column
    return pd.DataFrame(columns, copy=False)


def _to_series(field: pa.Field, column: pa.ChunkedArray, categorical: bool) -> pd.Series:
    type_name = (field.metadata or {}).get(b"POSTGRESQL:type", b"?").decode()
    if type_name not in _MAPPED_TYPES:
        raise WarehouseError(
            f"column {field.name!r} has PostgreSQL type {type_name}, which has no mapping; cast it in "
            "the query to integer, double precision, text or timestamptz"
        )
    if type_name == "numeric":  # float64 on purpose (see the module docstring); 'NaN' parses as NaN
        if isinstance(column.type, pa.ExtensionType):
            column = pa.chunked_array([c.storage for c in column.chunks], column.type.storage_type)
        return pc.cast(column, pa.float64()).to_pandas()
    kind = column.type
    if pa.types.is_integer(kind):
        column = column.cast(pa.int64())
        if column.null_count:
            return column.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
        return column.to_pandas()
    if pa.types.is_floating(kind):
        return column.cast(pa.float64()).to_pandas()
    if categorical:
        if not pa.types.is_string(kind):
            raise WarehouseError(f"column {field.name!r} is {type_name}, not text: it cannot be categorical")
        series = pc.dictionary_encode(column).to_pandas()
        # Sorted categories, as astype("category") gives (Arrow keeps them in first-seen order).
        return series.cat.reorder_categories(series.cat.categories.sort_values())
    return column.to_pandas()
