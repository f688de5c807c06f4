"""The configuration reference (docs/hooks/config_reference.py, generated at every docs build from
pipeline/config.py): every key of the shipped YAML files is in it, and every config field has a
description to show there. No service is needed."""

from __future__ import annotations

import importlib.util
import sys
import typing
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, Field

from pipeline.config import DEFAULT_CONFIG, PROJECT_ROOT, ModelFile, PipelineConfig, SharedConfig

HOOK = PROJECT_ROOT / "docs" / "hooks" / "config_reference.py"
MODEL_FILES = ["flight_delay", "origin_hourly_delay"]


def _load_hook():
    spec = importlib.util.spec_from_file_location("config_reference", HOOK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


reference = _load_hook()


def yaml_keys(data: dict, mappings: set[str], prefix: str = "") -> Iterator[str]:
    """Every dotted key of ``data``; items of a list of objects as ``key[].field``. The entries of a
    free-form mapping (``mappings``: ``model.params``) are values, not keys: not descended into."""
    for name, value in data.items():
        key = f"{prefix}{name}"
        yield key
        if key in mappings:
            continue
        if isinstance(value, dict):
            yield from yaml_keys(value, mappings, f"{key}.")
        elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            for item in value:
                yield from yaml_keys(item, mappings, f"{key}[].")


def missing_keys(data: dict, config: type[BaseModel]) -> list[str]:
    """The keys of ``data`` that the reference of ``config`` does not document (rows and page)."""
    rows = reference.rows(config)
    keys = {r.key for r in rows}
    page = reference.render()
    return sorted(
        {k for k in yaml_keys(data, {r.key for r in rows if r.mapping}) if k not in keys or f"`{k}`" not in page}
    )


def undescribed(model: type[BaseModel], seen: set[type] | None = None) -> list[str]:
    """``Class.field`` of every field of ``model`` and of the models it nests with no description."""
    seen = set() if seen is None else seen
    if model in seen:
        return []
    seen.add(model)
    found = []
    for name, field in model.model_fields.items():
        if not (field.description or "").strip():
            found.append(f"{model.__name__}.{name}")
        for arg in _types(field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                found += undescribed(arg, seen)
    return found


def _types(annotation: Any) -> Iterator[Any]:
    yield annotation
    for arg in typing.get_args(annotation):
        yield from _types(arg)


@pytest.mark.parametrize(
    ("path", "config"),
    [(DEFAULT_CONFIG, SharedConfig)]
    + [(PROJECT_ROOT / "config" / "models" / f"{name}.yaml", ModelFile) for name in MODEL_FILES],
    ids=["pipeline.yaml", *MODEL_FILES],
)
def test_every_shipped_key_is_in_the_reference(path, config):
    data = yaml.safe_load(path.read_text())
    assert missing_keys(data, config) == []


def test_a_key_the_models_lack_is_reported():
    shipped = yaml.safe_load(DEFAULT_CONFIG.read_text())
    shipped["warehouse"]["pool_size"] = 5
    assert missing_keys(shipped, SharedConfig) == ["warehouse.pool_size"]
    sources = {"dataset": {"sources": [{"table": "a.b", "when": "x"}]}, "model": {"params": {"max_iter": 1}}}
    assert missing_keys(sources, ModelFile) == ["dataset.sources[].when"]


@pytest.mark.parametrize("config", [SharedConfig, ModelFile, PipelineConfig])
def test_every_field_has_a_description(config):
    assert undescribed(config) == [], "add Field(description=...) to these fields of pipeline/config.py"


def test_a_field_without_description_is_reported():
    class Inner(BaseModel):
        described: int = Field(1, description="one")
        bare: int = 2

    class Outer(BaseModel):
        inner: list[Inner] | None = Field(None, description="nested")

    assert undescribed(Outer) == ["Inner.bare"]


def test_the_page_shows_types_defaults_and_constraints():
    page = reference.render()
    rows = {r.key: r for r in reference.rows(ModelFile)}
    assert rows["training.window_days"].default == "`56`"
    assert rows["training.window_days"].constraints == "≥ 1"
    assert rows["promotion.rule"].type == "one of `noninferiority`, `improvement`"
    assert rows["dataset.key"].default == "required"
    assert rows["predictions.lead"].default == '`"PT0S"`'
    assert rows["model.params"].mapping
    assert "| `monitoring.trigger.margin` | number | `0.02` | ≥ 0 |" in page
