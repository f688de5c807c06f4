"""Data validation with Great Expectations: suites in ``expectations/``, one entry function, and
``pipeline suite draft``'s drafter of starting suites."""

from pipeline.validation.draft import DraftRules, SuiteDraftError, draft_from_warehouse, draft_suite
from pipeline.validation.validate import ValidationFailedError, ValidationReport, load_suite, validate_batch

__all__ = [
    "DraftRules",
    "SuiteDraftError",
    "ValidationFailedError",
    "ValidationReport",
    "draft_from_warehouse",
    "draft_suite",
    "load_suite",
    "validate_batch",
]
