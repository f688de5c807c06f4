"""The one place that names the pipeline's metrics and holds their defaults.

Two registries, one entry per statistic (the pattern of Evidently's stattests registry):

- :data:`DRIFT_STATISTICS`: the distribution distances of :mod:`pipeline.monitoring.drift`, each with
  the feature kinds it applies to and its default drift threshold;
- :data:`METRICS`: the holdout and realized model metrics of :mod:`pipeline.models.evaluate`, each with
  its task (``binary_classification`` or ``regression``), its direction and whether it needs two
  distinct label values; per-task lookups name a task's holdout, realized, promotion and headline
  metrics.

Light on purpose: :mod:`pipeline.config` imports it at DAG-parse time, so nothing here imports numpy,
scipy or scikit-learn. The functions that compute the metrics stay in ``drift.py`` and ``evaluate.py``,
keyed by these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FeatureKind = Literal["numeric", "categorical"]

PSI = "psi"
WASSERSTEIN = "wasserstein"
JENSEN_SHANNON = "jensen_shannon"

ROC_AUC = "roc_auc"
AVERAGE_PRECISION = "average_precision"
LOG_LOSS = "log_loss"
BRIER = "brier"
RMSE = "rmse"
MAE = "mae"
R2 = "r2"


@dataclass(frozen=True)
class DriftStatistic:
    """A drift distance: its ``name``, the feature ``kinds`` it is computed for, and its default
    ``threshold`` (a value above it is drift)."""

    name: str
    kinds: tuple[FeatureKind, ...]
    threshold: float


# The three default thresholds mark a "significant" shift and agree with each other on a normal feature
# whose mean moves by half a reference standard deviation: with decile bins its population values are
# PSI 0.24, Wasserstein / std 0.50, Jensen-Shannon distance 0.20. PSI 0.25 is also the conventional
# line for "significant shift, act" (below 0.1 stable, 0.1-0.25 moderate; Siddiqi 2006; Yurdakul 2018).
# They are floors: pipeline.monitoring.drift compares each distance with the larger of its threshold and
# the critical value of its no-shift distribution at the window's size (DEFAULT_SIGNIFICANCE). With no
# shift, E[PSI] ~ (B - 1) * (1/n_ref + 1/n_cur) for B bins (Yurdakul 2018): about 0.01 for 11 bins and
# 1,000 current rows, where the thresholds above decide; but 0.3 for 10 bins and 30 rows, where they
# would flag most features of an unshifted window.
DRIFT_STATISTICS: tuple[DriftStatistic, ...] = (
    DriftStatistic(PSI, ("numeric", "categorical"), 0.25),
    DriftStatistic(WASSERSTEIN, ("numeric",), 0.5),
    DriftStatistic(JENSEN_SHANNON, ("numeric", "categorical"), 0.2),
)
DRIFT_METRICS: tuple[str, ...] = tuple(s.name for s in DRIFT_STATISTICS)
DEFAULT_DRIFT_THRESHOLDS: dict[str, float] = {s.name: s.threshold for s in DRIFT_STATISTICS}
DriftMetric = Literal[DRIFT_METRICS]  # type: ignore[valid-type]  # the names above, for pydantic

# Sample-size rules of pipeline.monitoring.drift (config: monitoring.significance, min_rows, min_bin_rows).
# Significance: the false-alarm rate per feature and statistic on a window with no shift. A window makes
# about 50 such comparisons (the flights demo's 17 voting features, 2-3 statistics each), so 0.001 keeps the
# chance of any false alarm in a window near 5% (Bonferroni: 0.05 / 50). It only matters below about 100
# rows: above, the critical values fall under the thresholds above, which then decide.
DEFAULT_SIGNIFICANCE = 0.001
# Fewer rows than this in the window (or the reference): measured, never flagged. 30 is the usual
# "large sample" line, and the smallest window on which pooled bins still leave 3 bins (2 degrees of freedom).
DEFAULT_MIN_ROWS = 30
# Bins are pooled until each expects this many of the window's rows. The chi-square rule of thumb asks for
# 5 (Cochran, W. G. (1954), "Some methods for strengthening the common chi-square tests", Biometrics
# 10(4)); PSI needs more, because it floors an empty bin's share at EPSILON: a bin expecting k rows is
# empty with probability about exp(-k) (0.7% at 5, 0.005% at 10), and an empty bin holding a sixth of
# the reference alone adds 1/6 * ln((1/6) / 1e-4) = 1.2 to PSI, above the critical value of the 30-row
# window whose 6 bins of 5 rows it belongs to (0.68 at 0.001).
DEFAULT_MIN_BIN_ROWS = 10

# The drift statistic the retrain trigger counts: drifted features and the score's shift.
TRIGGER_DRIFT_METRIC = PSI


Task = Literal["binary_classification", "regression"]
BINARY_CLASSIFICATION: Task = "binary_classification"
REGRESSION: Task = "regression"
TASKS: tuple[Task, ...] = (BINARY_CLASSIFICATION, REGRESSION)


@dataclass(frozen=True)
class Metric:
    """A model metric of predictions against labels: its ``name``, the ``task`` it scores, whether
    higher is better, and whether it is undefined when every label has the same value
    (``needs_two_values``: a single class for ROC AUC and average precision, a constant label for R²).

    Classification metrics score the probability of class 1 against 0/1 labels; regression metrics
    score the predicted value against the label, in the label's units (R² is unitless).
    """

    name: str
    task: Task
    higher_is_better: bool
    needs_two_values: bool = False


METRICS: tuple[Metric, ...] = (
    Metric(ROC_AUC, BINARY_CLASSIFICATION, higher_is_better=True, needs_two_values=True),
    Metric(AVERAGE_PRECISION, BINARY_CLASSIFICATION, higher_is_better=True, needs_two_values=True),
    Metric(LOG_LOSS, BINARY_CLASSIFICATION, higher_is_better=False),
    Metric(BRIER, BINARY_CLASSIFICATION, higher_is_better=False),
    Metric(RMSE, REGRESSION, higher_is_better=False),
    Metric(MAE, REGRESSION, higher_is_better=False),
    Metric(R2, REGRESSION, higher_is_better=True, needs_two_values=True),
)

# Per task: the metrics monitoring measures on realized predictions (in column order), and the one
# metric that promotion compares by default and the monitor reports for the pooled window (headline).
_REALIZED: dict[str, tuple[str, ...]] = {BINARY_CLASSIFICATION: (ROC_AUC, BRIER, LOG_LOSS), REGRESSION: (RMSE, MAE, R2)}
_HEADLINE: dict[str, str] = {BINARY_CLASSIFICATION: ROC_AUC, REGRESSION: RMSE}


def get_metric(name: str) -> Metric:
    """The registry entry called ``name``.

    Raises:
        ValueError: no metric has that name; the message lists the known ones.
    """
    for m in METRICS:
        if m.name == name:
            return m
    raise ValueError(f"unknown metric {name!r}; known: {[m.name for m in METRICS]}")


def holdout_metric_names(task: Task) -> tuple[str, ...]:
    """The metrics a holdout is scored with for ``task``, in registry order.

    Raises:
        ValueError: ``task`` is not one of :data:`TASKS`.
    """
    _check_task(task)
    return tuple(m.name for m in METRICS if m.task == task)


def realized_metric_names(task: Task) -> tuple[str, ...]:
    """The metrics monitoring measures on ``task``'s realized predictions, in column order."""
    _check_task(task)
    return _REALIZED[task]


def default_promotion_metric(task: Task) -> str:
    """The metric the promotion rule compares when ``promotion.metric`` is not set: ``roc_auc`` for
    classification, ``rmse`` for regression."""
    return headline_metric(task)


# Guardrails of the promotion gate (pipeline.models.promotion) when promotion.guardrails is not set: the
# metrics besides the primary one that a challenger may not degrade beyond a tolerance, in the metric's
# units. Classification: calibration, which ROC AUC cannot see (a challenger with the same ranking and
# badly scaled probabilities has the same AUC): log loss 0.01 (nats per row) and Brier 0.005 (squared
# probability per row), small against the gap between a useful classifier and its base rate, and the
# issue-10 example (a challenger worse on log loss and Brier) is what they catch. Regression: RMSE, or
# MAE when RMSE is the primary metric, 0.25 in the label's units (a quarter of a minute for a delay in
# minutes): a model that wins one by fitting the outliers while losing on typical rows is caught.
_GUARDRAILS: dict[str, dict[str, float]] = {
    BINARY_CLASSIFICATION: {LOG_LOSS: 0.01, BRIER: 0.005},
    REGRESSION: {RMSE: 0.25, MAE: 0.25},
}


def default_guardrails(task: Task, primary: str) -> dict[str, float]:
    """The promotion gate's guardrail metrics and tolerances when ``promotion.guardrails`` is not set:
    ``{"log_loss": 0.01, "brier": 0.005}`` for classification, without ``primary``; for regression
    ``{"rmse": 0.25}``, or ``{"mae": 0.25}`` when ``primary`` is ``rmse`` (in the label's units)."""
    _check_task(task)
    guardrails = {name: tol for name, tol in _GUARDRAILS[task].items() if name != primary}
    if task == REGRESSION:
        guardrails = dict(list(guardrails.items())[:1])
    return guardrails


def headline_metric(task: Task) -> str:
    """The realized metric the monitor reports for a window's pooled champion predictions:
    ``roc_auc`` for classification, ``rmse`` for regression."""
    _check_task(task)
    return _HEADLINE[task]


def is_metric_for(task: Task, name: str) -> bool:
    """Whether ``name`` is one of ``task``'s holdout metrics, so a valid ``promotion.metric``."""
    return name in holdout_metric_names(task)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {list(TASKS)}")
