"""MkDocs hook: the configuration reference page, generated from the pydantic models of
``pipeline/config.py`` at every docs build, so it cannot drift from the code.

Every key of the shared file (:class:`~pipeline.config.SharedConfig`) and of a model file
(:class:`~pipeline.config.ModelFile`) becomes one row: its dotted key, type, default, constraints (from the
field's metadata and ``Literal`` choices) and its ``Field(description=...)``. The page is added to the
build as a generated file (``configuration-reference.md``); it is never written into ``docs/``.
``python docs/hooks/config_reference.py`` prints it. ``tests/test_config_reference.py`` checks that every
key of the shipped YAML files is in it and that every field has a description.
"""

from __future__ import annotations

import datetime as dt
import json
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, TypeAdapter
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

PAGE = "configuration-reference.md"


@dataclass(frozen=True)
class Row:
    """One key of a config file."""

    key: str  # dotted; items of a list of objects as key[].field
    type: str
    default: str
    constraints: str
    description: str
    section: bool  # a nested object whose keys follow as rows of their own
    mapping: bool  # a free-form mapping: its entries are not fields


def _optional(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` -> (X, True); anything else -> (annotation, False)."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) < len(typing.get_args(annotation)) and len(args) == 1:
            return args[0], True
    return annotation, False


_NAMES = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    Path: "path",
    dt.timedelta: "duration (ISO 8601, PT1H)",
    dt.date: "date (YYYY-MM-DD)",
    SecretStr: "secret string",
    Any: "any",
}


def _model(annotation: Any) -> type[BaseModel] | None:
    inner, _ = _optional(annotation)
    if typing.get_origin(inner) is list:
        inner = typing.get_args(inner)[0]
    return inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None


def type_name(annotation: Any) -> str:
    """A reader's name for a field's type: ``list of string``, ``integer or null``, ``one of a, b``."""
    inner, optional = _optional(annotation)
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if origin is typing.Literal:
        name = "one of " + ", ".join(f"`{a}`" for a in args)
    elif origin is list:
        name = f"list of {type_name(args[0])}"
    elif origin is dict:
        name = f"mapping of {type_name(args[0])} to {type_name(args[1])}"
    elif isinstance(inner, type) and issubclass(inner, BaseModel):
        name = "object"
    else:
        name = _NAMES.get(inner, getattr(inner, "__name__", str(inner)))
    return f"{name} or null" if optional else name


def _json(annotation: Any, value: Any) -> str:
    if isinstance(value, BaseModel):
        return "(section)"
    return json.dumps(TypeAdapter(annotation).dump_python(value, mode="json"))


def default_text(field: FieldInfo) -> str:
    if field.default_factory is not None:
        return f"`{_json(field.annotation, field.default_factory())}`"
    if field.default is PydanticUndefined:
        return "required"
    text = _json(field.annotation, field.default)
    return text if text == "(section)" else f"`{text}`"


_BOUNDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "at least", "max_length": "at most"}


def constraints(field: FieldInfo) -> str:
    """The field's bounds and pattern, from its metadata (``Field(ge=..., pattern=...)``)."""
    found = []
    for item in field.metadata:
        for attr, word in _BOUNDS.items():
            value = getattr(item, attr, None)
            if value is not None:
                shown = TypeAdapter(type(value)).dump_python(value, mode="json")
                unit = ""
                if attr.endswith("length"):
                    unit = " characters" if _optional(field.annotation)[0] is str else " items"
                found.append(f"{word} {shown}{unit}")
        pattern = getattr(item, "pattern", None)
        if pattern is not None:
            found.append(f"matches `{pattern}`")
    return ", ".join(found)


def rows(model: type[BaseModel], prefix: str = "") -> list[Row]:
    """Every key of ``model``, depth first: a section's row, then its keys' rows."""
    out = []
    for name, field in model.model_fields.items():
        key = prefix + name
        nested = _model(field.annotation)
        inner, _ = _optional(field.annotation)
        out.append(
            Row(
                key=key,
                type=type_name(field.annotation),
                default=default_text(field),
                constraints=constraints(field),
                description=" ".join((field.description or "").split()),
                section=nested is not None,
                mapping=typing.get_origin(inner) is dict,
            )
        )
        if nested is not None:
            is_list = typing.get_origin(_optional(field.annotation)[0]) is list
            out.extend(rows(nested, f"{key}[]." if is_list else f"{key}."))
    return out


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ") or " "


def _table(section_rows: list[Row]) -> list[str]:
    lines = ["| key | type | default | constraints | description |", "|---|---|---|---|---|"]
    for r in section_rows:
        lines.append(
            f"| `{r.key}` | {_cell(r.type)} | {_cell(r.default)} | {_cell(r.constraints)} | {_cell(r.description)} |"
        )
    return lines


def _file_section(title: str, intro: str, all_rows: list[Row]) -> list[str]:
    lines = [f"## {title}", "", intro, ""]
    top = [r for r in all_rows if "." not in r.key and not r.section]
    if top:
        lines += ["### Top-level keys", "", *_table(top), ""]
    for r in all_rows:
        if "." in r.key or not r.section:
            continue
        inside = [s for s in all_rows if s.key.startswith(f"{r.key}.")]
        required = " Required." if r.default == "required" else ""
        lines += [f"### `{r.key}`", "", _cell(r.description) + required, "", *_table(inside), ""]
    return lines


def render() -> str:
    """The configuration reference page (Markdown)."""
    from pipeline.config import ModelFile, SharedConfig

    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by docs/hooks/config_reference.py from the field descriptions in pipeline/config.py. -->",
        "",
        "This page is generated from the pydantic models in `pipeline/config.py` at every docs build: to change "
        "a description, edit the field's `description=` there. [Configuration](configuration.md) explains "
        "how the files are found, merged and overridden.",
        "",
        "- **Environment overrides.** A key of the shared file is overridden by `PIPELINE_<SECTION>__<KEY>` "
        "(`PIPELINE_WAREHOUSE__URL`), a key of a model file by `PIPELINE_<MODEL>__<SECTION>__<KEY>` "
        "(`PIPELINE_FLIGHT_DELAY__TRAINING__WINDOW_DAYS=28`); nested keys add levels "
        "(`PIPELINE_FLIGHT_DELAY__MONITORING__TRIGGER__MARGIN`). A `PIPELINE_*` variable that names no "
        "setting fails loading.",
        "- **Unknown keys** fail loading, naming the file and the key.",
        "- **Durations** are ISO 8601 (`PT1H`) or `HH:MM:SS`; relative paths are relative to the repository root.",
        "- `key[].field` is a field of each item of a list.",
        "",
    ]
    lines += _file_section(
        "The shared file: `config/pipeline.yaml`",
        "One per deployment (`PIPELINE_CONFIG` names another file): where the warehouse and the artifact store "
        "are, and where the model files live.",
        rows(SharedConfig),
    )
    lines += _file_section(
        "A model file: `config/models/<name>.yaml`",
        "One per model; the file's name is the model's name. Validated on its own: a bad file breaks only "
        "that model's DAGs.",
        rows(ModelFile),
    )
    return "\n".join(lines).rstrip() + "\n"


def on_files(files: Any, config: Any) -> Any:
    """MkDocs event: add the generated page to the site's files."""
    from mkdocs.structure.files import File

    files.append(File.generated(config, PAGE, content=render()))
    return files


if __name__ == "__main__":
    print(render(), end="")
