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
    - ``decisions``: one row per monitor decision of each monitor policy: ``policy``, ``day``,
      ``champion``, ``champion_holdout`` (its own holdout metric), ``realized`` (the metric over the
      trigger's window with labels known by the day, or None), ``labelled_rows``, ``margin`` (the
      trigger margin the decision used, in the metric's units; NaN for a bootstrap margin on a window
      with fewer than ``min_labelled_rows``), ``retrain``, ``suppressed`` (bool), ``reasons`` (list of
      str).
    - ``summary``: one row per policy, in the order asked: ``policy`` (its id), ``label`` (its display
      name), ``retrains`` (int, challengers trained after the first model), ``promotions`` (int),
      ``train_seconds`` (wall seconds of all its fits, the first model's included), ``pooled_roc_auc``
      (all its predictions pooled), ``mean_daily_roc_auc`` (mean of its daily ROC AUCs).
    - ``timings``: wall seconds of the replay's parts; ``unique_fits`` (models the replay used),
      ``new_fits`` (of those, fitted by this replay rather than reused from an earlier replay of the
      same table) and ``fit_seconds_unique``.
    """

    predictions: pd.DataFrame
    daily: pd.DataFrame
    monthly: pd.DataFrame
    events: pd.DataFrame
    decisions: pd.DataFrame
    summary: pd.DataFrame
    timings: dict[str, Any] = field(default_factory=dict)

    def combine(self, other: StudyResult) -> StudyResult:
        """This replay and ``other``, a replay of the same span with other policies, as one result: the
        tables concatenated (this one's rows first), the timings added key by key, except the models each
        replay used (``unique_fits``, ``fit_seconds_unique``), which the two may share: left out."""
        frames = ("predictions", "daily", "monthly", "events", "decisions", "summary")
        shared = {"unique_fits", "fit_seconds_unique"}
        keys = (self.timings | other.timings).keys() - shared
        timings = {k: self.timings.get(k, 0) + other.timings.get(k, 0) for k in keys}
        return StudyResult(
            *(pd.concat([getattr(self, f), getattr(other, f)], ignore_index=True) for f in frames), timings
        )


@dataclass
class OutOfSampleResult:
    """The out-of-sample part of the study (:func:`pipeline.experiments.out_of_sample.out_of_sample`): the
    trigger's parameters chosen on the selection span ``[start, split)``, the policies compared on the
    report span ``[split, end)``.

    - ``split``: the local midnight between the spans; the report span's first model is trained as of it.
    - ``grid``: one row per selection grid point: ``policy`` (its id in ``selection``), ``margin``
      (ROC AUC units), ``max_age_days`` (int, or None: no age trigger), ``retrains``, ``promotions``,
      ``train_seconds``, ``pooled_roc_auc``, ``mean_daily_roc_auc`` (on the selection span) and
      ``chosen`` (bool, True on one row).
    - ``selection``: the selection span's :class:`StudyResult` (the grid's policies).
    - ``report``: the report span's :class:`StudyResult`: ``weekly``, ``monthly``, ``monitor_selected``,
      ``monitor_bootstrap`` and the calendars ``every_<N>_days``.
    - ``table``: ``report.summary`` with each policy's parameters: ``margin`` (the fixed margin, or
      None), ``bootstrap_margin`` (bool), ``mean_margin`` (monitor policies: the mean margin of their
      decisions), ``max_age_days`` (monitor policies), ``every_days`` and ``equal_cost_to`` (calendars:
      N and the monitor policies whose retrain count they match, else None).
    - ``timings``: ``selection_seconds``, ``report_span_seconds`` (wall) and ``new_fits`` (fits the
      out-of-sample part added to the full replay's).
    """

    split: Any
    grid: pd.DataFrame
    selection: StudyResult
    report: StudyResult
    table: pd.DataFrame
    timings: dict[str, Any] = field(default_factory=dict)
