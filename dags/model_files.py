"""Reports the model files that do not validate, as this file's import error in the Airflow UI.

The DAG files build DAGs only for the model files that validate, so one bad file removes only its
own model's DAGs; this file makes the cause visible: it fails to import with every broken file's
path and bad keys. It defines no DAG.
"""

from __future__ import annotations

from pipeline.config import ConfigError, load_models

_errors = load_models()[1]
if _errors:
    raise ConfigError(
        f"{len(_errors)} model file(s) invalid; their DAGs are not loaded, the other models' are:\n"
        + "\n".join(f"- {exc}" for exc in _errors.values())
    )
