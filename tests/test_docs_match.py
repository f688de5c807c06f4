"""The docs name what the code has: the migration list (docs/warehouse.md, "Schema migrations") every
schema revision, and the architecture block (docs/architecture.md, "The code") every package and module
of ``pipeline/``, and the features page (docs/features.md) every feature of the demo models. The README
points to the first two pages."""

from __future__ import annotations

import re

import pytest

from pipeline.config import PROJECT_ROOT, load_config

DOCS = PROJECT_ROOT / "docs"
PACKAGE = PROJECT_ROOT / "pipeline"
REVISIONS = PACKAGE / "data" / "migrations" / "versions"


def architecture_entries() -> dict[str, str]:
    """The architecture block's entries under ``pipeline/``: the name each starts with (``cli.py``,
    ``data/``) -> its text, continuation lines included."""
    section = (DOCS / "architecture.md").read_text().split("\n## The code\n", 1)[1]
    block = section.split("```", 2)[1]
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        entry = re.match(r"^ {3}(\w+/|\w+\.py)\s", line)  # one level in, below " pipeline/"
        if entry:
            current = entry.group(1)
            entries[current] = line
        elif current and line.startswith(" " * 4) and line.strip():
            entries[current] += " " + line.strip()
        else:
            current = None
    return entries


def test_the_migration_list_names_every_revision() -> None:
    revisions = sorted(p.name[:4] for p in REVISIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
    listed = re.findall(r"^\| `(\d{4})` \|", (DOCS / "warehouse.md").read_text(), re.MULTILINE)
    assert len(revisions) >= 9
    assert listed == revisions


def test_the_architecture_block_names_every_package_and_module() -> None:
    entries = architecture_entries()
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if path.name == "__init__.py" or "migrations" in parts:
            continue
        if len(parts) == 1:
            found = path.name in entries
        else:
            found = re.search(rf"\b{re.escape(path.name)}\b", entries.get(f"{parts[0]}/", "")) is not None
        if not found:
            missing.append("/".join(parts))
    packages = {p.parent.name + "/" for p in PACKAGE.glob("*/__init__.py")}
    assert not missing, f"docs/architecture.md's code block does not name {missing}"
    assert packages <= entries.keys(), f"docs/architecture.md's code block lacks {packages - entries.keys()}"
    assert "migrations/" in entries["data/"]


@pytest.mark.parametrize("model", ["flight_delay", "origin_hourly_delay"])
def test_the_features_page_defines_every_feature_of_the_demo_models(model: str) -> None:
    page = (DOCS / "features.md").read_text()
    ds = load_config(model).dataset
    undefined = [f for f in (*ds.numeric_features, *ds.categorical_features) if f"`{f}`" not in page]
    assert not undefined, f"docs/features.md does not define {undefined}"
