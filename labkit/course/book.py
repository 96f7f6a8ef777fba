"""The course book: the README, the executed notebooks and the docs as one HTML site.

    make book                   # the default profile; the site is book/_build/html/index.html
    make book PROFILE=quick     # the short version, as CI builds it

Two environments, each with what it needs. labkit's own venv executes the notebooks (labkit is
installed there); the book's venv (`.book-venv`, from book/requirements.txt) renders them with
Jupyter Book 1.0.x, execution off. Jupyter Book 1.0.x pins an older markdown-it-py than labkit's
environment has, hence the second venv.

1. `execute`: each notebook runs top to bottom with nbclient, LABKIT_PROFILE set to the profile,
   into book/_build/executed/PROFILE/, widget state stored. A copy is reused while its key (the
   notebook, the profile, labkit's sources, the data splits) is unchanged, so a second build
   executes nothing. The tests pass the copies test_notebooks made (`reuse`), so CI runs each
   notebook once.
2. `stage`: book/_build/src/ gets the book's config with the repository from pyproject.toml (the
   one place the project names it, `labkit.course.links.repository`), and the pages under the paths they
   have in the repository: README.md (the home page), notebooks/*.ipynb (the executed copies) and
   docs/*.md. The launch buttons therefore open the repository's own notebooks on Binder and Colab.
   A link to a file that is not in the book points at the repository on GitHub instead.
3. `render`: `jupyter-book build` into book/_build/html, and the student's web page that notebook 05
   wrote beside the run copied in as edge/ (docs/teaching.md links it).

A checkout-only tool, like `labkit links`: an installed labkit has no notebooks.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import posixpath
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

from ..runtime import LabkitError
from .links import BRANCH, ROOT, repository

BOOK = ROOT / "book"
BUILD = BOOK / "_build"
IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".svg")
# What decides a notebook's outputs besides the notebook itself and the profile.
KEY_SOURCES = ("labkit", "data")
KEY_ENV = ("LABKIT_HUB", "LABKIT_DEVICE")
_LINK = re.compile(r"\]\(([^)\s]+)\)")  # the target of a Markdown link or image


def notebooks(root: Path = ROOT) -> list[Path]:
    return sorted((root / "notebooks").glob("*.ipynb"))


def text_pages(root: Path = ROOT) -> list[str]:
    """The Markdown pages book/_toc.yml names (its root, README, first), as paths in the repository."""
    import yaml

    toc = yaml.safe_load((root / "book" / "_toc.yml").read_text())
    found = [toc["root"]]

    def walk(entries: list) -> None:
        for entry in entries:
            if "file" in entry:
                found.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []) + toc.get("chapters", []))
    pages = []
    for name in found:
        if not (root / f"{name}.md").exists():
            raise LabkitError(f"book/_toc.yml names {name}, but {name}.md is not in the repository")
        pages.append(f"{name}.md")
    return pages


def sources_digest(root: Path = ROOT) -> str:
    """One hash of labkit's sources and the data splits: a change to either re-executes every notebook."""
    digest = hashlib.sha256()
    for folder in KEY_SOURCES:
        for path in sorted((root / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def notebook_key(path: Path, profile: str, digest: str) -> str:
    """What an executed copy must match to be reused: the notebook, the profile, the sources, the settings."""
    settings = "".join(f"{name}={os.environ.get(name, '')};" for name in KEY_ENV)
    return hashlib.sha256(path.read_bytes() + f"\0{profile}\0{digest}\0{settings}".encode()).hexdigest()


def _stored_key(path: Path) -> str | None:
    import nbformat

    if not path.exists():
        return None
    return nbformat.read(path, as_version=4).metadata.get("labkit_book", {}).get("key")


def _errors(notebook) -> list:
    return [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def _same_cells(executed, original) -> bool:
    return [(c.cell_type, c.source) for c in executed.cells] == [(c.cell_type, c.source) for c in original.cells]


def execute(
    profile: str,
    out: Path | None = None,
    *,
    reuse: Path | None = None,
    force: bool = False,
    root: Path = ROOT,
    timeout: int = 3600,
    log=print,
) -> list[Path]:
    """Execute every notebook in `profile` into `out` (default book/_build/executed/PROFILE); returns the copies.

    A copy whose key still matches is kept as it is. With `reuse`, a folder of copies executed in
    the same profile by someone else (test_notebooks' LABKIT_EXECUTED_DIR), a copy there with the
    notebook's cells and no error is taken instead of executing again.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    from ..run.profiles import get_profile

    get_profile(profile)  # an unknown name fails here, in one line, not in the first notebook
    out = Path(out) if out is not None else BUILD / "executed" / profile
    out.mkdir(parents=True, exist_ok=True)
    digest = sources_digest(root)
    copies = []
    for path in notebooks(root):
        target = out / path.name
        key = notebook_key(path, profile, digest)
        copies.append(target)
        if not force and _stored_key(target) == key:
            log(f"labkit book: {path.name}: unchanged, kept")
            continue
        notebook = nbformat.read(path, as_version=4)
        offered = reuse / path.name if reuse is not None else None
        if offered is not None and offered.exists():
            executed = nbformat.read(offered, as_version=4)
            if _same_cells(executed, notebook) and not _errors(executed):
                executed.metadata["labkit_book"] = {"key": key, "profile": profile, "executed": "reused"}
                nbformat.write(executed, target)
                log(f"labkit book: {path.name}: reused from {reuse}")
                continue
        log(f"labkit book: {path.name}: executing in the {profile} profile ...")
        start = time.perf_counter()
        client = NotebookClient(
            notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        )
        try:
            with mock.patch.dict(os.environ, LABKIT_PROFILE=profile):
                client.execute()
        except CellExecutionError as error:  # the book is not built from a broken notebook
            raise LabkitError(f"{path.name} failed in the {profile} profile:\n{error}") from error
        seconds = time.perf_counter() - start
        notebook.metadata["labkit_book"] = {"key": key, "profile": profile, "executed": f"{seconds:.0f} s"}
        nbformat.write(notebook, target)
        log(f"labkit book: {path.name}: executed in {seconds:.0f} s")
    return copies


def _relink(text: str, page: str, pages: set[str], repo_url: str, assets: set[str], root: Path) -> str:
    """Point each relative link of `page` (a path in the repository) at what the book has.

    A page of the book stays as it is, and so does an image (it is copied beside the pages);
    another file or folder of the repository becomes its address on GitHub.
    """

    def fix(match: re.Match) -> str:
        target = match.group(1)
        if "://" in target or target.startswith(("#", "mailto:", "/")):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = posixpath.normpath(posixpath.join(posixpath.dirname(page), path))
        if resolved in pages or resolved.startswith("../") or not (root / resolved).exists():
            return match.group(0)  # a page of the book, or nothing the repository has (Sphinx warns)
        if resolved.lower().endswith(IMAGES):
            assets.add(resolved)
            return match.group(0)
        kind = "tree" if (root / resolved).is_dir() else "blob"
        return f"]({repo_url}/{kind}/{BRANCH}/{resolved}{'#' + anchor if anchor else ''})"

    return _LINK.sub(fix, text)


def stage(copies: list[Path], src: Path | None = None, *, root: Path = ROOT) -> Path:
    """Lay out the book's source in `src` (default book/_build/src): config, README, notebooks, docs."""
    import nbformat
    import yaml

    src = Path(src) if src is not None else BUILD / "src"
    if src.exists():
        shutil.rmtree(src)
    (src / "notebooks").mkdir(parents=True)
    owner, name = repository(root)
    repo_url = f"https://github.com/{owner}/{name}"
    config = yaml.safe_load((root / "book" / "_config.yml").read_text())
    config["repository"].update(url=repo_url, branch=BRANCH)
    (src / "_config.yml").write_text(
        "# Made by labkit/course/book.py from book/_config.yml and pyproject.toml: edit those.\n"
        + yaml.safe_dump(config, sort_keys=False)
    )
    shutil.copy(root / "book" / "_toc.yml", src / "_toc.yml")

    texts = text_pages(root)
    pages = set(texts) | {f"notebooks/{copy.name}" for copy in copies}
    assets: set[str] = set()
    for page in texts:
        text = (root / page).read_text()
        (src / page).parent.mkdir(parents=True, exist_ok=True)
        (src / page).write_text(_relink(text, page, pages, repo_url, assets, root))
    for copy in copies:
        notebook = nbformat.read(copy, as_version=4)
        # The kernel names its lexer when it runs; a copy that never ran would be lexed as plain Python (no `!pip`).
        notebook.metadata.setdefault("language_info", {"name": "python"}).setdefault("pygments_lexer", "ipython3")
        page = f"notebooks/{copy.name}"
        for cell in notebook.cells:
            if cell.cell_type == "markdown":
                cell.source = _relink(cell.source, page, pages, repo_url, assets, root)
        nbformat.write(notebook, src / page)
    for asset in sorted(assets):
        (src / asset).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / asset, src / asset)
    return src


def find_jupyter_book(root: Path = ROOT) -> str | None:
    """$LABKIT_JUPYTER_BOOK (the Makefile sets it), else the book venv's (`.book-venv`), else one on PATH."""
    for found in (os.environ.get("LABKIT_JUPYTER_BOOK"), root / ".book-venv" / "bin" / "jupyter-book"):
        if found and Path(found).exists():
            return str(found)
    return shutil.which("jupyter-book")


def render(src: Path, output: Path | None = None, *, jupyter_book: str | None = None, log=print) -> Path:
    """`jupyter-book build` of a staged source; returns the site's index.html (under OUTPUT/_build/html)."""
    jupyter_book = jupyter_book or find_jupyter_book()
    if not jupyter_book:
        raise LabkitError("jupyter-book not found; `make book` installs it into .book-venv (from book/requirements.txt)")
    output = Path(output) if output is not None else BOOK
    command = [jupyter_book, "build", str(src), "--path-output", str(output), "--builder", "html", "--keep-going"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise LabkitError(f"jupyter-book build failed (exit {done.returncode}):\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout + done.stderr)
    warnings = [line for line in text.splitlines() if "WARNING" in line]
    for line in warnings:
        log(f"labkit book: {line}")
    return output / "_build" / "html" / "index.html"


def copy_edge_page(profile: str, html: Path) -> Path | None:
    """The student's web page notebook 05 wrote beside the profile's run (runs/PROFILE/edge, `labkit.edge.web`),
    copied into the site as edge/, where docs/teaching.md links it: it runs in the reader's browser tab like the
    rest of the book, no server. None when the run has no page (ONNX Runtime Web was not installed)."""
    from ..run.pipeline import default_run_dir

    page = default_run_dir(profile) / "edge"
    if not (page / "index.html").exists():
        return None
    shutil.copytree(page, html / "edge", dirs_exist_ok=True)
    return html / "edge" / "index.html"


def build(
    profile: str,
    work: Path | None = None,
    *,
    reuse: Path | None = None,
    force: bool = False,
    jupyter_book: str | None = None,
    root: Path = ROOT,
    log=print,
) -> Path:
    """Execute (or reuse), stage and render the book; returns its index.html.

    `work` holds everything the build makes (default book/: executed copies in _build/executed/PROFILE,
    the staged source in _build/src, the site in _build/html).
    """
    work = Path(work) if work is not None else BOOK
    start = time.perf_counter()
    copies = execute(profile, work / "_build" / "executed" / profile, reuse=reuse, force=force, root=root, log=log)
    executed = time.perf_counter()
    src = stage(copies, work / "_build" / "src", root=root)
    index = render(src, work, jupyter_book=jupyter_book, log=log)
    if copy_edge_page(profile, index.parent) is None:
        log(f"labkit book: no student page in {profile}'s run (notebook 05 writes it after `npm ci`); the link to edge/ is dead")
    log(f"labkit book: notebooks {executed - start:.0f} s, HTML {time.perf_counter() - executed:.0f} s; open {index}")
    return index


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m labkit.course.book", description="Build the course book (see `make book`).")
    parser.add_argument("--profile", default=os.environ.get("LABKIT_PROFILE", "default"), help="quick | default | gpu")
    parser.add_argument("--force", action="store_true", help="execute every notebook again, even if unchanged")
    parser.add_argument(
        "--jupyter-book", default=None, help="the jupyter-book command (default: $LABKIT_JUPYTER_BOOK, else .book-venv's)"
    )
    args = parser.parse_args(argv)
    try:
        build(args.profile, force=args.force, jupyter_book=args.jupyter_book)
    except LabkitError as error:
        print(f"labkit book: error: {error}", file=sys.stderr)
        raise SystemExit(2) from error


if __name__ == "__main__":
    main()
