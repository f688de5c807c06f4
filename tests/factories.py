"""Small builders the tests share (importable as ``factories``: pytest puts tests/ on sys.path)."""

from __future__ import annotations

import datetime as dt

from pipeline.models import registry

UTC = dt.UTC


def new_version(run_id: str, model_name: str = "flight_delay") -> registry.NewVersion:
    """A registry entry with placeholder lineage: trained on 2013-02-01, a 7-day holdout, ROC AUC 0.7
    against a 0.5 baseline, from the run ``retrain__<model_name>/<run_id>``."""
    t = dt.datetime(2013, 2, 1, tzinfo=UTC)
    return registry.NewVersion(
        model_name=model_name,
        metrics={"roc_auc": 0.7},
        baseline_metrics={"roc_auc": 0.5},
        params={},
        train_start=t,
        train_end=t,
        holdout_start=t,
        holdout_end=t + dt.timedelta(days=7),
        train_rows=10,
        holdout_rows=5,
        training_data_sha256="0" * 64,
        config={},
        code_version="test",
        sklearn_version="x",
        python_version="y",
        dag_id=f"retrain__{model_name}",
        run_id=run_id,
    )
