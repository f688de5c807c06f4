"""Data validation with Great Expectations: suites in ``expectations/``, one entry function."""

from pipeline.validation.validate import ValidationFailedError, ValidationReport, load_suite, validate_batch

__all__ = ["ValidationFailedError", "ValidationReport", "load_suite", "validate_batch"]
