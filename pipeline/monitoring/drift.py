"""Distribution drift of features and scores: a current window against a reference sample.

The reference is what the champion learned from (its training data) or was judged on (its holdout);
the current window is recent data. Three distances, each a float that grows with the shift:

- **PSI**, the population stability index, for numeric and categorical values (:func:`psi`,
  :func:`psi_categorical`);
- **Wasserstein-1** (earth mover's) distance from :func:`scipy.stats.wasserstein_distance`, divided by
  the reference's standard deviation (:func:`wasserstein`);
- **Jensen-Shannon distance** from :func:`scipy.spatial.distance.jensenshannon`, base 2, on the same
  bins as PSI (:func:`jensen_shannon`).

They are effect sizes, not hypothesis tests: a test's p-value goes to zero for any difference once
the samples are large, while these settle at the size of the shift, so one threshold per metric
serves every window size (provided the window is not so small that sampling noise dominates; see
:data:`pipeline.metrics.DRIFT_STATISTICS`, which names the three and holds their default thresholds).

Binning, shared by PSI and Jensen-Shannon:

- numeric values: edges at the reference's quantiles ``1/bins, ..., (bins-1)/bins``, duplicates dropped
  (a feature with few distinct values gets fewer bins). Bins are right-closed, ``(e[i-1], e[i]]``, and
  the outer ones are open, ``(-inf, e[0]]`` and ``(e[-1], +inf)``, so current values outside the
  reference's range are still counted;
- categorical values: one bin per category seen in either sample (an unseen category is its own bin);
- missing values (None, NaN, pd.NA, NaT) form one more bin, so a spike in nulls is drift.

Everything here is pure: array-likes or DataFrames in, floats or DataFrames out. Bad input raises
``ValueError`` naming the problem.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.spatial.distance import jensenshannon as _scipy_jensenshannon
from scipy.stats import wasserstein_distance as _scipy_wasserstein

from pipeline.metrics import (
    DEFAULT_DRIFT_THRESHOLDS,
    DRIFT_METRICS,
    DRIFT_STATISTICS,
    JENSEN_SHANNON,
    PSI,
    TRIGGER_DRIFT_METRIC,
    WASSERSTEIN,
)
from pipeline.metrics import FeatureKind as Kind

DEFAULT_BINS = 10

# Share given to an empty bin so PSI's logarithm stays finite. Not renormalised (the usual practice).
# With 1e-4, a bin holding 5% of one sample and nothing of the other contributes
# 0.05 * ln(0.05 / 1e-4) = 0.31 on its own: a new category or a jump in nulls of that size is
# "significant". A bin empty in both samples contributes 0.
EPSILON = 1e-4

COLUMNS = ["feature", "kind", "metric", "value", "threshold", "drifted", "reference_rows", "current_rows"]


def psi(reference: ArrayLike, current: ArrayLike, bins: int = DEFAULT_BINS) -> float:
    """Population stability index of a numeric feature.

    ``PSI = sum_i (c_i - r_i) * ln(c_i / r_i)``, where ``r_i`` and ``c_i`` are the shares of the
    reference and current rows in bin ``i`` (Siddiqi, N. (2006), *Credit Risk Scorecards*, Wiley;
    Yurdakul, B. (2018), *Statistical Properties of Population Stability Index*, PhD dissertation 3208,
    Western Michigan University). Bins are the reference's quantiles plus a missing-value bin (see the
    module docstring); empty bins get the share :data:`EPSILON`.

    Args:
        reference: 1-D array-like of numbers (any numeric dtype, nullable ones included); None, NaN and
            pd.NA are missing values.
        current: the same, for the window being checked.
        bins: quantile bins before duplicate edges are dropped, at least 1.

    Returns:
        PSI, unitless, >= 0. Conventionally < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant.

    Raises:
        ValueError: a sample is empty or not numeric, or ``bins < 1``.
    """
    return _psi(*_numeric_shares(reference, current, bins))


def psi_categorical(reference: ArrayLike, current: ArrayLike) -> float:
    """Population stability index of a categorical feature, over category shares.

    Same formula and sources as :func:`psi`; the bins are the union of the categories in both samples,
    plus one bin for missing values. A category absent from one sample gets the share :data:`EPSILON`.

    Args:
        reference: 1-D array-like of hashable values (strings, pd.Categorical, integers...).
        current: the same, for the window being checked.

    Returns:
        PSI, unitless, >= 0.

    Raises:
        ValueError: a sample is empty.
    """
    return _psi(*_categorical_shares(reference, current))


def wasserstein(reference: ArrayLike, current: ArrayLike) -> float:
    """Wasserstein-1 distance between the non-missing values, in reference standard deviations.

    ``W1 = integral |F_ref(x) - F_cur(x)| dx`` (Villani, C. (2009), *Optimal Transport*, Springer),
    computed by :func:`scipy.stats.wasserstein_distance`, then divided by the reference's sample
    standard deviation so that one threshold fits features in any unit: moving a whole distribution
    by ``d`` standard deviations gives ``d``. The standard deviation is used rather than the IQR
    because many real features are mostly one value (precipitation, gusts, engine counts), which makes
    the IQR 0; the standard deviation is 0 only for a constant reference. Missing values are ignored
    here: a change in the null share is PSI's and Jensen-Shannon's job.

    Args:
        reference, current: 1-D array-likes of numbers, as for :func:`psi`.

    Returns:
        The normalised distance, >= 0. NaN when either sample has no non-missing value. For a constant
        reference: 0.0 if the current values equal it, else ``inf``.

    Raises:
        ValueError: a sample is empty or not numeric.
    """
    ref = _drop_nan(_as_float(reference, "reference"))
    cur = _drop_nan(_as_float(current, "current"))
    if ref.size == 0 or cur.size == 0:
        return math.nan
    distance = float(_scipy_wasserstein(ref, cur))
    if np.ptp(ref) == 0:
        return 0.0 if distance == 0 else math.inf
    return distance / float(np.std(ref, ddof=1))


def jensen_shannon(
    reference: ArrayLike, current: ArrayLike, bins: int = DEFAULT_BINS, kind: Kind | None = None
) -> float:
    """Jensen-Shannon distance between the binned distributions of two samples.

    ``JS = sqrt((KL(P || M) + KL(Q || M)) / 2)`` with ``M = (P + Q) / 2`` and base-2 logarithms (Lin, J.
    (1991), "Divergence measures based on the Shannon entropy", IEEE Trans. Inf. Theory 37(1)),
    computed by :func:`scipy.spatial.distance.jensenshannon`. This is the *distance*, the square root
    of the divergence: a metric, 0 for identical distributions and 1 for disjoint ones. Unlike PSI it
    needs no epsilon for empty bins. Bins as in :func:`psi` (numeric) or :func:`psi_categorical`.

    Args:
        reference, current: 1-D array-likes.
        bins: quantile bins for numeric values (ignored for categoricals).
        kind: ``"numeric"`` or ``"categorical"``; None infers it from the reference's dtype (numeric
            dtypes other than bool are numeric; strings, bools and pd.Categorical are categorical).

    Returns:
        The distance, in [0, 1].

    Raises:
        ValueError: a sample is empty, ``kind`` is unknown, or numeric values are not numbers.
    """
    kind = kind or ("numeric" if _is_numeric(reference) else "categorical")
    if kind == "numeric":
        p, q = _numeric_shares(reference, current, bins)
    elif kind == "categorical":
        p, q = _categorical_shares(reference, current)
    else:
        raise ValueError(f"kind must be 'numeric' or 'categorical', got {kind!r}")
    return float(np.clip(_scipy_jensenshannon(p, q, base=2), 0.0, 1.0))


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    thresholds: Mapping[str, float | None] | None = None,
    bins: int = DEFAULT_BINS,
) -> pd.DataFrame:
    """Drift of every feature of ``current`` against ``reference``.

    Numeric features get ``psi``, ``wasserstein`` and ``jensen_shannon``; categorical ones ``psi``
    (:func:`psi_categorical`) and ``jensen_shannon``.

    Args:
        reference: the reference rows (for example the champion's training data).
        current: the rows of the window being checked.
        numeric: numeric feature columns, present in both frames.
        categorical: categorical feature columns, present in both frames.
        thresholds: metric name -> threshold; a metric missing or None has no threshold (NaN, never
            drifted). None means :data:`pipeline.metrics.DEFAULT_DRIFT_THRESHOLDS`.
        bins: quantile bins for numeric features.

    Returns:
        One row per (feature, metric), features in the order given, with columns :data:`COLUMNS`:
        ``feature`` (str), ``kind`` ("numeric"/"categorical"), ``metric`` (str), ``value`` (float64),
        ``threshold`` (float64, NaN if none), ``drifted`` (bool, ``value > threshold``; False when
        either is NaN), ``reference_rows`` and ``current_rows`` (int64, rows of each frame).

    Raises:
        ValueError: a frame is empty, a column is missing, a feature is listed twice or none is given,
            a threshold names an unknown metric, or a numeric feature holds non-numbers.
    """
    _check_frames(reference, current, [*numeric, *categorical])
    limits = _thresholds(thresholds)
    rows = []
    for kind, features in (("numeric", numeric), ("categorical", categorical)):
        for feature in features:
            try:
                values = _metrics(reference[feature], current[feature], kind, bins)
            except ValueError as exc:
                raise ValueError(f"feature {feature!r}: {exc}") from exc
            rows += [(feature, kind, metric, value) for metric, value in values.items()]
    return _drift_frame(rows, limits, len(reference), len(current))


def prediction_drift(
    reference_scores: ArrayLike,
    current_scores: ArrayLike,
    thresholds: Mapping[str, float | None] | None = None,
    bins: int = DEFAULT_BINS,
) -> pd.DataFrame:
    """Drift of the model's scores (probabilities), for example the current window's against the holdout's.

    Args:
        reference_scores: 1-D array-like of probabilities in [0, 1]; missing values are allowed and
            counted in the missing-value bin.
        current_scores: the same, for the window being checked.
        thresholds, bins: as for :func:`feature_drift`.

    Returns:
        Rows for feature ``"score"`` (kind ``"numeric"``) and metrics ``psi``, ``wasserstein`` and
        ``jensen_shannon``, with the columns of :func:`feature_drift`; the row counts are the samples'
        lengths.

    Raises:
        ValueError: a sample is empty, not numeric, or has a value outside [0, 1]; or as for
            :func:`feature_drift`'s thresholds.
    """
    ref = _as_scores(reference_scores, "reference_scores")
    cur = _as_scores(current_scores, "current_scores")
    rows = [("score", "numeric", metric, value) for metric, value in _metrics(ref, cur, "numeric", bins).items()]
    return _drift_frame(rows, _thresholds(thresholds), len(ref), len(cur))


def drifted_features(
    drift: pd.DataFrame, features: Sequence[str] | None = None, metric: str = TRIGGER_DRIFT_METRIC
) -> list[str]:
    """The features that drifted by ``metric``, sorted.

    Args:
        drift: :func:`feature_drift`'s result.
        features: count only these (for example the voting features); None: every feature.
        metric: the drift statistic (default: the one the retrain trigger counts, PSI).
    """
    rows = drift[(drift["metric"] == metric) & drift["drifted"]]
    if features is not None:
        rows = rows[rows["feature"].isin(features)]
    return sorted(rows["feature"])


def _psi(ref_shares: np.ndarray, cur_shares: np.ndarray) -> float:
    r = np.maximum(ref_shares, EPSILON)
    c = np.maximum(cur_shares, EPSILON)
    return float(np.sum((c - r) * np.log(c / r)))


# (statistic, kind) -> function of (reference, current, bins); the registry says which apply to a kind.
_FUNCTIONS = {
    (PSI, "numeric"): psi,
    (PSI, "categorical"): lambda reference, current, bins: psi_categorical(reference, current),
    (WASSERSTEIN, "numeric"): lambda reference, current, bins: wasserstein(reference, current),
    (JENSEN_SHANNON, "numeric"): lambda reference, current, bins: jensen_shannon(reference, current, bins, "numeric"),
    (JENSEN_SHANNON, "categorical"): lambda reference, current, bins: jensen_shannon(
        reference, current, bins, "categorical"
    ),
}


def _metrics(reference: ArrayLike, current: ArrayLike, kind: Kind, bins: int) -> dict[str, float]:
    """Every registered statistic that applies to ``kind``, in registry order."""
    return {s.name: _FUNCTIONS[s.name, kind](reference, current, bins) for s in DRIFT_STATISTICS if kind in s.kinds}


def _numeric_shares(reference: ArrayLike, current: ArrayLike, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each sample in the reference-quantile bins; the last bin is missing values."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    ref = _as_float(reference, "reference")
    cur = _as_float(current, "current")
    present = _drop_nan(ref)
    levels = np.arange(1, bins) / bins
    edges = np.unique(np.quantile(present, levels)) if present.size else np.empty(0)
    return _bin_shares(ref, edges), _bin_shares(cur, edges)


def _bin_shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    # searchsorted(side="left") puts x in bin i when edges[i-1] < x <= edges[i]: right-closed bins.
    counts = np.bincount(np.searchsorted(edges, values[~missing], side="left"), minlength=edges.size + 1)
    return np.append(counts, missing.sum()) / values.size


def _categorical_shares(reference: ArrayLike, current: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each sample per category (union of both samples); the last bin is missing values."""
    ref = _as_object(reference, "reference")
    cur = _as_object(current, "current")
    ref_counts, cur_counts = ref.value_counts(dropna=True), cur.value_counts(dropna=True)
    categories = ref_counts.index.union(cur_counts.index, sort=False)
    return tuple(
        np.append(counts.reindex(categories, fill_value=0).to_numpy(dtype="float64"), sample.isna().sum()) / sample.size
        for counts, sample in ((ref_counts, ref), (cur_counts, cur))
    )


def _as_float(values: ArrayLike, name: str) -> np.ndarray:
    series = pd.Series(values)
    if series.empty:
        raise ValueError(f"{name} is empty: need at least one value")
    try:
        return pd.to_numeric(series).to_numpy(dtype="float64", na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric, got dtype {series.dtype}: {exc}") from exc


def _as_object(values: ArrayLike, name: str) -> pd.Series:
    series = pd.Series(values)
    if series.empty:
        raise ValueError(f"{name} is empty: need at least one value")
    return series.astype(object)


def _as_scores(values: ArrayLike, name: str) -> np.ndarray:
    scores = _as_float(values, name)
    present = _drop_nan(scores)
    if present.size and (present.min() < 0 or present.max() > 1):
        raise ValueError(f"{name} must be probabilities in [0, 1], got [{present.min():g}, {present.max():g}]")
    return scores


def _drop_nan(values: np.ndarray) -> np.ndarray:
    return values[~np.isnan(values)]


def _is_numeric(values: ArrayLike) -> bool:
    dtype = pd.Series(values).dtype
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _check_frames(reference: pd.DataFrame, current: pd.DataFrame, features: list[str]) -> None:
    if not features:
        raise ValueError("no features given: numeric and categorical are both empty")
    twice = sorted({f for f in features if features.count(f) > 1})
    if twice:
        raise ValueError(f"features listed twice: {twice}")
    for name, frame in (("reference", reference), ("current", current)):
        if len(frame) == 0:
            raise ValueError(f"the {name} frame has no rows: nothing to compare")
        missing = [f for f in features if f not in frame.columns]
        if missing:
            raise ValueError(f"the {name} frame lacks feature columns {missing}")


def _thresholds(thresholds: Mapping[str, float | None] | None) -> dict[str, float]:
    if thresholds is None:
        return dict(DEFAULT_DRIFT_THRESHOLDS)
    unknown = sorted(set(thresholds) - set(DRIFT_METRICS))
    if unknown:
        raise ValueError(f"thresholds name unknown drift metrics {unknown}; known: {list(DRIFT_METRICS)}")
    return {metric: math.nan if limit is None else float(limit) for metric, limit in thresholds.items()}


def _drift_frame(rows: list[tuple], limits: dict[str, float], reference_rows: int, current_rows: int) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["feature", "kind", "metric", "value"]).astype({"value": "float64"})
    frame["threshold"] = frame["metric"].map(limits).astype("float64")
    frame["drifted"] = (frame["value"] > frame["threshold"]).astype(bool)
    frame["reference_rows"] = np.int64(reference_rows)
    frame["current_rows"] = np.int64(current_rows)
    return frame[COLUMNS]
