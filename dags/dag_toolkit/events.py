"""The extras of the asset events the DAGs emit: what a consumer (or the UI's asset page) needs to know
about the event without reading the warehouse."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def champion_event(result: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """The extra of a ``<model>.champion`` event, from a promote or rollback result: ``version`` (the
    version decided on), ``status`` (``champion`` when it serves now), ``changed`` (whether this run
    changed the champion), ``reason`` (the decision's reason, or the rollback's note) and ``metrics``
    (its holdout metrics, rounded to 4 places)."""
    return {
        "version": result["version"],
        "status": result["status"],
        "changed": result["changed"],
        "reason": reason,
        "metrics": {k: round(v, 4) if isinstance(v, float) else v for k, v in result["metrics"].items()},
    }


def predictions_event(published: Mapping[str, Any]) -> dict[str, Any]:
    """The extra of a ``<model>.predictions`` event, from a publish result: ``data_interval`` and
    ``scored_window`` (``[start, end)`` as ISO strings), ``rows`` published and the champion ``version``."""
    return {
        "data_interval": [published["start"], published["end"]],
        "scored_window": [published["window_start"], published["window_end"]],
        "rows": published["rows"],
        "version": published["version"],
    }
