"""The fixed cost of a run: the per-process model cache, and the pandas pre-check
that confirms a passing batch without importing Great Expectations. Behaviour only: the CPU figures
are ``make bench``'s (``predict_small_cpu_s``, ``mapped_task_cpu_s``)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from test_validation import features

from pipeline.config import PROJECT_ROOT, load_config
from pipeline.data.artifacts import LocalStore
from pipeline.data.warehouse import Warehouse
from pipeline.features.build import extract_feature_table
from pipeline.models import registry
from pipeline.validation import validate_batch
from pipeline.validation.fast import ENGINE, confirm_pass
from pipeline.validation.validate import _validate_with_gx, load_suite

FLIGHTS = load_config("flight_delay")
MODELS = ("flight_delay", "origin_hourly_delay")
COUNTS = ("element_count", "missing_count", "unexpected_count")

# --- the model cache ---------------------------------------------------------------------------


def _store_model(store: LocalStore, version: int, coef_sign: int) -> dict:
    """A tiny fitted pipeline stored as ``m/<version>/model.joblib``; its registry record."""
    x = np.arange(20, dtype=float).reshape(-1, 1) * coef_sign
    model = make_pipeline(LogisticRegression()).fit(x, np.arange(20) >= 10)
    data, sha = registry.serialize_model(model)
    store.put(f"m/{version}/{registry.MODEL_FILE}", data, overwrite=True)
    return {"model_name": "m", "version": version, "model_sha256": sha}


def test_model_cache_returns_the_same_object(tmp_path):
    store = LocalStore(tmp_path)
    record = _store_model(store, 1, 1)
    first = registry.load_model(store, record)
    assert registry.load_model(store, record) is first
    other = registry.load_model(store, _store_model(store, 2, 1))
    assert other is not first


def test_model_cache_reverifies_a_changed_artifact(tmp_path):
    store = LocalStore(tmp_path)
    record = _store_model(store, 1, 1)
    registry.load_model(store, record)
    path = tmp_path / "m" / "1" / registry.MODEL_FILE
    path.write_bytes(path.read_bytes() + b"\x00")
    with pytest.raises(registry.ArtifactIntegrityError, match="refusing to load"):
        registry.load_model(store, record)
    path.unlink()
    with pytest.raises(Exception, match="model.joblib"):
        registry.load_model(store, record)


def test_model_cache_is_keyed_by_the_registered_checksum(tmp_path):
    # Other bytes under the same key with their own registered SHA-256 (another store root reused):
    # the cache serves the model of these bytes, not the one unpickled before.
    store = LocalStore(tmp_path)
    old = registry.load_model(store, _store_model(store, 1, 1))
    new = registry.load_model(store, _store_model(store, 1, -1))
    assert new is not old
    assert new.predict([[15.0]])[0] != old.predict([[15.0]])[0]


# --- the validation pre-check ------------------------------------------------------------------


def _raw(path: Path) -> dict:
    return json.loads(path.read_text())


def _mutations() -> dict[str, pd.DataFrame]:
    """Valid and broken flights batches: each a way a real batch goes wrong."""
    base = features()  # 1,200 rows: the training suite wants at least 1,000
    out = {"valid": base}

    def mutate(name, change):
        df = base.copy()
        change(df)
        out[name] = df

    mutate("negative distance", lambda df: df.__setitem__("distance", df["distance"].where(df.index != 3, -5.0)))
    mutate("duplicate key", lambda df: df.__setitem__("flight_id", df["flight_id"].where(df.index != 4, 1)))
    mutate("float month", lambda df: df.__setitem__("month", df["month"].astype("float64")))
    mutate("object carrier", lambda df: df.__setitem__("carrier", df["carrier"].astype(object)))
    mutate("dropped column", lambda df: df.__delitem__("visib"))
    mutate("extra column", lambda df: df.__setitem__("extra", 1.0))
    mutate("null keys", lambda df: df.__setitem__("flight_id", pd.array([pd.NA] * len(df), dtype="Int64")))
    mutate("all weather null", lambda df: df.__setitem__("temp", np.nan))
    mutate("no gust reported", lambda df: df.__setitem__("wind_gust", np.nan))  # a calm hour's partition
    mutate("unseen carriers", lambda df: df.__setitem__("carrier", pd.Categorical(["ZZ"] * len(df))))
    mutate(
        "few unseen carriers",
        lambda df: df.__setitem__("carrier", df["carrier"].cat.add_categories("ZZ").where(df.index > 4, "ZZ")),
    )
    out["empty"] = base.head(0)
    out["high label rate"] = base.assign(**{FLIGHTS.dataset.label: pd.array([1] * len(base), dtype="Int64")})
    return out


@pytest.mark.parametrize("kind", ["training", "scoring"])
def test_pre_check_only_confirms_what_gx_passes(kind):
    path = FLIGHTS.validation.suite_path(kind)
    suite = load_suite(path)
    confirmed = {}
    for name, df in _mutations().items():
        result = confirm_pass(df, _raw(path))
        gx_passed = _validate_with_gx(df, suite)["success"]
        if result is not None:
            assert gx_passed, f"{name}: the pre-check passed a batch GX fails"
        confirmed[name] = result is not None
    assert confirmed["valid"]  # the point: a normal batch does not need GX
    assert confirmed["no gust reported"]  # nor one whose column holds nulls only (GX: vacuously true)
    broken = ("negative distance", "duplicate key", "float month", "dropped column", "null keys", "empty")
    assert not any(confirmed[name] for name in broken), confirmed


@pytest.mark.parametrize("model", MODELS)
def test_pre_check_confirms_real_batches_as_gx_does(seeded_url, model):
    cfg = load_config(model)
    warehouse = Warehouse(seeded_url)
    end = dt.datetime(2013, 3, 13, tzinfo=dt.UTC)
    for kind, days in (("scoring", 1), ("training", cfg.training.window_days)):
        df = extract_feature_table(
            warehouse, cfg.dataset, cfg.cutoff_rule, end - dt.timedelta(days=days), end, kind == "training"
        )
        path = cfg.validation.suite_path(kind)
        result = confirm_pass(df, _raw(path))
        assert result is not None, f"{model} {kind}: a real batch was not confirmed"
        gx = _validate_with_gx(df, load_suite(path))
        assert gx["success"]
        assert result["statistics"]["evaluated_expectations"] == gx["statistics"]["evaluated_expectations"]
        by_config: dict[tuple[str, str], list[dict]] = {}
        for r in gx["results"]:
            by_config.setdefault(_config_key(r), []).append(r["result"])
        for r in result["results"]:
            counts = {k: v for k, v in r["result"].items() if k in COUNTS}
            # The same counts as GX's result for an expectation of that type on those columns.
            assert any(counts.items() <= g.items() for g in by_config[_config_key(r)]), r


def _config_key(result: dict) -> tuple[str, str]:
    """An expectation's type and columns (GX reports its kwargs normalised, with a ``batch_id``)."""
    kwargs = result["expectation_config"]["kwargs"]
    return result["expectation_config"]["type"], str(kwargs.get("column") or kwargs.get("column_list"))


def test_a_passing_batch_does_not_import_great_expectations():
    code = (
        "import sys; sys.path.insert(0, 'tests')\n"
        "from test_validation import features, SCORING\n"
        "from pipeline.validation import validate_batch\n"
        "report = validate_batch(features(50, label=False), SCORING, 'scoring')\n"
        "assert report.success\n"
        "print(report.result['meta']['engine'], 'great_expectations' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == f"{ENGINE} False"


def test_a_failing_batch_gets_the_gx_report():
    df = features(50, label=False)
    df.loc[0, "distance"] = -5.0
    report = validate_batch(df, FLIGHTS.validation.suite_path("scoring"), "scoring")
    assert not report.success
    assert [(f["expectation"], f["column"]) for f in report.failed] == [
        ("expect_column_values_to_be_between", "distance")
    ]
    assert "meta" not in report.result or report.result["meta"].get("engine") != ENGINE
