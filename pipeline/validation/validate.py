"""Data validation: run a Great Expectations suite, kept as JSON in the repo, against a DataFrame.

The suites live in ``expectations/*.json`` in GX 1.x's own serialization (what
``ExpectationSuite.to_json_dict()`` writes); :class:`pipeline.config.ValidationConfig` gives their
paths. A batch that passes is confirmed by :func:`pipeline.validation.fast.confirm_pass` without
importing GX (the import's CPU saved per process); GX validates every other batch and writes every
failure report. GX is imported on first use, once per process; each GX validation builds a throwaway
in-memory context, so nothing is written to disk, and GX's progress bars and info logging are
switched off to keep task logs readable.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.errors import PermanentError
from pipeline.validation.fast import confirm_pass, within

if TYPE_CHECKING:
    import great_expectations as gx

log = logging.getLogger(__name__)

_SAMPLE_SIZE = 5  # distinct unexpected values quoted per failed expectation
ROW_COUNT = "expect_table_row_count_to_be_between"


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of validating one batch against one suite.

    ``failed`` holds one dict per failed expectation: ``expectation`` (its type), ``column`` (or
    None for table-level ones), ``kwargs`` (its other arguments) and ``observed`` (a short text).
    ``result`` is GX's full validation result as plain JSON types, to store as an artifact.
    """

    suite_name: str
    batch_name: str
    success: bool
    evaluated: int
    failed: list[dict]
    result: dict

    def raise_for_failure(self) -> None:
        """Raise :class:`ValidationFailedError` naming every failed expectation, unless the batch passed."""
        if not self.success:
            raise ValidationFailedError(self)

    def summary(self) -> dict:
        """A small JSON-serialisable dict for logs and XCom: the report without the full result."""
        return {
            "suite_name": self.suite_name,
            "batch_name": self.batch_name,
            "success": self.success,
            "evaluated": self.evaluated,
            "failed_count": len(self.failed),
            "failed": self.failed,
        }


class ValidationFailedError(PermanentError):
    """A batch failed its expectation suite; ``.report`` is the :class:`ValidationReport`."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        lines = [
            f"  {f['expectation']}" + (f" on {f['column']!r}" if f["column"] else "") + f": {f['observed']}"
            for f in report.failed
        ]
        super().__init__(
            f"{report.batch_name} batch failed suite {report.suite_name!r}: "
            f"{len(report.failed)} of {report.evaluated} expectations failed\n" + "\n".join(lines)
        )


def _gx():
    """The ``great_expectations`` module, imported on first use (Python then keeps it for the process)."""
    # Set before importing GX, which logs hundreds of INFO lines while it imports.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations

    return great_expectations


def _read_suite(path: Path) -> dict:
    """The suite file's JSON, checked to be a GX 1.x suite with expectations.

    Raises:
        ValueError: naming the file, if it is missing, not JSON, or has no expectations.
    """
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"expectation suite not found: {path}") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read expectation suite {path}: {exc}") from exc
    if not isinstance(raw, dict) or not raw.get("expectations"):
        raise ValueError(f"expectation suite {path} has no expectations (want GX 1.x suite JSON)")
    return raw


def load_suite(path: Path) -> gx.ExpectationSuite:
    """Read an expectation suite from GX 1.x JSON.

    Args:
        path: a JSON file holding ``{"name": ..., "expectations": [{"type": ..., "kwargs": ...}]}``.

    Returns:
        The ``gx.ExpectationSuite``, with every expectation in the file.

    Raises:
        ValueError: naming the file, if it is missing, not JSON, has no expectations, or any
            expectation is unknown or has invalid arguments (GX itself would only log and drop it).
    """
    path = Path(path)
    raw = _read_suite(path)
    try:
        suite = _gx().ExpectationSuite(**raw)
    except Exception as exc:  # GX raises TypeError, ValueError and pydantic errors here
        raise ValueError(f"malformed expectation suite {path}: {exc}") from exc
    dropped = Counter(e["type"] for e in raw["expectations"]) - Counter(e.expectation_type for e in suite.expectations)
    if dropped:
        raise ValueError(f"malformed expectation suite {path}: invalid expectations {sorted(dropped)}")
    return suite


def validate_batch(
    df: pd.DataFrame, suite_path: Path, batch_name: str, interval_rows: int | None = None
) -> ValidationReport:
    """Validate a DataFrame against the suite stored at ``suite_path``.

    Args:
        df: the batch, one row per record, with the dtypes the suite expects (for the flights
            feature table: int64, float64, datetime64[us, UTC], category and Int64 columns).
        suite_path: a GX 1.x suite JSON file, e.g. ``config.validation.suite_path("training")``.
        batch_name: free text naming the batch in the report, e.g. ``"training"``.
        interval_rows: when ``df`` is one hash partition of a data interval, the interval's row
            count: the suite's ``expect_table_row_count_to_be_between`` bounds apply to it, not to
            the partition (a partition's size is an accident of hashing), and are checked here with
            GX's semantics (inclusive bounds unless ``strict_min``/``strict_max``; None is no bound),
            reported like GX's own failures. None (the default): the batch is the whole interval.

    Returns:
        A :class:`ValidationReport`; failing expectations do not raise, call
        :meth:`ValidationReport.raise_for_failure` for that. A batch the pandas pre-check confirms
        (:func:`pipeline.validation.fast.confirm_pass`) is not shown to GX; its ``result`` has GX's
        keys and names the pre-check in ``meta.engine``.

    Raises:
        ValueError: the suite file is missing or malformed (see :func:`load_suite`).
    """
    raw = _read_suite(Path(suite_path))
    bounds: list[dict] = []
    if interval_rows is not None:  # the row-count bounds leave the suite, to be checked on the interval
        bounds = [e.get("kwargs") or {} for e in raw["expectations"] if e["type"] == ROW_COUNT]
        raw = {**raw, "expectations": [e for e in raw["expectations"] if e["type"] != ROW_COUNT]}
    interval_failures = [f for f in (_interval_row_count(b, interval_rows) for b in bounds) if f]
    result = confirm_pass(df, raw)
    if result is None:
        suite = load_suite(suite_path)
        if interval_rows is not None:
            suite.expectations = [e for e in suite.expectations if e.expectation_type != ROW_COUNT]
        result = _validate_with_gx(df, suite)
    if interval_rows is not None:
        result["interval_row_count"] = {"rows": interval_rows, "evaluated": len(bounds), "failed": interval_failures}
    report = ValidationReport(
        suite_name=result["suite_name"],
        batch_name=batch_name,
        success=bool(result["success"]) and not interval_failures,
        evaluated=int(result["statistics"]["evaluated_expectations"]) + len(bounds),
        failed=[_failure(r) for r in result["results"] if not r["success"]] + interval_failures,
        result=result,
    )
    log.info(
        "validated %s with suite %s: %d of %d expectations passed, %d rows: %s",
        batch_name,
        report.suite_name,
        report.evaluated - len(report.failed),
        report.evaluated,
        len(df),
        "PASSED" if report.success else "FAILED",
    )
    return report


def _validate_with_gx(df: pd.DataFrame, suite: gx.ExpectationSuite) -> dict:
    """GX's full validation result of ``df`` against ``suite``, as plain JSON types."""
    gx = _gx()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    context = gx.get_context(
        mode="ephemeral",
        project_config=DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(),
            progress_bars=ProgressBarsConfig(globally=False),
            analytics_enabled=False,
        ),
    )
    batch = (
        context.data_sources.add_pandas("pipeline")
        .add_dataframe_asset("batch")
        .add_batch_definition_whole_dataframe("whole")
        .get_batch(batch_parameters={"dataframe": df})
    )
    return {**batch.validate(suite).to_json_dict(), "suite_name": suite.name}


def _interval_row_count(kwargs: dict, rows: int) -> dict | None:
    """The failure of a row-count expectation (its suite-file ``kwargs``) against an interval's
    ``rows`` (as :func:`_failure` describes one), or None when ``rows`` is within its bounds."""
    if kwargs.get("min_value") is None and kwargs.get("max_value") is None or within(rows, kwargs):
        return None
    return {"expectation": ROW_COUNT, "column": None, "kwargs": kwargs, "observed": f"observed {rows} in the interval"}


def _failure(r: dict) -> dict:
    kwargs = {k: v for k, v in r["expectation_config"]["kwargs"].items() if k not in ("column", "batch_id")}
    return {
        "expectation": r["expectation_config"]["type"],
        "column": r["expectation_config"]["kwargs"].get("column"),
        "kwargs": kwargs,
        "observed": _observed(r),
    }


def _observed(r: dict) -> str:
    info = r.get("exception_info") or {}
    # One exception is {"raised_exception": ..., "exception_message": ...}; failed metrics are a
    # dict of those keyed by metric id.
    errors = [info] if "raised_exception" in info else list(info.values())
    messages = sorted({e["exception_message"] for e in errors if e.get("raised_exception")})
    if messages:
        return "GX raised: " + "; ".join(messages)
    res: dict[str, Any] = r["result"]
    if "mismatched" in (res.get("details") or {}):  # expect_table_columns_to_match_set
        mismatched = res["details"]["mismatched"]
        return f"missing columns {mismatched.get('missing', [])}, extra columns {mismatched.get('unexpected', [])}"
    if "unexpected_count" in res:
        sample: list = []
        for value in res.get("partial_unexpected_list", []):
            if value is not None and value not in sample and len(sample) < _SAMPLE_SIZE:
                sample.append(value)
        text = f"{res['unexpected_count']} of {res['element_count']} rows unexpected"
        if res.get("missing_count"):
            text += f" ({res['missing_count']} nulls ignored)"
        return text + (f", e.g. {sample}" if sample else "")
    return f"observed {res.get('observed_value')}"
