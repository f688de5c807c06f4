"""The retraining study's result: what the replay measured, for its report and its tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class StudyResult:
    """What the replay measured. A ``day`` is a ``datetime.date``: the local date (``schedule.timezone``)
    of the predict cutoff that made the prediction; a model is named by the local date it was trained
    as of (``FittedModel.name``).

    - ``predictions``: one row per (policy, entity scored): the dataset's key, timestamp and ``as_of``
      (the predict cutoff, UTC), ``score`` (float64 probability of class 1), the label (nullable
      Int64; null when it never arrived), ``policy``, ``day``, ``model`` and ``model_cutoff`` (UTC: the
      cutoff the scoring model was trained as of).
    - ``daily``: :func:`realized_performance` by ``policy`` and ``day`` (every label that arrived), plus
      ``estimated_roc_auc`` (CBPE from the scores alone; the ``monitor`` policy only, NaN elsewhere).
    - ``monthly``: the same by ``policy`` and ``month`` (``"YYYY-MM"``), each month's predictions pooled.
    - ``events``: one row per retrain (challenger trained and gated): ``policy``, ``cutoff`` (local
      midnight), ``challenger`` and ``champion`` (model names), ``promoted`` (bool), ``reasons`` (list
      of str: the schedule, or the trigger's reasons), ``gate_reason`` (str) and ``gate`` (the gate
      decision's dict: its comparisons and intervals), ``challenger_holdout`` and
      ``champion_on_holdout`` (the promotion metric of both on the challenger's holdout),
      ``holdout_rows``, ``fit_seconds`` (wall seconds of the shared fit).
    - ``decisions``: one row per monitor decision of the ``monitor`` policy: ``day``, ``champion``,
      ``champion_holdout`` (its own holdout metric), ``realized`` (the metric over the trigger's window
      with labels known before the day, or None), ``labelled_rows``, ``retrain``, ``suppressed``
      (bool), ``reasons`` (list of str).
    - ``summary``: one row per policy, in the order asked: ``policy``, ``retrains`` (int, challengers
      trained after the first model), ``promotions`` (int), ``train_seconds`` (wall seconds of all its
      fits, the first model's included), ``pooled_roc_auc`` (all its predictions pooled),
      ``mean_daily_roc_auc`` (mean of its daily ROC AUCs).
    - ``timings``: wall seconds of the replay's parts, and ``unique_fits``.
    """

    predictions: pd.DataFrame
    daily: pd.DataFrame
    monthly: pd.DataFrame
    events: pd.DataFrame
    decisions: pd.DataFrame
    summary: pd.DataFrame
    timings: dict[str, Any] = field(default_factory=dict)
