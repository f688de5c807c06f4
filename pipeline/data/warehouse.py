"""Thin I/O to the PostgreSQL warehouse: statements from ``sql/``, transactions, and COPY-class bulk
reads and writes (no row-by-row INSERT, no ``read_sql``/``to_sql``).

Statements are templates: identifiers (table and column names) are composed with
:mod:`psycopg2.sql`, values are always bind parameters in ``%(name)s`` form. Every session runs in
UTC, so ``timestamptz`` values cross the wire unambiguously.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

import pandas as pd
import psycopg2
import pyarrow as pa
import pyarrow.csv as pacsv
from psycopg2 import sql
from psycopg2.extensions import cursor as Cursor
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from pipeline.config import PROJECT_ROOT

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
}


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


class Warehouse:
    """A connection pool to one warehouse database.

    Args:
        url: ``postgresql://user:password@host:port/database``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = engine_for(url)

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A cursor inside one transaction: committed on success, rolled back on any error.

        Raises:
            WarehouseError: the database refused a statement or could not be reached.
        """
        try:
            conn = self.engine.raw_connection()
        except Exception as exc:
            raise WarehouseError(f"cannot connect to the warehouse {make_url(self.url)!r}: {exc}") from exc
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

    def read_frame(self, query: str, params: Mapping[str, Any], categorical: Sequence[str] = ()) -> pd.DataFrame:
        """Run ``query`` and return its result through ``COPY ... TO STDOUT``.

        Args:
            query: a SELECT with ``%(name)s`` bind parameters.
            params: the bind parameters' values.
            categorical: text columns to return as ``category`` dtype.

        Returns:
            One row per result row. Dtypes follow the PostgreSQL types: integer columns are
            ``int64`` (``Int64`` when they hold NULLs), floating and numeric ``float64``,
            ``timestamptz`` ``datetime64[us, UTC]``, text ``str`` or ``category``.

        Raises:
            WarehouseError: the query fails (a missing table, say) or returns a type not mapped here.
        """
        with self.transaction() as cur:
            return read_frame(cur, query, params, categorical)


def fetch(cur: Cursor, name: str, params: Mapping[str, Any] | None = None, **identifiers: Any) -> list[dict]:
    """Rows of ``sql/<name>.sql`` run on ``cur``, as dicts."""
    cur.execute(statement(name, **identifiers), params)
    if cur.description is None:
        return []
    names = [d.name for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def read_frame(cur: Cursor, query: str, params: Mapping[str, Any], categorical: Sequence[str] = ()) -> pd.DataFrame:
    """:meth:`Warehouse.read_frame` on an open cursor (inside the caller's transaction)."""
    query_sql = sql.SQL(query.strip().rstrip(";"))
    cur.execute(statement("io/describe_query", query=query_sql), params)
    types: dict[str, pa.DataType] = {}
    for col in cur.description:
        if col.type_code not in _ARROW_TYPES:
            raise WarehouseError(
                f"column {col.name!r} has PostgreSQL type OID {col.type_code}, which has no "
                "mapping; cast it in the query to integer, double precision, text or timestamptz"
            )
        types[col.name] = _ARROW_TYPES[col.type_code]
    missing = [c for c in categorical if c not in types]
    if missing:
        raise WarehouseError(f"the query returns no column(s) {missing}; it returns {list(types)}")
    # psycopg2 binds parameters client-side; mogrify is the same binding, done before COPY wraps the query.
    copy_sql = cur.mogrify(statement("io/copy_query_out", query=query_sql), params)
    buffer = io.BytesIO()
    cur.copy_expert(copy_sql, buffer)
    buffer.seek(0)
    table = pacsv.read_csv(
        buffer,
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            null_values=[""],  # COPY's NULL is an unquoted empty field; text such as 'NA' is data
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
            true_values=["t"],  # COPY writes booleans as t/f
            false_values=["f"],
        ),
    )
    frame = table.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for name, dtype in types.items():
        if dtype == pa.int64() and table.column(name).null_count == 0:
            frame[name] = frame[name].astype("int64")
    for name in categorical:
        frame[name] = frame[name].astype("category")
    return frame


def write_frame(cur: Cursor, frame: pd.DataFrame, table: str | sql.Composable, null: str = "") -> int:
    """Bulk-load ``frame`` into ``table`` with ``COPY ... FROM STDIN`` in the caller's transaction.

    Args:
        cur: an open cursor; nothing is committed here.
        frame: columns named as the table's; NaN/NA and None are written as NULL.
        table: ``"schema.table"`` or a composed identifier (a temp table).
        null: the CSV text that stands for NULL.

    Returns:
        Rows written.
    """
    buffer = io.BytesIO()
    pacsv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), buffer)
    buffer.seek(0)
    write_csv(cur, buffer, table, list(frame.columns), null)
    return len(frame)


def write_csv(cur: Cursor, stream: io.IOBase, table: str | sql.Composable, columns: Sequence[str], null: str) -> None:
    """``COPY table (columns) FROM STDIN`` of a CSV stream whose first line is a header."""
    cur.copy_expert(
        statement(
            "io/copy_csv_in",
            table=table,
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            null=sql.Literal(null),
        ),
        stream,
    )
