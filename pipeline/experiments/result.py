"""The retraining study's result: what the replay measured, for its report and its tests."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass
class StudyResult:
    """What the replay measured. Days are ``datetime.date`` (UTC); ``model`` is a :attr:`Model.name`.

    - ``predictions``: one row per (policy, entity scored): the dataset's key, ``score`` (float64
      probability), the label (nullable Int64; null when it never arrived), ``policy``, ``day``, ``model``.
    - ``daily``: :func:`realized_performance` by ``policy`` and ``day``.
    - ``monthly``: the same by ``policy`` and ``month`` (``"YYYY-MM"``), each month's predictions pooled.
    - ``retrains``: one row per model trained after the first: ``policy``, ``day``, ``model``,
      ``fit_seconds`` (float, wall), ``reasons`` (list of str: the trigger's, or the schedule).
    - ``drift``: one row per monitored day of the drift policy (after ``start``): ``day``, ``model``,
      ``window_rows``, ``drifted_features`` (voting features drifted by PSI), ``voting_features``,
      ``score_psi``, ``realized_roc_auc`` (None without labelled predictions of both classes),
      ``retrain``, ``suppressed`` (bool), ``reasons`` (list of str).
    - ``summary``: one row per policy, in the order asked: ``policy``, ``retrains`` (int, after the
      first model), ``train_seconds`` (wall seconds of all its fits, the first model's included),
      ``mean_daily_auc`` (mean of the daily ROC AUCs), ``pooled_auc`` (all its predictions pooled).
    - ``timings``: wall seconds of the replay's parts, and ``unique_fits``.
    """

    predictions: pd.DataFrame
    daily: pd.DataFrame
    monthly: pd.DataFrame
    retrains: pd.DataFrame
    drift: pd.DataFrame
    summary: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
