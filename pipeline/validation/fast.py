"""A pandas pre-check that confirms a batch passes its suite without importing Great Expectations.

Importing GX and validating a small batch with it is most of a small predict run's CPU (``make bench``
measures it: ``predict_small_cpu_s``). A batch that passes needs none of
GX's failure reporting, so :func:`confirm_pass` evaluates the suite's expectations with plain pandas
and returns a GX-shaped result only when every one of them surely passes. Anything else (a failure,
an expectation type or argument it does not know, an empty or all-null column, a column missing)
returns None, and GX validates the batch: GX stays the only judge of a failure and the
only author of a failure report.

So that it can only ever agree with GX, each check is GX 1.x's own rule (pandas execution engine)
or stricter: ``_mostly_success`` for ``mostly``, nulls left out of map expectations, the dtype
comparison of ``expect_column_values_to_be_of_type``. ``tests/test_fixed_cost.py`` checks that
GX passes every batch this confirms, on the repo's suites, and that broken batches go to GX.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import numpy as np
import pandas as pd

ENGINE = "pipeline.validation.fast (pandas pre-check; GX judges failures)"

_BOUNDS = {"min_value", "max_value", "strict_min", "strict_max"}


def _mostly(considered: int, unexpected: int, mostly: float) -> bool:
    """GX's ``_mostly_success``: the share of considered rows that are expected is at least ``mostly``."""
    return (float(considered) - float(unexpected)) / float(considered) >= mostly


def within(values: Any, kw: dict) -> Any:
    """``min_value <= values <= max_value`` (elementwise for a Series); strict bounds and None as in GX.

    Raises:
        TypeError: neither bound is set (GX refuses such an expectation; left to GX).
    """
    if kw.get("min_value") is None and kw.get("max_value") is None:
        raise TypeError("no bound")
    ok: Any = True
    if kw.get("min_value") is not None:
        ok = ok & ((values > kw["min_value"]) if kw.get("strict_min") else (values >= kw["min_value"]))
    if kw.get("max_value") is not None:
        ok = ok & ((values < kw["max_value"]) if kw.get("strict_max") else (values <= kw["max_value"]))
    return ok


def _outside(values: pd.Series, kw: dict) -> int:
    """How many of the (non-null, numeric) ``values`` fall outside the bounds."""
    ok = within(_numeric(values), kw)
    return len(values) - int(ok.sum()) if isinstance(ok, pd.Series) else (0 if ok else len(values))


def _map(df: pd.DataFrame, kw: dict, unexpected: Callable[[pd.Series], int]) -> dict | None:
    """A column map expectation: nulls are not considered. A column of nulls only passes vacuously, with
    GX's counts (seen on GX 1.24: success, every row missing, none unexpected, whatever ``mostly``); an
    empty batch is left to GX."""
    column = df[kw["column"]]
    values = column.dropna()
    if column.empty:
        return None
    if values.empty:
        return {"element_count": len(column), "missing_count": len(column), "unexpected_count": 0}
    bad = int(unexpected(values))
    if not _mostly(len(values), bad, kw.get("mostly", 1)):
        return None
    return {"element_count": len(column), "missing_count": len(column) - len(values), "unexpected_count": bad}


def _numeric(series: pd.Series) -> pd.Series:
    if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        raise TypeError("not a numeric column")
    return series


def _of_type(df: pd.DataFrame, kw: dict) -> dict | None:
    # GX's _validate_pandas, less its map of native Python type names (so it can only be stricter);
    # object columns take GX's per-value path, left to GX.
    dtype, expected = df[kw["column"]].dtype, kw["type_"]
    if pd.api.types.is_object_dtype(dtype):
        return None
    candidates = []
    try:
        candidates.append(np.dtype(expected).type)
    except TypeError:
        for namespace in (pd, pd.core.dtypes.dtypes):
            found = getattr(namespace, expected, None)
            if isinstance(found, type):
                candidates.append(found)
    return {"observed_value": dtype.type.__name__} if dtype.type in candidates else None


def _not_null(df: pd.DataFrame, kw: dict) -> dict | None:
    column = df[kw["column"]]
    nulls = int(column.isna().sum())
    if column.empty or not _mostly(len(column), nulls, kw.get("mostly", 1)):
        return None
    return {"element_count": len(column), "unexpected_count": nulls}


def _columns_match_set(df: pd.DataFrame, kw: dict) -> dict | None:
    expected, actual = set(kw["column_set"]), set(df.columns)
    exact = kw.get("exact_match", True) is not False
    return {"observed_value": list(df.columns)} if (actual == expected if exact else expected <= actual) else None


def _row_count(df: pd.DataFrame, kw: dict) -> dict | None:
    return {"observed_value": len(df)} if within(len(df), kw) else None


def _mean(df: pd.DataFrame, kw: dict) -> dict | None:
    values = _numeric(df[kw["column"]]).dropna()
    if values.empty:
        return None
    mean = float(values.mean())
    return {"observed_value": mean} if within(mean, kw) else None


def _compound_unique(df: pd.DataFrame, kw: dict) -> dict | None:
    if kw.get("ignore_row_if", "all_values_are_missing") != "all_values_are_missing":
        return None
    rows = df[list(kw["column_list"])]
    rows = rows[rows.notna().any(axis=1)]
    if rows.empty:
        return None
    bad = int(rows.duplicated(keep=False).sum())
    if not _mostly(len(rows), bad, kw.get("mostly", 1)):
        return None
    return {"element_count": len(df), "unexpected_count": bad}


# expectation type -> (its kwargs this module understands, its check)
_CHECKS: dict[str, tuple[set[str], Callable[[pd.DataFrame, dict], dict | None]]] = {
    "expect_table_columns_to_match_set": ({"column_set", "exact_match"}, _columns_match_set),
    "expect_table_row_count_to_be_between": (_BOUNDS, _row_count),
    "expect_column_values_to_be_of_type": ({"column", "type_"}, _of_type),
    "expect_column_values_to_not_be_null": ({"column", "mostly"}, _not_null),
    "expect_column_values_to_be_between": (
        {"column", "mostly"} | _BOUNDS,
        lambda df, kw: _map(df, kw, lambda v: _outside(v, kw)),
    ),
    "expect_column_values_to_be_in_set": (
        {"column", "mostly", "value_set"},
        lambda df, kw: _map(df, kw, lambda v: (~v.isin(kw["value_set"])).sum()),
    ),
    "expect_column_values_to_be_unique": (
        {"column", "mostly"},
        lambda df, kw: _map(df, kw, lambda v: v.duplicated(keep=False).sum()),
    ),
    "expect_column_mean_to_be_between": ({"column"} | _BOUNDS, _mean),
    "expect_compound_columns_to_be_unique": ({"column_list", "mostly", "ignore_row_if"}, _compound_unique),
}


def confirm_pass(df: pd.DataFrame, suite: dict) -> dict | None:
    """A GX-shaped validation result if ``df`` surely passes every expectation of ``suite``, else None.

    Args:
        df: the batch, as :func:`pipeline.validation.validate_batch` takes it.
        suite: the suite's GX 1.x JSON (``{"name": ..., "expectations": [{"type", "kwargs"}, ...]}``).

    Returns:
        ``{"success": True, "statistics": {...}, "results": [...], "suite_name": ..., "meta": {...}}``
        with GX's keys, one result per expectation (``observed_value``, or the element, missing and
        unexpected counts), ``meta.engine`` naming this pre-check; or None: run GX (a failure, an
        unknown expectation type or argument, a missing column, nothing to consider). Never raises
        on bad data or a bad suite: those go to GX, which reports them.
    """
    results = []
    for expectation in suite.get("expectations") or [None]:
        try:
            known, check = _CHECKS[expectation["type"]]
            kwargs = expectation.get("kwargs") or {}
            if not set(kwargs) <= known:
                return None
            observed = check(df, kwargs)
        except Exception:  # unknown type, missing column, incomparable values: GX decides and reports
            return None
        if observed is None:
            return None
        config = {"type": expectation["type"], "kwargs": kwargs, "meta": expectation.get("meta") or {}}
        results.append({"success": True, "expectation_config": config, "result": observed})
    return {
        "success": True,
        "suite_name": suite.get("name"),
        "statistics": {
            "evaluated_expectations": len(results),
            "successful_expectations": len(results),
            "unsuccessful_expectations": 0,
            "success_percent": 100.0,
        },
        "results": results,
        "meta": {"engine": ENGINE, "great_expectations_version": version("great_expectations")},
    }
