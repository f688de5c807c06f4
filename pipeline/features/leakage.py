"""The leakage check: does a model's feature query use only data known by each row's cutoff?

For sampled cutoffs T spread over the data, the check runs the model's feature query for the window
that a predict run cut off at T scores (``cfg.cutoff_rule.window(T)``), then, inside one transaction
that is always rolled back, deletes or changes every source row stamped after T (the tables and
stamps of ``dataset.sources``), rebuilds the declared aggregates' periods around T from the changed
sources (``dataset.aggregates``; built from the unchanged ones before the first run too, so a period
read before it is known shows up), runs the query again, and compares every feature of every entity.
A feature that moved was computed from data not yet known at T: a leak. It also checks that each
row's ``as_of`` is the cutoff T and at least ``predictions.lead`` before the row's timestamp.

Nothing is ever written: every change is made in a transaction that is rolled back (also on error).
The changed rows stay locked until then (a few seconds per cutoff), so a loader writing those tables
meanwhile waits, and the check gives up after :data:`LOCK_TIMEOUT` if a loader holds them. Run it on a
replica or a copy when that matters.

How rows are changed (``mode: change``), chosen so that any feature using the value moves, and so that
an event time only moves later (a row stamped after T stays after T):

- numbers: ``x * 3 + 997`` (larger than ``x`` for any ``x`` above -498: a delay or a duration grows);
- text: ``'zz'``; booleans: negated; dates and times: 41 days 13 hours later;
- NULL stays NULL. So a feature that reads only *whether* a later-observed column is NULL (``dep_time
  IS NULL`` of a flight that has not left yet) is not caught; declare such facts as a ``delete``
  source, or stamp them.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from psycopg2 import sql

from pipeline.config import PipelineConfig, SourceConfig
from pipeline.data.warehouse import Warehouse, fetch, read_frame, statement
from pipeline.errors import PermanentError
from pipeline.features.aggregates import rebuild_around, refresh
from pipeline.features.build import feature_query, window_params
from pipeline.schedule import CUTOFF_COLUMN

log = logging.getLogger(__name__)

TOLERANCE = 1e-9
"""Relative and absolute tolerance of a float feature: an aggregate over rows read in another
physical order (the changed rows move) may differ in its last bits without using any changed value."""
LOCK_TIMEOUT = "10s"
"""How long a change waits for a row lock held by another session before the check fails."""
ATTEMPTS = 25
"""Cutoffs drawn per stratum before giving up on it: a window may hold no entity (a night hour)."""
ENTITY_SET = "(entity set)"
"""The :attr:`Leak.feature` of an entity that the query returns only before, or only after, the changes."""

# pg_type.typcategory -> how a later-observed value is changed (see the module docstring).
_PERTURB = {
    "N": sql.SQL("{column} * 3 + 997"),
    "S": sql.SQL("CASE WHEN {column} IS NULL THEN NULL ELSE 'zz' END"),
    "B": sql.SQL("NOT {column}"),
    "D": sql.SQL("{column} + interval '41 days 13 hours'"),
}
# Known after the cutoff (a fact known at the cutoff may be used by it); a NULL stamp means never known.
_STAMPED = sql.SQL("(({stamp}) > %(cutoff)s::timestamptz OR ({stamp}) IS NULL)")


class LeakageCheckError(PermanentError, ValueError):
    """The check cannot run: no ``dataset.sources``, an unknown table or column, a column type it
    cannot change, no entity in any sampled window, or a feature query whose key is not unique."""


class LeakFound(PermanentError):
    """The check found a leak or a wrong ``as_of`` (``pipeline check-leakage`` exits 1 with it)."""


@dataclass(frozen=True)
class Leak:
    """One feature of one entity that moved when the data stamped after ``cutoff`` changed."""

    feature: str
    cutoff: dt.datetime
    key: dict[str, Any]
    before: Any
    after: Any


@dataclass(frozen=True)
class AsOfViolation:
    """A row whose ``as_of`` is not its window's cutoff, or is later than its timestamp minus the lead."""

    cutoff: dt.datetime
    key: dict[str, Any]
    as_of: Any
    timestamp: Any
    reason: str


@dataclass
class LeakageReport:
    """What :func:`check_leakage` found. ``ok`` when no feature moved and every ``as_of`` is right."""

    model: str
    cutoffs: list[dt.datetime] = field(default_factory=list)
    entities: int = 0
    leaks: list[Leak] = field(default_factory=list)
    as_of_violations: list[AsOfViolation] = field(default_factory=list)
    changed_rows: dict[str, int] = field(default_factory=dict)
    """Rows deleted or changed per table and mode, summed over the cutoffs (then rolled back)."""

    @property
    def ok(self) -> bool:
        return not self.leaks and not self.as_of_violations

    @property
    def leaking_features(self) -> dict[str, int]:
        """Feature -> how many entities it leaked for, most first."""
        counts: dict[str, int] = defaultdict(int)
        for leak in self.leaks:
            counts[leak.feature] += 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def summary(self) -> str:
        """One line: the verdict and the sample it rests on."""
        sample = f"{self.entities} entities over {len(self.cutoffs)} cutoffs"
        if self.ok:
            return f"no leak in {sample}"
        parts = []
        if self.leaks:
            features = ", ".join(f"{f} ({n})" for f, n in self.leaking_features.items())
            parts.append(f"{len(self.leaks)} leaking values in {sample}: {features}")
        if self.as_of_violations:
            parts.append(f"{len(self.as_of_violations)} rows with a wrong as_of")
        return "; ".join(parts)

    def table(self, limit: int = 5) -> str:
        """The leaks and as_of violations as text, at most ``limit`` examples per feature."""
        lines = [self.summary()]
        shown: dict[str, int] = defaultdict(int)
        rows = []
        for leak in self.leaks:
            shown[leak.feature] += 1
            if shown[leak.feature] <= limit:
                cutoff = f"{leak.cutoff:%Y-%m-%d %H:%M}"
                rows.append([leak.feature, cutoff, _key_text(leak.key), leak.before, leak.after])
        if rows:
            frame = pd.DataFrame(rows, columns=["feature", "cutoff (UTC)", "entity", "before", "after"])
            lines += ["", frame.to_string(index=False)]
        if self.as_of_violations:
            lines += ["", "as_of violations:"]
            for v in self.as_of_violations[:limit]:
                lines.append(f"  cutoff {v.cutoff:%Y-%m-%d %H:%M}, {_key_text(v.key)}: {v.reason}")
        return "\n".join(lines)


def check_leakage(
    warehouse: Warehouse,
    cfg: PipelineConfig,
    samples: int = 8,
    seed: int = 0,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
) -> LeakageReport:
    """Check that the model's features use only source data known by each row's cutoff (at or before it).

    The span of the data (``[start, end)``, by default the first to the last stamp over
    ``dataset.sources``) is cut into ``samples`` equal strata, and in each a cutoff T is drawn
    (``seed``) among the ticks of the model's cutoff rule whose scored window holds at least one
    entity. All the entities of that
    window are checked (see the module docstring for the method). Every change is rolled back.

    Args:
        warehouse: the warehouse holding the source tables.
        cfg: the model's config: ``dataset`` (feature query, key, features, ``sources``) and its
            cutoff rule (``cfg.cutoff_rule``).
        samples: strata, hence cutoffs (scored windows) checked; at least 1.
        seed: seeds the draw of the cutoffs, so a run can be repeated.
        start, end: draw the cutoffs in ``[start, end)`` (timezone-aware) instead. The changes after a
            late cutoff touch fewer rows: about 7 s per 270,000 flights changed on this machine.

    Returns:
        A :class:`LeakageReport`: the cutoffs, how many entities, each leak (feature, entity key,
        value before and after, compared exactly, NaN equal to NaN, floats to :data:`TOLERANCE`),
        and each row whose ``as_of`` breaks the cutoff rule.

    Raises:
        LeakageCheckError: no ``dataset.sources``, an unknown table or column, a column type it
            cannot change, no entity in any window drawn, or duplicate keys in the query's result.
        WarehouseError: the feature query or a change failed (everything rolled back).
    """
    if samples < 1:
        raise LeakageCheckError(f"samples must be at least 1, not {samples}")
    ds, rule = cfg.dataset, cfg.cutoff_rule
    if not ds.sources:
        raise LeakageCheckError(
            f"dataset.sources is empty in {cfg.source}: declare each source table of {ds.feature_sql} and when "
            "its rows become known (README, Leakage check)"
        )
    changes = _changes(warehouse, ds.sources)
    first, last = _span(warehouse, ds.sources)
    first, last = start or first, end or last
    if first >= last:
        raise LeakageCheckError(f"no time to draw cutoffs in: [{first}, {last}) is empty")
    report = LeakageReport(cfg.model.name)
    rng = np.random.default_rng(seed)
    edges = [first + (last - first) * i / samples for i in range(samples + 1)]
    query = feature_query(ds)
    for low, high in zip(edges[:-1], edges[1:], strict=True):
        for _ in range(ATTEMPTS):
            cutoff = rule.cutoff(low + (high - low) * float(rng.random()))
            if cutoff in report.cutoffs:
                continue
            if _check_cutoff(warehouse, cfg, query, changes, cutoff, report):
                break
        else:
            log.warning("no entity in %d windows drawn in [%s, %s): stratum skipped", ATTEMPTS, low, high)
    if not report.cutoffs:
        raise LeakageCheckError(
            f"the feature query returned no entity in any of the windows drawn between {first} and {last} "
            "(the span of the sources' stamps): do the stamps cover the entities' timestamps?"
        )
    for source, rows in report.changed_rows.items():
        if rows == 0:
            log.warning("%s: no row stamped after any cutoff; is its stamp right?", source)
    log.info("%s; every change rolled back, nothing written", report.summary())
    return report


@dataclass(frozen=True)
class _TableChanges:
    """The statements that make one table look as it would have after the cutoff's facts changed."""

    table: str
    delete: sql.Composable | None
    change: sql.Composable | None
    columns: list[str]


def _changes(warehouse: Warehouse, sources: list[SourceConfig]) -> list[_TableChanges]:
    """One delete and/or one update per source table, checked against the table's columns."""
    by_table: dict[str, list[SourceConfig]] = defaultdict(list)
    for source in sources:
        by_table[source.table].append(source)
    plans = []
    for table, group in by_table.items():
        types = {r["column_name"]: r for r in warehouse.fetch("leakage/column_types", {"table": table})}
        if not types:
            raise LeakageCheckError(f"dataset.sources: table {table} not found (or has no columns)")
        deletes = [_stamped(s) for s in group if s.mode == "delete"]
        assignments, stamped, columns = [], [], []
        for source in (s for s in group if s.mode == "change"):
            condition = _stamped(source)
            stamped.append(condition)
            for column in source.columns:
                if column not in types:
                    raise LeakageCheckError(f"dataset.sources: {table} has no column {column!r}")
                perturb = _PERTURB.get(types[column]["category"])
                if perturb is None:
                    raise LeakageCheckError(
                        f"dataset.sources: cannot change {table}.{column} of type {types[column]['type_name']} "
                        "(numbers, text, booleans, dates and times only): list it in a delete source instead"
                    )
                value = perturb.format(column=sql.Identifier(column))
                assignments.append(
                    sql.SQL("{column} = CASE WHEN {condition} THEN {value} ELSE {column} END").format(
                        column=sql.Identifier(column), condition=condition, value=value
                    )
                )
                columns.append(column)
        delete = change = None
        if deletes:
            delete = statement("leakage/delete_stamped", table=table, stamped=sql.SQL(" OR ").join(deletes))
        if assignments:
            change = statement(
                "leakage/change_stamped",
                table=table,
                assignments=sql.SQL(", ").join(assignments),
                stamped=sql.SQL(" OR ").join(stamped),
            )
        plans.append(_TableChanges(table, delete, change, columns))
    return plans


def _stamped(source: SourceConfig) -> sql.Composable:
    return _STAMPED.format(stamp=sql.SQL(source.stamp))


def _span(warehouse: Warehouse, sources: list[SourceConfig]) -> tuple[dt.datetime, dt.datetime]:
    """The first and last stamp over every source."""
    stamps = []
    for source in sources:
        row = warehouse.fetch("leakage/stamp_span", table=source.table, stamp=sql.SQL(source.stamp))[0]
        stamps += [s for s in (row["first_stamp"], row["last_stamp"]) if s is not None]
    if not stamps:
        raise LeakageCheckError("dataset.sources: every source table is empty, or every stamp is NULL")
    if not all(isinstance(s, dt.datetime) and s.tzinfo for s in stamps):
        raise LeakageCheckError("dataset.sources: a stamp is not a timestamptz (cast it: (...)::timestamptz)")
    return min(stamps), max(stamps)


def _check_cutoff(
    warehouse: Warehouse,
    cfg: PipelineConfig,
    query: sql.Composable,
    changes: list[_TableChanges],
    cutoff: dt.datetime,
    report: LeakageReport,
) -> bool:
    """Check the window of ``cutoff`` into ``report``; False (nothing recorded) when it has no entity."""
    ds, rule = cfg.dataset, cfg.cutoff_rule
    start, end = rule.window(cutoff)
    params = window_params(rule, start, end)
    refresh(warehouse, ds.aggregates, cutoff, cutoff)
    with warehouse.rolled_back() as cur:
        for aggregate in ds.aggregates:  # every period near the cutoff exists, as in a backtest over history
            rebuild_around(cur, aggregate, cutoff)
        before = read_frame(cur, query, params)
        if before.empty:
            return False
        _unique(before, ds.key, cutoff)
        fetch(cur, "leakage/lock_timeout", {"timeout": LOCK_TIMEOUT})
        counts = []
        for plan in changes:
            for kind, statement_ in (("deleted", plan.delete), ("changed", plan.change)):
                if statement_ is None:
                    continue
                cur.execute(statement_, {"cutoff": cutoff})
                name = f"{plan.table} {kind}" + (f" ({', '.join(plan.columns)})" if kind == "changed" else "")
                report.changed_rows[name] = report.changed_rows.get(name, 0) + cur.rowcount
                counts.append(f"{cur.rowcount:,} {plan.table} rows {kind}")
        for aggregate in ds.aggregates:
            start, end = rebuild_around(cur, aggregate, cutoff)
            counts.append(f"aggregate {aggregate.name} rebuilt for [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M})")
        after = read_frame(cur, query, params)
    # The block above has rolled every change back.
    _unique(after, ds.key, cutoff)
    report.cutoffs.append(cutoff)
    report.entities += len(before)
    leaks = _compare(before, after, ds.key, ds.features, cutoff)
    report.leaks += leaks
    report.as_of_violations += _as_of_violations(before, ds.key, ds.timestamp, cutoff, rule.lead)
    log.info(
        "cutoff %s: %d entities in [%s, %s); %s; %d leaking values; rolled back",
        cutoff,
        len(before),
        start,
        end,
        ", ".join(counts),
        len(leaks),
    )
    return True


def _unique(frame: pd.DataFrame, key: list[str], cutoff: dt.datetime) -> None:
    missing = [c for c in key if c not in frame.columns]
    if missing:
        raise LeakageCheckError(f"the feature query returns no key column(s) {missing}")
    if frame.duplicated(key).any():
        raise LeakageCheckError(f"the feature query returns a key twice in the window of cutoff {cutoff}: key {key}")


def _compare(
    before: pd.DataFrame, after: pd.DataFrame, key: list[str], features: list[str], cutoff: dt.datetime
) -> list[Leak]:
    """Every (entity, feature) whose value differs between ``before`` and ``after``, and every entity
    in only one of them."""
    missing = sorted({f for f in features if f not in before.columns or f not in after.columns})
    if missing:
        raise LeakageCheckError(f"the feature query returns no feature column(s) {missing}")
    features = [f for f in features if f not in key]  # a key column is the same on both sides by construction
    merged = before[key + features].merge(
        after[key + features], on=key, how="outer", suffixes=("", "__after"), indicator=True
    )
    leaks = []
    for row in merged.loc[merged["_merge"] != "both", key + ["_merge"]].itertuples(index=False):
        present = "present" if row[-1] == "left_only" else "absent"
        leaks.append(Leak(ENTITY_SET, cutoff, _key(row, key), present, "absent" if present == "present" else "present"))
    both = merged[merged["_merge"] == "both"]
    for feature in features:
        a, b = both[feature], both[f"{feature}__after"]
        for i in np.flatnonzero(~_same(a, b)):
            leaks.append(Leak(feature, cutoff, _key(both.iloc[i], key), _scalar(a.iloc[i]), _scalar(b.iloc[i])))
    return leaks


def _same(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Element-wise equality: NaN/NULL equal to NaN/NULL, floats within :data:`TOLERANCE`."""
    if pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b) and not pd.api.types.is_bool_dtype(a):
        x = a.to_numpy(dtype=float, na_value=np.nan)
        y = b.to_numpy(dtype=float, na_value=np.nan)
        return np.isclose(x, y, rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True)
    return np.array([_equal(x, y) for x, y in zip(a.tolist(), b.tolist(), strict=True)], dtype=bool)


def _equal(x: Any, y: Any) -> bool:
    x_null, y_null = _is_null(x), _is_null(y)
    if x_null or y_null:
        return x_null and y_null
    if isinstance(x, float) and isinstance(y, float):
        return math.isclose(x, y, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return bool(x == y)


def _is_null(value: Any) -> bool:
    return value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value))


def _as_of_violations(
    frame: pd.DataFrame, key: list[str], timestamp: str, cutoff: dt.datetime, lead: dt.timedelta
) -> list[AsOfViolation]:
    """Rows whose ``as_of`` is not ``cutoff`` or is later than their timestamp minus ``lead``."""
    for column in (CUTOFF_COLUMN, timestamp):
        if column not in frame.columns:
            raise LeakageCheckError(f"the feature query returns no {column!r} column")
    as_of = pd.to_datetime(frame[CUTOFF_COLUMN], utc=True)
    stamp = pd.to_datetime(frame[timestamp], utc=True)
    not_cutoff = (as_of != pd.Timestamp(cutoff)).to_numpy()
    too_late = ~(as_of <= stamp - lead).to_numpy()
    violations = []
    for i in np.flatnonzero(not_cutoff | too_late):
        reason = (
            f"as_of {as_of.iloc[i]} is later than {timestamp} {stamp.iloc[i]} minus the lead {lead}"
            if too_late[i]
            else f"as_of {as_of.iloc[i]} is not the window's cutoff {cutoff}"
        )
        violations.append(AsOfViolation(cutoff, _key(frame.iloc[i], key), as_of.iloc[i], stamp.iloc[i], reason))
    return violations


def _key(row: Any, key: list[str]) -> dict[str, Any]:
    values = row if isinstance(row, tuple) else [row[c] for c in key]
    return {c: _scalar(v) for c, v in zip(key, values, strict=False)}


def _key_text(key: dict[str, Any]) -> str:
    return ", ".join(f"{c}={v}" for c, v in key.items())


def _scalar(value: Any) -> Any:
    """A plain Python value (NaN, NULL and NaT as None) for reports and JSON."""
    if _is_null(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    return value.item() if isinstance(value, np.generic) else value
