"""The one error base class the orchestrator needs to know about."""


class PermanentError(Exception):
    """An error that retrying cannot fix: bad config, a batch that fails validation, no champion,
    a tampered artifact. Airflow tasks fail at once on it instead of retrying."""


class EmptyIntervalError(PermanentError):
    """A run's interval has no source data: no entities to score, or no labelled rows to train on.

    ``skip`` is the configured verdict (``schedule.on_empty``): True, the run ends as skipped (the
    Airflow task raises ``AirflowSkipException``, the CLI prints the message and exits 0); False,
    it fails with the message, without retries.
    """

    def __init__(self, message: str, *, skip: bool) -> None:
        super().__init__(message)
        self.skip = skip
