"""docs/teaching.md points at notebooks, sections and timings that exist.

The guide's plans cite each step's minutes and peak memory from docs/timings.md, in rows of the form
| when | `notebooks/NAME.ipynb` | minutes | MB | ...; its troubleshooting table points at sections as
`notebooks/NAME.ipynb`: HEADING (several joined by <br>); a line naming one notebook may say "section N".
"""

import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "docs" / "teaching.md").read_text()
CITED_ROW = re.compile(r"`(?:notebooks/)?([^`]+)` \| ([\d.]+) \| (\d+) \|")


def headings(name: str) -> list[str]:
    """The Markdown headings of one notebook, without their #s."""
    cells = nbformat.read(ROOT / "notebooks" / name, as_version=4).cells
    lines = [line for cell in cells if cell.cell_type == "markdown" for line in cell.source.splitlines()]
    return [line.lstrip("#").strip() for line in lines if line.startswith("#")]


def test_every_notebook_named_exists():
    named = set(re.findall(r"([\w-]+\.ipynb)", GUIDE))
    assert named, "the guide names no notebook"
    missing = named - {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}
    assert not missing, f"not in notebooks/: {sorted(missing)}"


def test_every_section_pointed_at_is_a_heading():
    pointers = [
        re.fullmatch(r"`notebooks/([^`]+\.ipynb)`: (.+)", part.strip())
        for line in GUIDE.splitlines()
        if line.startswith("|")
        for cell in line.split(" | ")
        for part in cell.strip("| ").split("<br>")
    ]
    pointers = [match.groups() for match in pointers if match]
    assert len(pointers) >= 6, "the troubleshooting table should point at sections"
    for name, heading in pointers:
        assert heading in headings(name), f"{name} has no heading {heading!r}"
    for line in GUIDE.splitlines():
        names = set(re.findall(r"notebooks/([\w-]+\.ipynb)", line))
        for number in re.findall(r"section (\d+)", line) if len(names) == 1 else []:
            assert any(h.startswith(f"{number}. ") for h in headings(*names)), f"{names}: no section {number}"


def test_plans_cite_the_timing_table():
    table = (ROOT / "docs" / "timings.md").read_text()
    measured = {name: (float(minutes), int(mb)) for name, minutes, mb in CITED_ROW.findall(table)}
    cited = CITED_ROW.findall(GUIDE)
    assert len(cited) >= 10, "the plans should cite docs/timings.md"
    for name, minutes, mb in cited:
        assert name in measured, f"{name} has no row in docs/timings.md"
        assert (float(minutes), int(mb)) == measured[name], f"{name}: docs/timings.md says {measured[name]}"
