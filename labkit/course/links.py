"""Where the project lives, named once: `[project.urls] Repository` in pyproject.toml.

Every notebook's Binder and Colab badges and its Colab install cell point there.
`labkit links` rewrites them from that one line; `labkit links --check` lists what
disagrees and fails (a test runs it). A fork sets its own home by editing that line
and running `labkit links`. A checkout-only tool: an installed labkit has no notebooks.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from ..runtime import LabkitError

ROOT = Path(__file__).resolve().parents[2]  # labkit/course/links.py -> the repository
BRANCH = "main"
_GITHUB = re.compile(r"^https://github\.com/([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
# What points at the repository in a notebook, whatever owner/name it names now.
_BINDER = re.compile(r"https://mybinder\.org/v2/gh/[^/\s)]+/[^/\s)]+/[^?\s)]+\?labpath=notebooks%2F[^\s)]+")
_COLAB = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/notebooks/[^\s)]+")
_INSTALL = re.compile(r"git\+https://github\.com/[^/\s\"']+/[^/\s\"']+?(?=[\"'\s])")


def repository(root: Path = ROOT) -> tuple[str, str]:
    """(owner, name) of the GitHub repository pyproject.toml names."""
    pyproject = root / "pyproject.toml"
    if not pyproject.exists():
        raise LabkitError(f"no pyproject.toml in {root}; run `labkit links` in a checkout of labkit")
    urls = tomllib.loads(pyproject.read_text()).get("project", {}).get("urls", {})
    url = urls.get("Repository")
    match = _GITHUB.match(url or "")
    if not match:
        raise LabkitError(f"pyproject.toml's [project.urls] Repository is {url!r}; set it to https://github.com/OWNER/NAME")
    return match.group(1), match.group(2)


def expected_links(owner: str, name: str, notebook: str) -> dict[str, str]:
    """The Binder and Colab addresses of one notebook, and the install target."""
    return {
        "binder": f"https://mybinder.org/v2/gh/{owner}/{name}/{BRANCH}?labpath=notebooks%2F{notebook}",
        "colab": f"https://colab.research.google.com/github/{owner}/{name}/blob/{BRANCH}/notebooks/{notebook}",
        "install": f"git+https://github.com/{owner}/{name}",
    }


def _fixed(text: str, links: dict[str, str]) -> str:
    text = _BINDER.sub(links["binder"], text)
    text = _COLAB.sub(links["colab"], text)
    return _INSTALL.sub(links["install"], text)


def sync(root: Path = ROOT, *, check: bool = False) -> list[str]:
    """Rewrite every notebook's links from pyproject.toml (or, with `check`, only list the disagreements).

    A notebook must carry both badges and an install line; one missing is a disagreement too.
    Returns one line per notebook that disagreed (and, unless `check`, was rewritten).
    """
    import nbformat

    owner, name = repository(root)
    problems = []
    for path in sorted((root / "notebooks").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        links = expected_links(owner, name, path.name)
        sources = "\n".join(cell.source for cell in notebook.cells)
        missing = [kind for kind, link in links.items() if link not in _fixed(sources, links)]
        changed = [cell for cell in notebook.cells if _fixed(cell.source, links) != cell.source]
        if missing:
            problems.append(f"{path.name}: no {', no '.join(missing)} link (add the badges and install cell of the others)")
        if changed:
            problems.append(f"{path.name}: {len(changed)} cell(s) point elsewhere than {owner}/{name}")
            if not check:
                for cell in changed:
                    cell.source = _fixed(cell.source, links)
                nbformat.write(notebook, path)
    return problems
