"""Performance before labels land: confidence-based performance estimation (CBPE) of a binary
classifier from its scores alone. Pure: arrays in, numbers out.

The idea (NannyML, "How it works: CBPE",
https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html): when the scores
are calibrated probabilities, a row scored ``p`` is a positive with probability ``p``, so every
entry of the confusion matrix at every threshold has an expected value: expected true positives above
a threshold are the sum of ``p`` there, expected false positives the sum of ``1 - p``. The expected
ROC curve follows, and so do the expected Brier score and log loss. Scores that are not calibrated
are first mapped through an isotonic regression fitted on the champion's holdout, where labels are
known (:func:`fit_calibrator`; Zadrozny and Elkan 2002, "Transforming classifier scores into
accurate multiclass probability estimates", KDD). The estimate is only as good as that calibration:
it assumes the relation between score and outcome (concept) has not shifted since the holdout, only
the mix of inputs (covariate shift).

Why our own ~60 lines rather than ``nannyml``: nannyml 0.13.1 does not resolve beside the pinned
requirements (its ``s3fs`` needs an ``aiobotocore`` whose ``botocore``, ``wrapt`` and ``multidict``
ranges exclude our pins), and on its own it fails to import (``statsmodels`` is used but not
declared) while pulling in plotly, kaleido and xgboost.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import xlogy
from sklearn.isotonic import IsotonicRegression

# Scores are clipped to [EPS, 1 - EPS] in the log loss, as sklearn.metrics.log_loss does.
EPS = float(np.finfo(np.float64).eps)


def fit_calibrator(holdout_scores: ArrayLike, holdout_labels: ArrayLike) -> IsotonicRegression:
    """Fit the map from a model's scores to calibrated probabilities on its holdout.

    Args:
        holdout_scores: shape (n,), the model's probabilities of class 1 on its holdout, in [0, 1].
        holdout_labels: shape (n,), the holdout's 0/1 labels.

    Returns:
        A fitted ``sklearn.isotonic.IsotonicRegression`` (increasing, output in [0, 1], scores outside
        the holdout's range clipped to its ends); ``.predict(scores)`` gives calibrated probabilities.

    Raises:
        ValueError: no rows, lengths differ, a score outside [0, 1] or not finite, a label not 0/1, or
            a single class (nothing to calibrate against).
    """
    scores = _scores(holdout_scores)
    labels = np.asarray(holdout_labels, dtype="float64")
    if labels.shape != scores.shape:
        raise ValueError(f"{scores.size} holdout scores but {labels.size} labels")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("holdout labels must be 0/1")
    if np.unique(labels).size < 2:
        raise ValueError("the holdout has a single class: no calibration can be fitted")
    return IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(scores, labels)


def estimate_performance(
    scores: ArrayLike, calibrator: IsotonicRegression | None = None, threshold: float = 0.5
) -> dict[str, float]:
    """Expected performance of a binary classifier's scores on unlabelled rows (CBPE).

    Each row's probability of being a positive is ``p = calibrator.predict(score)`` (or the score
    itself without a calibrator, which then assumes the scores are calibrated). Expectations are over
    labels drawn independently with those probabilities:

    - ``roc_auc``: expected concordant (positive, negative) pairs over expected pairs, ranking by the
      raw score with ties counting one half: ``sum_{s_i > s_j} p_i (1 - p_j) + 1/2 sum_{s_i = s_j,
      i != j} p_i (1 - p_j)``, divided by ``sum_{i != j} p_i (1 - p_j)``. Computed as NannyML does, as
      the trapezoid area under the expected ROC curve (rows sorted by score, ties grouped, expected
      TP = cumulative sum of ``p``, expected FP = cumulative sum of ``1 - p``), minus the pairs of a
      row with itself, which the trapezoid counts and a real ROC AUC cannot; a difference of order
      1/n. NaN when there are no expected pairs (every ``p`` is 0, or every one is 1);
    - ``brier``: expected mean squared error of the scores, ``mean((s - p)^2 + p (1 - p))``;
      ``mean p (1 - p)`` for calibrated scores;
    - ``log_loss``: expected mean log loss of the scores (natural log, scores clipped to
      ``[EPS, 1 - EPS]`` like ``sklearn.metrics.log_loss``), ``mean(-p log s - (1 - p) log(1 - s))``;
      the binary entropy of ``p`` for calibrated scores;
    - ``accuracy``: expected share of rows classified right at ``threshold``
      (``score >= threshold`` is a positive);
    - ``positive_rate``: expected share of positives, ``mean p``; ``rows``: n (int).

    These are ratios of expectations (for ROC AUC) and expectations, not the realized values: on n
    rows the realized ROC AUC scatters around the estimate by about its standard error (Hanley and
    McNeil 1982: about 0.02 at 1,000 rows and 0.007 at 10,000 for ROC AUC 0.72 and 20 % positives).

    Args:
        scores: shape (n,), n >= 1, the model's probabilities of class 1 in [0, 1].
        calibrator: :func:`fit_calibrator`'s result for this model, or None.
        threshold: the decision threshold of ``accuracy``.

    Returns:
        ``roc_auc``, ``brier``, ``log_loss``, ``accuracy``, ``positive_rate`` (floats) and ``rows``.

    Raises:
        ValueError: no scores, or a score outside [0, 1] or not finite.
    """
    s = _scores(scores)
    p = np.clip(calibrator.predict(s), 0.0, 1.0) if calibrator is not None else s
    q = 1.0 - p
    # Groups of tied scores, highest first: expected positives and negatives in each.
    values, group = np.unique(-s, return_inverse=True)
    tp = np.bincount(group, weights=p, minlength=values.size)
    fp = np.bincount(group, weights=q, minlength=values.size)
    tp_before = np.cumsum(tp) - tp
    self_pairs = float(np.sum(p * q))
    pairs = float(p.sum() * q.sum()) - self_pairs
    concordant = float(np.sum(fp * (tp_before + tp / 2))) - self_pairs / 2
    clipped = np.clip(s, EPS, 1 - EPS)
    return {
        "roc_auc": concordant / pairs if pairs > 0 else math.nan,
        "brier": float(np.mean((s - p) ** 2 + p * q)),
        "log_loss": float(np.mean(-xlogy(p, clipped) - xlogy(q, 1 - clipped))),
        "accuracy": float(np.mean(np.where(s >= threshold, p, q))),
        "positive_rate": float(p.mean()),
        "rows": int(s.size),
    }


def _scores(values: ArrayLike) -> np.ndarray:
    scores = np.asarray(values, dtype="float64").ravel()
    if scores.size == 0:
        raise ValueError("no scores to estimate from")
    if not np.isfinite(scores).all() or (scores < 0).any() or (scores > 1).any():
        raise ValueError("scores must be finite probabilities in [0, 1]")
    return scores
