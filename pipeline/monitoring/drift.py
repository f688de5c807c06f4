"""Distribution drift of features and scores: a current window against a reference sample.

The reference is what the champion learned from (its training data) or was judged on (its holdout);
the current window is recent data. Three distances, each a float that grows with the shift:

- **PSI**, the population stability index, for numeric and categorical values (:func:`psi`,
  :func:`psi_categorical`);
- **Wasserstein-1** (earth mover's) distance from :func:`scipy.stats.wasserstein_distance`, divided by
  the reference's standard deviation (:func:`wasserstein`);
- **Jensen-Shannon distance** from :func:`scipy.spatial.distance.jensenshannon`, base 2, on the same
  bins as PSI (:func:`jensen_shannon`).

They are effect sizes: unlike a test's p-value, which goes to zero for any difference once the samples
are large, they settle at the size of the shift, so on large windows one threshold per metric fits
(:data:`pipeline.metrics.DRIFT_STATISTICS` names the three and holds their default thresholds). On
small windows they do not: with no shift at all, sampling noise alone gives PSI about
``(B - 1) * (1/n_ref + 1/n_cur)`` for ``B`` bins (Yurdakul 2018), 0.3 for 10 bins and 30 rows, above the
0.25 threshold. So :func:`feature_drift` and :func:`prediction_drift` flag a distance only above its
**effective threshold**, the larger of

- the configured threshold (the effect size that matters), and
- the **critical value** of the distance's distribution under no shift, at the window's and the
  reference's sizes, at level ``significance`` (the effect size that sampling noise alone reaches in
  a ``significance`` share of unshifted windows): :func:`psi_critical`, :func:`jensen_shannon_critical`
  (asymptotic chi-square) and :func:`wasserstein_critical` (seeded bootstrap).

Large windows are thus judged by the configured thresholds, small ones by what their size can
show; a window (or reference) of fewer than ``min_rows`` rows is measured but never flagged (threshold
NaN).

Binning, shared by PSI and Jensen-Shannon:

- numeric values: edges at the reference's quantiles ``1/b, ..., (b-1)/b``, duplicates dropped (a
  feature with few distinct values gets fewer bins), with ``b = bins`` reduced on small windows so that
  each quantile bin expects at least ``min_bin_rows`` current rows: ``b = floor(n_cur * (share of the
  reference not missing) / (min_bin_rows - 0.5))``, at least 1 (expected counts are met to half a
  row, so that bins a rounding short of ``min_bin_rows`` are not merged). Bins are right-closed,
  ``(e[i-1], e[i]]``, and the outer ones are open, ``(-inf, e[0]]`` and ``(e[-1], +inf)``, so current
  values outside the reference's range are still counted;
- categorical values: one bin per category seen in either sample, the reference's in decreasing
  frequency;
- missing values (None, NaN, pd.NA, NaT) form one more bin, last, so a spike in nulls is drift;
- pooling: then, in that order, adjacent bins are merged until each holds at least ``min_bin_rows``
  expected current rows (``n_cur`` times its reference share), a short remainder joining the group
  before it. This is the chi-square rule of pooling sparse cells (Cochran, W. G. (1954), "Some methods
  for strengthening the common chi-square tests", Biometrics 10(4)), and it keeps PSI's ``EPSILON`` for
  empty bins from turning a bin that is empty by chance into an alarm (see
  :data:`pipeline.metrics.DEFAULT_MIN_BIN_ROWS`). Bins the
  reference never had (categories new in the window, and missing values when the reference has none)
  are never pooled: expected empty, any row in them is news.

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
from scipy.stats import chi2
from scipy.stats import wasserstein_distance as _scipy_wasserstein

from pipeline.metrics import (
    DEFAULT_DRIFT_THRESHOLDS,
    DEFAULT_MIN_BIN_ROWS,
    DEFAULT_MIN_ROWS,
    DEFAULT_SIGNIFICANCE,
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

# Wasserstein's no-shift distribution is bootstrapped (see wasserstein_critical): this many resamples,
# drawn from this many quantiles of the reference, of at most this many rows (larger windows are scaled).
BOOTSTRAP_RESAMPLES = 500
BOOTSTRAP_GRID = 1000
BOOTSTRAP_MAX_ROWS = 1000
BOOTSTRAP_SEED = 0

COLUMNS = ["feature", "kind", "metric", "value", "threshold", "drifted", "reference_rows", "current_rows"]


def psi(
    reference: ArrayLike, current: ArrayLike, bins: int = DEFAULT_BINS, min_bin_rows: int = DEFAULT_MIN_BIN_ROWS
) -> float:
    """Population stability index of a numeric feature.

    ``PSI = sum_i (c_i - r_i) * ln(c_i / r_i)``, where ``r_i`` and ``c_i`` are the shares of the
    reference and current rows in bin ``i`` (Siddiqi, N. (2006), *Credit Risk Scorecards*, Wiley;
    Yurdakul, B. (2018), *Statistical Properties of Population Stability Index*, PhD dissertation 3208,
    Western Michigan University). Bins are the reference's quantiles plus a missing-value bin, pooled to
    ``min_bin_rows`` expected current rows each (see the module docstring); empty bins get the share
    :data:`EPSILON`.

    Args:
        reference: 1-D array-like of numbers (any numeric dtype, nullable ones included); None, NaN and
            pd.NA are missing values.
        current: the same, for the window being checked.
        bins: quantile bins before duplicate edges are dropped and small windows reduce them, at least 1.
        min_bin_rows: expected current rows per bin, >= 0; 0 keeps every bin (no pooling).

    Returns:
        PSI, unitless, >= 0. Conventionally < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant, on
        windows large enough for :func:`psi_critical` to be below those lines.

    Raises:
        ValueError: a sample is empty or not numeric, ``bins < 1`` or ``min_bin_rows < 0``.
    """
    return _psi(*_shares(*_counts(reference, current, "numeric", bins, min_bin_rows)))


def psi_categorical(reference: ArrayLike, current: ArrayLike, min_bin_rows: int = DEFAULT_MIN_BIN_ROWS) -> float:
    """Population stability index of a categorical feature, over category shares.

    Same formula and sources as :func:`psi`; the bins are the union of the categories in both samples,
    plus one bin for missing values, pooled as in :func:`psi` (categories new in ``current`` are never
    pooled). A bin absent from one sample gets the share :data:`EPSILON`.

    Args:
        reference: 1-D array-like of hashable values (strings, pd.Categorical, integers...).
        current: the same, for the window being checked.
        min_bin_rows: as for :func:`psi`.

    Returns:
        PSI, unitless, >= 0.

    Raises:
        ValueError: a sample is empty, or ``min_bin_rows < 0``.
    """
    return _psi(*_shares(*_counts(reference, current, "categorical", DEFAULT_BINS, min_bin_rows)))


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
    reference: ArrayLike,
    current: ArrayLike,
    bins: int = DEFAULT_BINS,
    kind: Kind | None = None,
    min_bin_rows: int = DEFAULT_MIN_BIN_ROWS,
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
        min_bin_rows: as for :func:`psi`.

    Returns:
        The distance, in [0, 1].

    Raises:
        ValueError: a sample is empty, ``kind`` is unknown, numeric values are not numbers, or as for
            :func:`psi`.
    """
    kind = kind or ("numeric" if _is_numeric(reference) else "categorical")
    return _jensen_shannon(*_shares(*_counts(reference, current, kind, bins, min_bin_rows)))


def psi_critical(bins_used: int, reference_rows: int, current_rows: int, significance: float | None) -> float:
    """The PSI that two samples of these sizes from one distribution exceed with probability ``significance``.

    Under no shift, ``PSI / (1/n_ref + 1/n_cur)`` is asymptotically chi-square with ``B - 1`` degrees of
    freedom, ``B`` the bins (Yurdakul 2018, as in :func:`psi`; PSI is the Jeffreys divergence, a
    phi-divergence with ``phi''(1) = 2``, for which the limit of phi-divergence tests of homogeneity
    gives the same: Pardo, L. (2006), *Statistical Inference Based on Divergence Measures*, Chapman &
    Hall/CRC). So the critical value is
    ``chi2.ppf(1 - significance, B - 1) * (1/n_ref + 1/n_cur)`` (:data:`scipy.stats.chi2`). The
    approximation needs bins that expect several rows, which the pooling of :func:`psi` provides.

    Args:
        bins_used: ``B``, the bins holding a row of either sample (after pooling; the missing-value bin
            and new categories included when they hold one).
        reference_rows, current_rows: the samples' sizes (rows, missing values included), > 0.
        significance: in (0, 1); None gives 0.0 (no sample-size rule).

    Returns:
        The critical PSI, >= 0; 0.0 for a single bin (PSI is then 0).
    """
    if significance is None or bins_used < 2:
        return 0.0
    return float(chi2.ppf(1 - significance, bins_used - 1)) * (1 / reference_rows + 1 / current_rows)


def jensen_shannon_critical(
    bins_used: int, reference_rows: int, current_rows: int, significance: float | None
) -> float:
    """The Jensen-Shannon distance that two samples of these sizes from one distribution exceed with
    probability ``significance``.

    The Jensen-Shannon divergence with equal weights, in nats, is a phi-divergence with
    ``phi''(1) = 1/4``, so under no shift ``8 * JSD / (1/n_ref + 1/n_cur)`` is asymptotically
    chi-square with ``B - 1`` degrees of freedom (Pardo 2006, as in :func:`psi_critical`;
    Grosse, I. et al. (2002), "Analysis of symbolic sequences using the Jensen-Shannon divergence",
    Phys. Rev. E 65, 041905). In bits and as a distance (:func:`jensen_shannon`):
    ``sqrt(chi2.ppf(1 - significance, B - 1) * (1/n_ref + 1/n_cur) / (8 ln 2))``.

    Args:
        bins_used, reference_rows, current_rows, significance: as for :func:`psi_critical`.

    Returns:
        The critical distance, in [0, 1]; 0.0 for a single bin or ``significance`` None.
    """
    critical = psi_critical(bins_used, reference_rows, current_rows, significance)
    return min(1.0, math.sqrt(critical / (8 * math.log(2))))


def wasserstein_critical(reference: ArrayLike, current_rows: int, significance: float | None) -> float:
    """The :func:`wasserstein` distance that a window of ``current_rows`` non-missing values drawn from
    the reference's distribution exceeds with probability ``significance``.

    A seeded bootstrap (Efron, B. and Tibshirani, R. (1993), *An Introduction to the Bootstrap*,
    Chapman & Hall): :data:`BOOTSTRAP_RESAMPLES` windows of ``m = min(current_rows,
    BOOTSTRAP_MAX_ROWS)`` values are drawn with replacement from the reference's non-missing values
    (from their :data:`BOOTSTRAP_GRID` quantiles, ``method="inverted_cdf"``, when they have more
    distinct values than that), and ``W1`` between each and the reference is ``sum |F_draw - F_ref| *
    gap`` over the gaps between the distinct values (the formula of
    :func:`scipy.stats.wasserstein_distance`, for samples on one grid). Their ``1 - significance``
    quantile is scaled by ``sqrt(m * (1/n_cur + 1/n_ref))``: ``W1`` of two samples under no shift
    shrinks as ``sqrt(1/n_ref + 1/n_cur)`` (del Barrio, E., Gine, E. and Matran, C. (1999), "Central
    limit theorems for the Wasserstein distance between the empirical and the true distributions", Ann.
    Probab. 27(2); Ramdas, A., Garcia Trillos, N. and Cuturi, M. (2017), "On Wasserstein two-sample
    testing and related families of nonparametric tests", Entropy 19(2)), which adds the reference's own
    noise and extends the bootstrap to windows above ``BOOTSTRAP_MAX_ROWS``. Divided by the reference's
    standard deviation, as :func:`wasserstein` is. Deterministic (seed :data:`BOOTSTRAP_SEED`).

    Args:
        reference: 1-D array-like of numbers, as for :func:`psi`.
        current_rows: non-missing values in the window, >= 0.
        significance: in (0, 1); None gives 0.0 (no sample-size rule).

    Returns:
        The critical normalised distance, >= 0; 0.0 when either sample has no value or the reference is
        constant (:func:`wasserstein` is then 0 or ``inf``).

    Raises:
        ValueError: the reference is empty or not numeric.
    """
    ref = _drop_nan(_as_float(reference, "reference"))
    if significance is None or ref.size == 0 or current_rows < 1 or np.ptp(ref) == 0:
        return 0.0
    values, position = np.unique(ref, return_inverse=True)  # the sample as indices into its distinct values
    if values.size > BOOTSTRAP_GRID:
        levels = (np.arange(BOOTSTRAP_GRID) + 0.5) / BOOTSTRAP_GRID
        values, position = np.unique(np.quantile(ref, levels, method="inverted_cdf"), return_inverse=True)
    shares, rows = np.bincount(position) / position.size, min(current_rows, BOOTSTRAP_MAX_ROWS)
    draws = position[np.random.default_rng(BOOTSTRAP_SEED).integers(0, position.size, (BOOTSTRAP_RESAMPLES, rows))]
    offsets = np.arange(BOOTSTRAP_RESAMPLES)[:, None] * values.size
    drawn = np.bincount((draws + offsets).ravel(), minlength=offsets.size * values.size)
    cdf = np.cumsum(drawn.reshape(BOOTSTRAP_RESAMPLES, values.size), axis=1)[:, :-1] / rows
    distances = np.abs(cdf - np.cumsum(shares)[:-1]) @ np.diff(values)
    scale = math.sqrt(rows * (1 / current_rows + 1 / ref.size))
    return float(np.quantile(distances, 1 - significance)) * scale / float(np.std(ref, ddof=1))


def feature_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: Sequence[str],
    categorical: Sequence[str],
    thresholds: Mapping[str, float | None] | None = None,
    bins: int = DEFAULT_BINS,
    *,
    significance: float | None = DEFAULT_SIGNIFICANCE,
    min_rows: int = DEFAULT_MIN_ROWS,
    min_bin_rows: int = DEFAULT_MIN_BIN_ROWS,
) -> pd.DataFrame:
    """Drift of every feature of ``current`` against ``reference``.

    Numeric features get ``psi``, ``wasserstein`` and ``jensen_shannon``; categorical ones ``psi``
    (:func:`psi_categorical`) and ``jensen_shannon``. Each is compared with its effective threshold
    (module docstring): ``max(thresholds[metric], critical value)``, the critical value from
    :func:`psi_critical`, :func:`wasserstein_critical` or :func:`jensen_shannon_critical` at the
    samples' sizes.

    Args:
        reference: the reference rows (for example the champion's training data).
        current: the rows of the window being checked.
        numeric: numeric feature columns, present in both frames.
        categorical: categorical feature columns, present in both frames.
        thresholds: metric name -> threshold; a metric missing or None has no threshold (NaN, never
            drifted). None means :data:`pipeline.metrics.DEFAULT_DRIFT_THRESHOLDS`.
        bins: quantile bins for numeric features (fewer on small windows).
        significance: level of the critical values, in (0, 1); None: the thresholds alone.
        min_rows: either frame with fewer rows: every threshold is NaN (measured, never drifted).
        min_bin_rows: expected current rows per bin (see :func:`psi`).

    Returns:
        One row per (feature, metric), features in the order given, with columns :data:`COLUMNS`:
        ``feature`` (str), ``kind`` ("numeric"/"categorical"), ``metric`` (str), ``value`` (float64),
        ``threshold`` (float64, the effective threshold; NaN if the metric has none or a frame has fewer
        than ``min_rows`` rows), ``drifted`` (bool, ``value > threshold``; False when either is NaN),
        ``reference_rows`` and ``current_rows`` (int64, rows of each frame).

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
                values = _measure(reference[feature], current[feature], kind, bins, min_bin_rows, significance)
            except ValueError as exc:
                raise ValueError(f"feature {feature!r}: {exc}") from exc
            rows += [(feature, kind, metric, *measured) for metric, measured in values.items()]
    return _drift_frame(rows, limits, len(reference), len(current), min_rows)


def prediction_drift(
    reference_scores: ArrayLike,
    current_scores: ArrayLike,
    thresholds: Mapping[str, float | None] | None = None,
    bins: int = DEFAULT_BINS,
    *,
    probabilities: bool = True,
    significance: float | None = DEFAULT_SIGNIFICANCE,
    min_rows: int = DEFAULT_MIN_ROWS,
    min_bin_rows: int = DEFAULT_MIN_BIN_ROWS,
) -> pd.DataFrame:
    """Drift of the model's predictions, for example the current window's against the holdout's.

    Args:
        reference_scores: 1-D array-like of a classifier's probabilities in [0, 1] (``probabilities``),
            or of a regression's predicted values; missing values are allowed and counted in the
            missing-value bin.
        current_scores: the same, for the window being checked.
        probabilities: True for a classifier's scores (checked to lie in [0, 1], feature ``"score"``),
            False for a regression's predicted values (feature ``"prediction"``).
        thresholds, bins, significance, min_rows, min_bin_rows: as for :func:`feature_drift`.

    Returns:
        Rows for feature ``"score"`` or ``"prediction"`` (kind ``"numeric"``) and metrics ``psi``,
        ``wasserstein`` and ``jensen_shannon``, with the columns of :func:`feature_drift`; the row
        counts are the samples' lengths.

    Raises:
        ValueError: a sample is empty or not numeric, or a probability lies outside [0, 1]; or as for
            :func:`feature_drift`'s thresholds.
    """
    as_values = _as_scores if probabilities else _as_float
    ref = as_values(reference_scores, "reference_scores")
    cur = as_values(current_scores, "current_scores")
    values = _measure(ref, cur, "numeric", bins, min_bin_rows, significance)
    feature = "score" if probabilities else "prediction"
    rows = [(feature, "numeric", metric, *measured) for metric, measured in values.items()]
    return _drift_frame(rows, _thresholds(thresholds), len(ref), len(cur), min_rows)


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


def _jensen_shannon(ref_shares: np.ndarray, cur_shares: np.ndarray) -> float:
    return float(np.clip(_scipy_jensenshannon(ref_shares, cur_shares, base=2), 0.0, 1.0))


def _measure(
    reference: ArrayLike, current: ArrayLike, kind: Kind, bins: int, min_bin_rows: int, significance: float | None
) -> dict[str, tuple[float, float]]:
    """Every registered statistic that applies to ``kind``, in registry order: name -> (value, critical value)."""
    ref_counts, cur_counts = _counts(reference, current, kind, bins, min_bin_rows)
    sizes = (np.count_nonzero(ref_counts + cur_counts), len(reference), len(current), significance)
    shares = _shares(ref_counts, cur_counts)
    measured = {
        PSI: (_psi(*shares), psi_critical(*sizes)),
        JENSEN_SHANNON: (_jensen_shannon(*shares), jensen_shannon_critical(*sizes)),
    }
    if kind == "numeric":
        present = int(np.count_nonzero(~np.isnan(_as_float(current, "current"))))
        critical = wasserstein_critical(reference, present, significance)
        measured[WASSERSTEIN] = (wasserstein(reference, current), critical)
    return {s.name: measured[s.name] for s in DRIFT_STATISTICS if kind in s.kinds}


def _counts(
    reference: ArrayLike, current: ArrayLike, kind: Kind, bins: int, min_bin_rows: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of each sample per bin (float64 arrays of one length), binned and pooled as the module
    docstring says: value bins or categories in order, then missing values, then the bins the
    reference never had (never pooled)."""
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    if min_bin_rows < 0:
        raise ValueError(f"min_bin_rows must be at least 0, got {min_bin_rows}")
    expected = max(min_bin_rows - 0.5, 0)  # min_bin_rows to half a row: a bin expecting 9.9 rows expects 10
    if kind == "numeric":
        ref, cur = _as_float(reference, "reference"), _as_float(current, "current")
        ref_missing, cur_missing = np.isnan(ref), np.isnan(cur)
        present = ref[~ref_missing]
        if expected:  # each quantile bin expects n_cur * (present share) / bins current rows
            bins = int(np.clip(cur.size * present.size / ref.size // expected, 1, bins))
        edges = np.unique(np.quantile(present, np.arange(1, bins) / bins)) if present.size else np.empty(0)
        ref_bins, cur_bins = _bin_counts(present, edges), _bin_counts(cur[~cur_missing], edges)
        new = np.zeros(ref_bins.size, dtype=bool)
    elif kind == "categorical":
        ref, cur = _as_object(reference, "reference"), _as_object(current, "current")
        ref_missing, cur_missing = ref.isna().to_numpy(), cur.isna().to_numpy()
        ref_values, cur_values = ref.value_counts(dropna=True), cur.value_counts(dropna=True)  # most frequent first
        categories = ref_values.index.union(cur_values.index, sort=False)
        ref_bins = ref_values.reindex(categories, fill_value=0).to_numpy(dtype="float64")
        cur_bins = cur_values.reindex(categories, fill_value=0).to_numpy(dtype="float64")
        new = ref_bins == 0
    else:
        raise ValueError(f"kind must be 'numeric' or 'categorical', got {kind!r}")
    ref_bins, cur_bins = np.append(ref_bins, ref_missing.sum()), np.append(cur_bins, cur_missing.sum())
    new = np.append(new, not ref_missing.any())
    min_ref_rows = expected * ref.size / cur.size  # a bin expects n_cur * ref_rows / n_ref current rows
    ref_pooled, cur_pooled = _pool(ref_bins[~new], cur_bins[~new], min_ref_rows)
    return np.append(ref_pooled, ref_bins[new]), np.append(cur_pooled, cur_bins[new])


def _pool(ref_counts: np.ndarray, cur_counts: np.ndarray, min_ref_rows: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge adjacent bins, in order, until each group holds at least ``min_ref_rows`` reference rows; a
    short remainder joins the group before it."""
    group, current, held = np.empty(ref_counts.size, dtype=int), 0, 0.0
    for i, rows in enumerate(ref_counts):
        group[i] = current
        held += rows
        if held >= min_ref_rows:
            current, held = current + 1, 0.0
    if ref_counts.size and group[-1] == current and current > 0:
        group[group == current] = current - 1
    return np.bincount(group, ref_counts), np.bincount(group, cur_counts)


def _shares(ref_counts: np.ndarray, cur_counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return ref_counts / ref_counts.sum(), cur_counts / cur_counts.sum()


def _bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    # searchsorted(side="left") puts x in bin i when edges[i-1] < x <= edges[i]: right-closed bins.
    return np.bincount(np.searchsorted(edges, values, side="left"), minlength=edges.size + 1).astype("float64")


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


def _drift_frame(
    rows: list[tuple], limits: dict[str, float], reference_rows: int, current_rows: int, min_rows: int
) -> pd.DataFrame:
    """``rows``: (feature, kind, metric, value, critical value). The threshold is the larger of the
    configured one and the critical value; NaN without a configured one or below ``min_rows``."""
    frame = pd.DataFrame(rows, columns=["feature", "kind", "metric", "value", "critical"])
    frame = frame.astype({"value": "float64", "critical": "float64"})
    configured = frame["metric"].map(limits).astype("float64")
    frame["threshold"] = np.maximum(configured, frame["critical"])  # NaN where configured is NaN
    if min(reference_rows, current_rows) < min_rows:
        frame["threshold"] = math.nan
    frame["drifted"] = (frame["value"] > frame["threshold"]).astype(bool)
    frame["reference_rows"] = np.int64(reference_rows)
    frame["current_rows"] = np.int64(current_rows)
    return frame[COLUMNS]
