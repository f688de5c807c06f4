"""The promotion gate: does a challenger replace the champion, judged on the same holdout rows?

Two rules (``promotion.rule``):

- ``noninferiority`` (the default): the challenger is promoted unless it is worse than the champion
  beyond a tolerance *with confidence*. For each compared metric (the promotion metric and the
  guardrails) the difference challenger - champion, oriented so that a positive difference means the
  challenger is better (lower-is-better metrics are negated), gets a percentile confidence interval from
  a paired bootstrap over the holdout rows: each resample draws n rows with replacement and scores both
  models on the same rows, so the noise the two share (which rows happen to be in the holdout) cancels
  (Efron, B. & Tibshirani, R. J. (1993), *An Introduction to the Bootstrap*, Chapman & Hall, ch. 13,
  percentile intervals; the paired design as in the comparison of two ROC AUCs on one sample, cf.
  DeLong, DeLong & Clarke-Pearson (1988), Biometrics 44(3)). The challenger is refused when a metric's
  whole interval lies below -tolerance. A challenger equal within noise is promoted: it was trained on
  fresher data.
- ``improvement`` (the old rule, kept to compare the two): promoted when the point estimate beats the
  champion's by more than 0 and at least ``min_improvement``
  (:func:`pipeline.models.evaluate.promotion_decision`). The same intervals are computed and recorded.

The retrain stage's decision, gate or not, is :func:`decide_challenger`'s: it takes the evidence (the
gate's decision against the champion, the baseline, a reproduction, ``force``) and returns the verdict.

The metric values themselves are :data:`pipeline.models.evaluate.METRIC_FUNCTIONS` (scikit-learn). The
bootstrap scores every resample at once, from the rows' counts in the resample (numpy, one matrix product
or one sort for all resamples, :func:`resampled_metric`), because ``scipy.stats.bootstrap(paired=True)``
calling scikit-learn once per resample is many times slower (``python benchmarks/bench.py --only
promotion-gate`` times both). The tests check that both give the same value on every resample.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from pipeline.config import PromotionConfig
from pipeline.metrics import (
    AVERAGE_PRECISION,
    BINARY_CLASSIFICATION,
    BRIER,
    LOG_LOSS,
    MAE,
    R2,
    RMSE,
    ROC_AUC,
    Task,
    default_guardrails,
    default_promotion_metric,
    get_metric,
)
from pipeline.models.evaluate import METRIC_FUNCTIONS, EvaluationError, promotion_decision

log = logging.getLogger(__name__)

# Resamples scored at once: bounds the (resamples x rows) count matrix to about 32 MB of float64.
CELLS_PER_CHUNK = 4_000_000


@dataclass(frozen=True)
class MetricComparison:
    """One metric of the challenger against the champion on the same holdout.

    ``challenger`` and ``champion`` are the metric's values (its units: unitless for ROC AUC, average
    precision and R², nats per row for log loss, squared probability for Brier, the label's units for
    RMSE and MAE). ``difference`` = challenger - champion, negated for a lower-is-better metric, so
    positive means the challenger is better; ``ci_low``/``ci_high`` its bootstrap percentile interval.
    ``worse``: the whole interval lies below ``-tolerance`` (worse beyond tolerance, with confidence);
    ``better``: the whole interval lies above 0.
    """

    metric: str
    role: str  # "primary" or "guardrail"
    higher_is_better: bool
    challenger: float
    champion: float
    difference: float
    ci_low: float
    ci_high: float
    tolerance: float
    worse: bool
    better: bool

    def describe(self, confidence: float) -> str:
        """One line: ``roc_auc difference -0.0030 [-0.0110, +0.0040] (95% CI), tolerance 0.005: not worse``."""
        verdict = "worse beyond tolerance" if self.worse else "better" if self.better else "not worse"
        return (
            f"{self.metric} difference {self.difference:+.4f} [{self.ci_low:+.4f}, {self.ci_high:+.4f}] "
            f"({confidence:.0%} CI), tolerance {self.tolerance:g}: {verdict}"
        )


@dataclass(frozen=True)
class GateDecision:
    """The gate's verdict (``promote``), its one-line ``reason`` quoting every interval, the
    ``comparisons`` (the promotion metric first, then the guardrails), and how it was reached: the
    ``rule``, the interval's ``confidence``, the bootstrap ``resamples`` used (resamples in which a
    metric is undefined, such as a single class for ROC AUC, are left out), the holdout ``rows`` and
    the ``seed``."""

    promote: bool
    reason: str
    comparisons: list[MetricComparison]
    rule: str = "noninferiority"
    confidence: float = 0.95
    resamples: int = 0
    rows: int = 0
    seed: int = 0

    def to_dict(self) -> dict:
        """JSON-able: the fields above, comparisons as a list of dicts."""
        return dataclasses.asdict(self)


def decide_promotion(
    promotion_cfg: PromotionConfig,
    task: Task,
    y_true: ArrayLike,
    challenger: ArrayLike,
    champion: ArrayLike,
    *,
    seed: int = 0,
) -> GateDecision:
    """Decide whether the challenger replaces the champion, by ``promotion_cfg.rule`` (module docstring).

    The compared metrics are ``promotion_cfg.metric`` (or the task's default) with tolerance
    ``promotion_cfg.tolerance``, and the guardrails ``promotion_cfg.guardrails`` (or
    :func:`pipeline.metrics.default_guardrails`: log loss 0.01 and Brier 0.005 for classification,
    MAE 0.25 for regression with RMSE as its metric), each tolerance in its metric's units.

    Args:
        promotion_cfg: the model's ``promotion`` section.
        task: ``"binary_classification"`` or ``"regression"``.
        y_true: shape (n,), the holdout labels (0/1, or real values).
        challenger, champion: shape (n,), float: each model's probability of class 1 (or predicted
            value) on the SAME holdout rows, in the same order.
        seed: seeds the bootstrap (the same inputs and seed give the same intervals).

    Returns:
        A :class:`GateDecision`; ``to_dict()`` is what the registry records.

    Raises:
        EvaluationError: no rows, lengths differ, or the labels are all the same (a metric is undefined).
        ValueError: an unknown task or metric.
    """
    tolerances = _tolerances(promotion_cfg, task)
    y, a, b = _paired_rows(task, y_true, challenger, champion)
    comparisons, resamples = _compare(tolerances, y, a, b, promotion_cfg, seed)
    promote, reason = _apply_rule(promotion_cfg, comparisons, resamples, y.size)
    return GateDecision(
        promote=promote,
        reason=reason,
        comparisons=comparisons,
        rule=promotion_cfg.rule,
        confidence=promotion_cfg.confidence,
        resamples=resamples,
        rows=int(y.size),
        seed=seed,
    )


def _tolerances(promotion_cfg: PromotionConfig, task: Task) -> dict[str, float]:
    """Compared metric -> tolerance in its units: the promotion metric first, then the guardrails."""
    primary = promotion_cfg.metric or default_promotion_metric(task)
    guardrails = (
        default_guardrails(task, primary) if promotion_cfg.guardrails is None else dict(promotion_cfg.guardrails)
    )
    return {primary: promotion_cfg.tolerance} | {k: v for k, v in guardrails.items() if k != primary}


def _paired_rows(
    task: Task, y_true: ArrayLike, challenger: ArrayLike, champion: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The labels (int64 for classification, float64 for regression) and both models' predictions
    (float64), each shape (n,).

    Raises:
        EvaluationError: no rows, lengths differ, or a single label value.
    """
    y = np.asarray(y_true, dtype="int64" if task == BINARY_CLASSIFICATION else "float64").reshape(-1)
    a = np.asarray(challenger, dtype="float64").reshape(-1)
    b = np.asarray(champion, dtype="float64").reshape(-1)
    if not (y.size == a.size == b.size) or y.size == 0:
        raise EvaluationError(
            f"the gate needs the same holdout rows for both models: {y.size} labels, {a.size} challenger and "
            f"{b.size} champion predictions"
        )
    if np.unique(y).size < 2:
        raise EvaluationError(f"the holdout has {y.size} rows and a single label value; widen training.holdout_days")
    return y, a, b


def _compare(
    tolerances: dict[str, float],
    y: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    promotion_cfg: PromotionConfig,
    seed: int,
) -> tuple[list[MetricComparison], int]:
    """Each metric of ``tolerances`` of the challenger (``a``) against the champion (``b``) on the rows
    ``y``, with its paired bootstrap interval; and how many resamples defined every metric.

    Raises:
        EvaluationError: no resample defines every metric.
    """
    names = list(tolerances)
    signs = np.array([1.0 if get_metric(m).higher_is_better else -1.0 for m in names])
    differences = _paired_bootstrap(names, y, a, b, promotion_cfg.bootstrap_samples, seed) * signs
    if not len(differences):
        raise EvaluationError(f"no bootstrap resample of the {y.size} holdout rows defines every metric {names}")
    confidence = promotion_cfg.confidence
    lows, highs = np.percentile(differences, [50 * (1 - confidence), 50 * (1 + confidence)], axis=0)
    comparisons = []
    for i, name in enumerate(names):
        value_a, value_b = float(METRIC_FUNCTIONS[name](y, a)), float(METRIC_FUNCTIONS[name](y, b))
        tol = float(tolerances[name])
        comparisons.append(
            MetricComparison(
                metric=name,
                role="primary" if i == 0 else "guardrail",
                higher_is_better=bool(signs[i] > 0),
                challenger=value_a,
                champion=value_b,
                difference=float(signs[i] * (value_a - value_b)),
                ci_low=float(lows[i]),
                ci_high=float(highs[i]),
                tolerance=tol,
                worse=bool(highs[i] < -tol),
                better=bool(lows[i] > 0),
            )
        )
    return comparisons, len(differences)


def _apply_rule(
    promotion_cfg: PromotionConfig, comparisons: list[MetricComparison], resamples: int, rows: int
) -> tuple[bool, str]:
    """``promotion_cfg.rule`` applied to the comparisons (the promotion metric first): whether to
    promote, and the reason quoting every interval."""
    evidence = "; ".join(c.describe(promotion_cfg.confidence) for c in comparisons)
    how = (
        f"paired bootstrap, {resamples} resamples of {rows} holdout rows; "
        "difference = challenger - champion, positive: challenger better"
    )
    if promotion_cfg.rule == "noninferiority":
        worse = [c.metric for c in comparisons if c.worse]
        verdict = (
            f"worse than the champion beyond tolerance on {', '.join(worse)}"
            if worse
            else "not worse than the champion beyond tolerance on any metric"
        )
        return not worse, f"{verdict}: {evidence} ({how})"
    first = comparisons[0]
    outcome, verdict = promotion_decision(first.metric, first.challenger, first.champion, promotion_cfg.min_improvement)
    return outcome == "promoted", f"improvement rule: {verdict}; {evidence} ({how})"


@dataclass(frozen=True)
class PromotionEvidence:
    """What a trained challenger's promotion is decided on, each metric value in its metric's units.

    ``challenger``, ``champion`` and ``baseline``: the promotion ``metric`` on the same holdout rows
    (``champion`` None without a champion, or when its artifact cannot be loaded: then
    ``champion_problem`` says why). ``gate``: :meth:`GateDecision.to_dict` against the champion, None
    without one. ``reproduces``: the version a retrain from a snapshot reproduces, None otherwise.
    ``newer_champion``: why the champion is newer than the challenger (the retrain's cutoff is earlier
    than the champion's holdout end), None otherwise.
    """

    metric: str
    challenger: float
    champion: float | None
    baseline: float
    gate: dict | None = None
    champion_problem: str | None = None
    reproduces: int | None = None
    newer_champion: str | None = None


def decide_challenger(
    evidence: PromotionEvidence, promotion_cfg: PromotionConfig, force: bool = False
) -> tuple[str, str]:
    """The promotion decision of a trained challenger, the first that applies of:

    1. a reproduction (:func:`pipeline.stages.retrain.snapshot`) is never promoted;
    2. a challenger older than the champion (``evidence.newer_champion``) is not promoted over it unless
       ``force``: it stays a candidate, and the reason says why, then the gate's or ``champion_problem``;
    3. against a champion, the gate decides (``evidence.gate``, :func:`decide_promotion`) unless ``force``;
    4. otherwise (no usable champion, or ``force``) :func:`pipeline.models.evaluate.promotion_decision`:
       the challenger must beat the baseline by ``promotion_cfg.min_baseline_gain``, or is forced. The
       reason then keeps the gate's (after ``gate:``) and starts with ``newer_champion`` and
       ``champion_problem``.

    Returns:
        ``(decision, reason)``: decision ``"promoted"``, ``"rejected"`` or ``"forced"``.

    Raises:
        ValueError: ``evidence.metric`` is not a registered metric.
    """
    if evidence.reproduces:
        return "rejected", (
            f"reproduction of v{evidence.reproduces} from its snapshot; reproductions "
            "are never promoted (roll back to serve a version again)"
        )
    gate = evidence.gate
    if evidence.newer_champion and not force:
        compared = f"gate: {gate['reason']}" if gate is not None else evidence.champion_problem
        return "rejected", "; ".join(
            filter(None, [f"{evidence.newer_champion}: not promoted over a newer champion (force to)", compared])
        )
    if gate is not None and not force:
        return ("promoted" if gate["promote"] else "rejected"), gate["reason"]
    decision, reason = promotion_decision(
        evidence.metric,
        evidence.challenger,
        evidence.champion,
        promotion_cfg.min_improvement,
        force,
        baseline=evidence.baseline,
        min_baseline_gain=promotion_cfg.min_baseline_gain,
    )
    if gate is not None:
        reason = f"{reason}; gate: {'promote' if gate['promote'] else 'refuse'}, {gate['reason']}"
    return decision, "; ".join(filter(None, [evidence.newer_champion, evidence.champion_problem, reason]))


def _paired_bootstrap(
    names: list[str], y: np.ndarray, a: np.ndarray, b: np.ndarray, resamples: int, seed: int
) -> np.ndarray:
    """Metric(challenger) - metric(champion) on ``resamples`` paired resamples of the rows.

    Returns:
        shape (m, len(names)), float64, m <= resamples: the resamples in which every metric is defined.
    """
    differences = np.concatenate(
        [
            np.column_stack([resampled_metric(m, y, a, counts) - resampled_metric(m, y, b, counts) for m in names])
            for counts in resample_counts(np.random.default_rng(seed), y.size, resamples)
        ]
    )
    return differences[np.isfinite(differences).all(axis=1)]


def resample_counts(rng: np.random.Generator, n: int, resamples: int, draws: int | None = None) -> Iterator[np.ndarray]:
    """Bootstrap resamples of n rows as count matrices, in chunks of at most about 4 million cells.

    Each resample draws ``draws`` row positions (default ``n``: the ordinary bootstrap; fewer or more:
    the m-out-of-n bootstrap, Bickel, Götze & van Zwet (1997), Statistica Sinica 7(1)) uniformly with
    replacement from ``range(n)``: a chunk of ``size`` resamples is ``rng.integers(0, n, (size, draws))``,
    and the chunks are drawn from ``rng`` in turn.

    Yields:
        shape (size, n), float64: how often each row is drawn in each resample of the chunk (rows sum
        to ``draws``); the chunks' sizes add up to ``resamples``.
    """
    draws = n if draws is None else draws
    chunk = max(1, CELLS_PER_CHUNK // max(n, draws))
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        rows = rng.integers(0, n, (size, draws)) + (np.arange(size) * n)[:, None]
        yield np.bincount(rows.ravel(), minlength=size * n).reshape(size, n).astype("float64")


def resampled_metric(name: str, y: np.ndarray, prediction: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """The metric ``name`` on every resample at once.

    Resample r holds row i ``counts[r, i]`` times, so its metric equals
    ``METRIC_FUNCTIONS[name](y[rows], prediction[rows])`` for the rows drawn. Means of per-row losses
    (log loss, Brier, RMSE, MAE, R²'s sums of squares) are count-weighted means; ROC AUC is the
    Mann-Whitney statistic (ties count one half) and average precision the step-wise sum of precision
    times recall increments over the distinct scores (scikit-learn's definition), both from one sort.

    Args:
        y: shape (n,), labels; prediction: shape (n,), float64; counts: shape (r, n), float64.

    Returns:
        shape (r,), float64; NaN where the metric is undefined (a single class, a constant label).
    """
    total = counts.sum(axis=1)
    if name == LOG_LOSS:
        eps = np.finfo(prediction.dtype).eps
        p = np.clip(prediction, eps, 1 - eps)
        return counts @ -(y * np.log(p) + (1 - y) * np.log1p(-p)) / total
    if name == BRIER:
        return counts @ (prediction - y) ** 2 / total
    if name == MAE:
        return counts @ np.abs(prediction - y) / total
    if name == RMSE:
        return np.sqrt(counts @ (prediction - y) ** 2 / total)
    if name == R2:
        mean = counts @ y / total
        total_ss = counts @ y**2 - total * mean**2
        constant = np.where(counts > 0, y, np.inf).min(axis=1) == np.where(counts > 0, y, -np.inf).max(axis=1)
        return np.where(constant, np.nan, 1 - (counts @ (prediction - y) ** 2) / np.where(constant, 1, total_ss))
    if name in (ROC_AUC, AVERAGE_PRECISION):
        order = np.argsort(prediction, kind="stable")
        ordered = prediction[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])  # one group per distinct score
        weights = counts[:, order]
        positives = np.add.reduceat(weights * y[order], starts, axis=1)
        negatives = np.add.reduceat(weights * (1 - y[order]), starts, axis=1)
        n_pos, n_neg = positives.sum(axis=1), negatives.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            if name == ROC_AUC:
                below = np.cumsum(negatives, axis=1) - negatives / 2
                value = (positives * below).sum(axis=1) / (n_pos * n_neg)
            else:
                tp = np.cumsum(positives[:, ::-1], axis=1)  # thresholds from the highest score down
                predicted = tp + np.cumsum(negatives[:, ::-1], axis=1)
                precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
                value = (positives[:, ::-1] * precision).sum(axis=1) / n_pos
        return np.where((n_pos > 0) & (n_neg > 0), value, np.nan)
    raise ValueError(f"no resampled form of metric {name!r}")
