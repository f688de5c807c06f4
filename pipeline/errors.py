"""The one error base class the orchestrator needs to know about."""


class PermanentError(Exception):
    """An error that retrying cannot fix: bad config, a batch that fails validation, no champion,
    a tampered artifact. Airflow tasks fail at once on it instead of retrying."""
