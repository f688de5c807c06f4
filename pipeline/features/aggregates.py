"""Declared aggregates: per-period tables of the sources that the feature query reads instead of the
raw history, kept current before every feature extraction.

A model declares each aggregate in ``dataset.aggregates`` (:class:`~pipeline.config.AggregateConfig`):
SQL that rebuilds given periods idempotently, SQL that counts the source rows per period, the period
(a day, say), when a period is known (its end plus ``known_after``) and how far back a cutoff reads it
(``lookback``). This is how feature platforms keep long trailing windows cheap (Chronon's and Tecton's
tiles): a point-in-time value is the sum of the periods known by the cutoff, plus the raw events
since the last of them, so a run's cost follows its new data, not the history behind it.

:func:`refresh` runs before each extraction (:func:`pipeline.features.build.extract_feature_table`).
Under an advisory lock per aggregate, in one transaction, it builds the periods the extraction's
cutoffs need that are missing or stale (built with another definition), and records each in
``ml.aggregate_periods`` with its source rows, its definition and when. A period is built only once it
is known at the extraction's last cutoff, so a run never freezes a period that is still filling.

A period without source rows is not built. When it lies after the first period built from data (the
start of the history) and the extraction returns rows, :meth:`Refreshed.check` raises
:class:`MissingSourcePeriodError` naming it: a feature over a gap in the sources is an error, never a
silent zero.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.config import AggregateConfig, FeatureStoreConfig
from pipeline.data.warehouse import Cursor, Warehouse, fetch, statement
from pipeline.errors import PermanentError

log = logging.getLogger(__name__)

BUILD_CHUNK = 31
"""Periods rebuilt per execution of an aggregate's build statements: a cold start logs its progress
every this many periods."""


Periodic = AggregateConfig | FeatureStoreConfig
"""What is built per period and recorded in ``ml.aggregate_periods``: an aggregate, or the offline store
(:mod:`pipeline.features.store`)."""


class MissingSourcePeriodError(PermanentError, ValueError):
    """The sources hold no rows for a period an extraction's features need, after the history began."""


@dataclass
class Refreshed:
    """What :func:`refresh` did for one aggregate."""

    aggregate: str
    built: list[dt.datetime] = field(default_factory=list)
    """Periods built now (their starts, UTC)."""
    absent: list[dt.datetime] = field(default_factory=list)
    """Needed periods with no source rows, after the first period ever built from data."""

    def check(self) -> None:
        """Raise when the extraction needs a period the sources do not hold.

        Raises:
            MissingSourcePeriodError: ``absent`` is not empty; the message names the periods.
        """
        if self.absent:
            shown = ", ".join(f"{p:%Y-%m-%d %H:%M}" for p in self.absent[:5])
            more = f" and {len(self.absent) - 5} more" if len(self.absent) > 5 else ""
            raise MissingSourcePeriodError(
                f"aggregate {self.aggregate}: the sources hold no rows for the period(s) starting {shown}{more} (UTC), "
                "which the features of this window read. Load the missing data, then rerun; the pipeline builds "
                "the period once its source rows exist"
            )


def definition(agg: AggregateConfig) -> str:
    """The SHA-256 (hex) of what a built period depends on: the build statements, period and origin. A
    period recorded with another definition is stale."""
    text = f"{agg.text('build')}\n{agg.period}\n{agg.origin.isoformat()}"
    return hashlib.sha256(text.encode()).hexdigest()


def floor(agg: Periodic, t: dt.datetime) -> dt.datetime:
    """The start of the period holding ``t`` (timezone-aware), in UTC."""
    origin = agg.origin.astimezone(dt.UTC)
    return origin + ((t.astimezone(dt.UTC) - origin) // agg.period) * agg.period


def needed(
    agg: AggregateConfig, first_cutoff: dt.datetime, last_cutoff: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """The periods an extraction with cutoffs in ``[first_cutoff, last_cutoff]`` reads, as ``[start,
    end)`` of their starts: from ``lookback`` before the first cutoff to the last period known at the last
    cutoff (ends at or before ``last_cutoff - known_after``). Empty (``start >= end``) when none is known."""
    return floor(agg, first_cutoff - agg.lookback), floor(agg, last_cutoff - agg.known_after)


def refresh(
    warehouse: Warehouse, aggregates: list[AggregateConfig], first_cutoff: dt.datetime, last_cutoff: dt.datetime
) -> list[Refreshed]:
    """Build the missing or stale periods that cutoffs in ``[first_cutoff, last_cutoff]`` read.

    One transaction per aggregate, under its advisory lock: concurrent runs wait, then find the
    periods built. Each run of consecutive periods with source rows is rebuilt by the aggregate's build
    statements, at most :data:`BUILD_CHUNK` periods per execution, and recorded in
    ``ml.aggregate_periods``. Idempotent: a second call builds nothing.

    Args:
        warehouse: the warehouse holding the sources, the aggregate tables and ``ml``.
        aggregates: the model's ``dataset.aggregates``.
        first_cutoff, last_cutoff: the earliest and latest cutoff (as_of) of the extraction,
            timezone-aware.

    Returns:
        One :class:`Refreshed` per aggregate; call :meth:`Refreshed.check` once the extraction has
        returned rows.

    Raises:
        WarehouseError: a statement failed; that aggregate's transaction is rolled back, so no period
            is half-built or recorded.
    """
    return [_refresh_one(warehouse, agg, first_cutoff, last_cutoff) for agg in aggregates]


def _refresh_one(
    warehouse: Warehouse, agg: AggregateConfig, first_cutoff: dt.datetime, last_cutoff: dt.datetime
) -> Refreshed:
    from pipeline.features.batch import merge_spans  # batch imports build, which imports this module

    result = Refreshed(agg.name)
    start, end = needed(agg, first_cutoff, last_cutoff)
    if start >= end:
        return result
    version = definition(agg)
    with warehouse.transaction() as cur:
        fetch(cur, "aggregates/lock", {"aggregate": agg.name})
        rows = fetch(cur, "aggregates/built", bounds(agg, start, end))
        built = {r["period_start"] for r in rows if r["definition"] == version}
        todo = [p for p in periods(agg, start, end) if p not in built]
        if not todo:
            return result
        counts = _source_rows(cur, agg, todo[0], todo[-1] + agg.period)
        present = [p for p in todo if counts.get(p, 0) > 0]
        began = time.perf_counter()
        for lo, hi in merge_spans([(p, p + agg.period) for p in present]):  # runs of consecutive periods
            build_in_chunks(
                cur, agg, periods(agg, lo, hi), _builder(cur, agg, counts), version, result.built, len(present)
            )
        first = fetch(cur, "aggregates/first_with_data", {"aggregate": agg.name})[0]["first_period"]
        result.absent = [p for p in todo if counts.get(p, 0) == 0 and first is not None and p > first]
    if result.built:
        log.info(
            "aggregate %s: %d period(s) built in %.1f s; current for cutoffs up to %s",
            agg.name,
            len(result.built),
            time.perf_counter() - began,
            last_cutoff,
        )
    return result


def restate(warehouse: Warehouse, agg: AggregateConfig, start: dt.datetime, end: dt.datetime) -> Refreshed:
    """Rebuild every period of ``agg`` that overlaps ``[start, end)`` from the sources as they are now, built
    or not: after source rows arrived or were corrected later than ``known_after`` allows for, which
    :func:`refresh` never revisits. In one transaction under the aggregate's advisory lock, the periods'
    records are forgotten, the build statements rerun over the span (a period without source rows ends up
    empty) and the periods with source rows recorded again. A failure rolls all of it back.

    Args:
        warehouse: the warehouse holding the sources, the aggregate table and ``ml``.
        agg: one of the model's ``dataset.aggregates``.
        start, end: timezone-aware, ``start < end``; widened to whole periods.

    Returns:
        A :class:`Refreshed`: ``built`` holds the periods rebuilt with source rows (their starts, UTC);
        ``absent`` those left empty.

    Raises:
        ValueError: ``start`` is not before ``end``.
        WarehouseError: a statement failed (everything rolled back).
    """
    if start >= end:
        raise ValueError(f"start {start} is not before end {end}")
    lo, hi = floor(agg, start), floor(agg, end - dt.timedelta(microseconds=1)) + agg.period
    result, version, span = Refreshed(agg.name), definition(agg), periods(agg, lo, hi)
    with warehouse.transaction() as cur:
        fetch(cur, "aggregates/lock", {"aggregate": agg.name})
        cur.execute(statement("aggregates/forget"), bounds(agg, lo, hi))
        counts = _source_rows(cur, agg, lo, hi)
        result.absent = [p for p in span if counts.get(p, 0) == 0]
        build_in_chunks(
            cur, agg, span, _builder(cur, agg, counts), version, result.built, len(span) - len(result.absent)
        )
    log.info(
        "aggregate %s: restated %d period(s) in [%s, %s), %d with source rows",
        agg.name,
        len(span),
        lo,
        hi,
        len(result.built),
    )
    return result


def build_in_chunks(
    cur: Cursor,
    target: Periodic,
    run: list[dt.datetime],
    build_chunk: Callable[[dt.datetime, dt.datetime], dict[dt.datetime, int]],
    version: str,
    built: list[dt.datetime],
    total: int,
) -> None:
    """Rebuild the consecutive periods ``run`` of an aggregate or the offline store on ``cur``,
    :data:`BUILD_CHUNK` at a time: ``build_chunk(start, end)`` rebuilds the periods in ``[start, end)`` and
    returns the rows per period start. Those with rows are recorded in ``ml.aggregate_periods`` with
    definition ``version`` and appended to ``built``; progress is logged against ``total`` periods."""
    for i in range(0, len(run), BUILD_CHUNK):
        chunk = run[i : i + BUILD_CHUNK]
        lo, hi = chunk[0], chunk[-1] + target.period
        began = time.perf_counter()
        counts = build_chunk(lo, hi)
        seconds = time.perf_counter() - began
        present = [p for p in chunk if counts.get(p, 0) > 0]
        record(cur, target, present, [counts[p] for p in present], version, seconds)
        built += present
        log.info(
            "%s: built %d period(s) [%s, %s) from %d rows in %.1f s (%d/%d)",
            target.name,
            len(chunk),
            lo,
            hi,
            sum(counts[p] for p in present),
            seconds,
            len(built),
            total,
        )


def _builder(
    cur: Cursor, agg: AggregateConfig, counts: dict[dt.datetime, int]
) -> Callable[[dt.datetime, dt.datetime], dict[dt.datetime, int]]:
    """:func:`build_in_chunks`'s step for an aggregate: run its build statements, and return the source
    rows per period (``counts``, counted before the build)."""

    def step(start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, int]:
        build(cur, agg, start, end)
        return counts

    return step


def build(cur: Cursor, agg: AggregateConfig, start: dt.datetime, end: dt.datetime) -> None:
    """Run the aggregate's build statements for the periods in ``[start, end)`` on ``cur`` (inside the
    caller's transaction; nothing is recorded)."""
    cur.execute(agg.text("build"), bounds(agg, start, end))


def rebuild_around(cur: Cursor, agg: AggregateConfig, cutoff: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Rebuild, on ``cur`` and without recording them, the periods from ``lookback`` before ``cutoff`` to
    ``lookback`` after it: those its features read, and those a leaky query could read before they
    are known. For the leakage check, inside its rolled-back transaction, before and after it changes
    the sources. Returns the rebuilt ``[start, end)``."""
    start, end = floor(agg, cutoff - agg.lookback), floor(agg, cutoff + agg.lookback) + agg.period
    build(cur, agg, start, end)
    return start, end


def bounds(agg: Periodic, start: dt.datetime, end: dt.datetime) -> dict:
    """Bind parameters of the ``sql/aggregates/`` statements (and an aggregate's build and source SQL) for
    the periods in ``[start, end)``: its name, the bounds and its grid (``period``, ``origin``)."""
    return {"aggregate": agg.name, "start": start, "end": end, "period": agg.period, "origin": agg.origin}


def periods(agg: Periodic, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
    """The starts of the periods in ``[start, end)``, both on the period grid."""
    count = (end - start) // agg.period
    return [start + i * agg.period for i in range(count)]


def _source_rows(cur: Cursor, agg: AggregateConfig, start: dt.datetime, end: dt.datetime) -> dict[dt.datetime, int]:
    """Source rows per period start in ``[start, end)``, by the aggregate's source query."""
    cur.execute(agg.text("source"), bounds(agg, start, end))
    return {period.astimezone(dt.UTC): rows for period, rows in cur.fetchall()}


def record(
    cur: Cursor, agg: Periodic, starts: list[dt.datetime], rows: list[int], version: str, seconds: float
) -> None:
    """Record the periods ``starts`` as built from ``rows`` source rows each, with definition ``version``,
    in ``ml.aggregate_periods`` (a rebuild replaces the record)."""
    params = {
        "aggregate": agg.name,
        "starts": starts,
        "source_rows": rows,
        "period": agg.period,
        "definition": version,
        "seconds": seconds,
    }
    cur.execute(statement("aggregates/record"), params)
