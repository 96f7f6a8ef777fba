"""The course book (`make book`): staged with the repository pyproject names, cached, built, read in a browser.

CI builds it in the quick profile from the copies test_notebooks executed (it runs first and leaves
them in LABKIT_EXECUTED_DIR, which conftest sets), so no notebook runs twice; run alone, this test
executes them itself. The book's toolchain is its own venv (`.book-venv`, which `make test` and
`make book` install from book/requirements.txt and name in LABKIT_JUPYTER_BOOK); `.ci/run` sets LABKIT_REQUIRE_BOOK=1 and
LABKIT_REQUIRE_BROWSER=1, so there a missing toolchain or browser fails instead of skipping.
"""

import os
from pathlib import Path

import nbformat
import pytest
import yaml

from labkit.app.screenshot import find_chromium, headless_chromium
from labkit.course import book
from labkit.course.links import BRANCH, repository
from labkit.runtime import LabkitError

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [path.name for path in book.notebooks()]


def test_the_staged_book_takes_its_repository_from_pyproject_and_mirrors_the_repository(tmp_path):
    src = book.stage(book.notebooks(), tmp_path / "src")  # the stored notebooks: staging needs no execution
    owner, name = repository()
    config = yaml.safe_load((src / "_config.yml").read_text())
    assert config["repository"] == {"url": f"https://github.com/{owner}/{name}", "branch": BRANCH, "path_to_book": ""}
    assert config["execute"]["execute_notebooks"] == "off"  # labkit's venv executed them; the book's only renders
    assert sorted(p.name for p in (src / "notebooks").glob("*.ipynb")) == NOTEBOOKS
    assert {p.relative_to(src).as_posix() for p in src.rglob("*.md")} == set(book.text_pages())
    assert (src / "docs" / "demo.png").read_bytes() == (ROOT / "docs" / "demo.png").read_bytes()  # the README's picture
    readme = (src / "README.md").read_text()
    assert f"(https://github.com/{owner}/{name}/blob/{BRANCH}/README.zh-CN.md)" in readme  # not a page of the book
    assert "(docs/teaching.md)" in readme and "(docs/demo.png)" in readme  # pages and pictures of the book stay
    cells = "\n".join(c.source for c in nbformat.read(src / "notebooks" / "01_group_rewards.ipynb", as_version=4).cells)
    assert f"(https://github.com/{owner}/{name}/blob/{BRANCH}/solutions/exercises.py)" in cells
    assert "(../docs/timings.md)" in cells


def test_the_toc_names_pages_the_repository_has():
    assert book.text_pages()[0] == "README.md"
    assert {"docs/teaching.md", "docs/design.md", "docs/timings.md", "docs/scale.md"} <= set(book.text_pages())


def _fake_checkout(root: Path) -> None:
    """A repository with one notebook that prints its profile, and the sources its key hashes."""
    (root / "notebooks").mkdir(parents=True)
    (root / "labkit").mkdir()
    (root / "data").mkdir()
    (root / "labkit" / "module.py").write_text("A = 1\n")
    (root / "data" / "split.jsonl").write_text("{}\n")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os\nprint(os.environ['LABKIT_PROFILE'])")])
    nbformat.write(notebook, root / "notebooks" / "a.ipynb")


def test_an_executed_copy_is_reused_until_the_notebook_the_profile_or_labkit_changes(tmp_path):
    root, out, lines = tmp_path / "repo", tmp_path / "executed", []
    _fake_checkout(root)
    book.execute("quick", out, root=root, log=lines.append)
    executed = nbformat.read(out / "a.ipynb", as_version=4)
    assert executed.cells[0].outputs[0]["text"] == "quick\n"  # executed with LABKIT_PROFILE set to the profile
    assert executed.metadata["labkit_book"]["profile"] == "quick"

    lines.clear()
    book.execute("quick", out, root=root, log=lines.append)
    assert lines == ["labkit book: a.ipynb: unchanged, kept"]  # a second build executes nothing

    digest = book.sources_digest(root)
    key = book.notebook_key(root / "notebooks" / "a.ipynb", "quick", digest)
    assert book.notebook_key(root / "notebooks" / "a.ipynb", "default", digest) != key
    (root / "labkit" / "module.py").write_text("A = 2\n")
    assert book.notebook_key(root / "notebooks" / "a.ipynb", "quick", book.sources_digest(root)) != key


def test_copies_executed_elsewhere_are_taken_only_if_they_are_this_notebook_without_errors(tmp_path):
    root, out, offered, lines = tmp_path / "repo", tmp_path / "executed", tmp_path / "offered", []
    _fake_checkout(root)
    offered.mkdir()
    copy = nbformat.read(root / "notebooks" / "a.ipynb", as_version=4)
    copy.cells[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="from test_notebooks\n")]
    nbformat.write(copy, offered / "a.ipynb")
    book.execute("quick", out, reuse=offered, root=root, log=lines.append)
    assert lines == [f"labkit book: a.ipynb: reused from {offered}"]
    assert nbformat.read(out / "a.ipynb", as_version=4).cells[0].outputs[0]["text"] == "from test_notebooks\n"

    copy.cells[0].outputs = [nbformat.v4.new_output("error", ename="ValueError", evalue="no", traceback=[])]
    nbformat.write(copy, offered / "a.ipynb")
    lines.clear()
    book.execute("quick", out, reuse=offered, force=True, root=root, log=lines.append)
    assert "executing" in lines[0]  # a copy with an error is not put in the book
    assert nbformat.read(out / "a.ipynb", as_version=4).cells[0].outputs[0]["text"] == "quick\n"


def test_an_unknown_profile_fails_before_any_notebook_runs(tmp_path):
    with pytest.raises(LabkitError, match="unknown profile"):
        book.execute("fast", tmp_path, log=lambda line: None)


def _heading(driver) -> str:
    """The page's first heading, once the page has loaded and has one (up to 30 s)."""
    from selenium.webdriver.support.ui import WebDriverWait

    def loaded(d):
        return d.execute_script("return document.readyState") == "complete" and d.find_elements(
            "css selector", "article.bd-article h1"
        )

    return WebDriverWait(driver, 30).until(loaded)[0].text


@pytest.mark.slow
@pytest.mark.skipif(
    book.find_jupyter_book() is None and not os.environ.get("LABKIT_REQUIRE_BOOK"),
    reason="the book's toolchain is not installed (make book, or make test, installs it into .book-venv)",
)
@pytest.mark.skipif(
    find_chromium() is None and not os.environ.get("LABKIT_REQUIRE_BROWSER"),
    reason="headless Chromium not installed (apt-get install chromium chromium-driver)",
)
def test_the_book_builds_in_the_quick_profile_and_reads_in_a_browser(tmp_path, monkeypatch, executed_notebooks):
    # As test_notebooks runs them, should a notebook have to be executed here.
    monkeypatch.setenv("LABKIT_DEVICE", "cpu")
    monkeypatch.setenv("LABKIT_RUNS", str(Path(os.environ.get("LABKIT_TEST_RUNS", tmp_path.parent / "labkit-runs"))))
    offered = sorted(p.name for p in executed_notebooks.glob("*.ipynb"))
    if offered and offered != NOTEBOOKS:
        pytest.fail(f"test_notebooks left {len(offered)} of {len(NOTEBOOKS)} executed notebooks: see its failures")
    lines = []
    index = book.build("quick", tmp_path, reuse=executed_notebooks, log=lines.append)
    assert index == tmp_path / "_build" / "html" / "index.html"
    assert not [line for line in lines if "WARNING" in line], "\n".join(lines)  # no broken link, no missing page

    # The student's web page, when notebook 05 wrote one beside the run, is in the site where teaching.md links it.
    if (Path(os.environ["LABKIT_RUNS"]) / "quick" / "edge" / "index.html").exists():
        assert (index.parent / "edge" / "index.html").exists() and (index.parent / "edge" / "model.onnx").exists()
        assert 'href="../edge/index.html"' in (index.parent / "docs" / "teaching.html").read_text()
    elif os.environ.get("LABKIT_REQUIRE_BROWSER"):
        pytest.fail("notebook 05 wrote no student page although ONNX Runtime Web is required here")

    owner, name = repository()
    page = "notebooks/02_grpo_from_scratch"
    with headless_chromium() as driver:
        # index.html forwards to the README's page by a refresh, which can still be loading when get() returns
        # (CI once found the URL changed and the page empty), so each page is waited for by its heading.
        driver.get(index.as_uri())
        assert _heading(driver).startswith("labkit")
        assert driver.current_url.endswith("/README.html")
        sidebar = [a.get_attribute("href") for a in driver.find_elements("css selector", "nav.bd-links a")]
        for notebook in NOTEBOOKS:
            assert any(href.endswith(f"notebooks/{notebook[:-6]}.html") for href in sidebar), notebook
        demo = driver.find_element("css selector", "article.bd-article img[src$='demo.png']")
        assert driver.execute_script("return arguments[0].naturalWidth", demo) > 0  # the demo's picture is there
        driver.save_screenshot(str(tmp_path / "index.png"))

        driver.get((index.parent / f"{page}.html").as_uri())
        assert "GRPO from scratch" in _heading(driver)
        outputs = driver.find_elements("css selector", "article.bd-article .cell_output")
        assert len(outputs) >= 5 and any(output.text.strip() for output in outputs)  # executed, printed
        figures = driver.find_elements("css selector", "article.bd-article .cell_output img")
        assert figures and all(driver.execute_script("return arguments[0].naturalWidth", img) > 0 for img in figures)
        links = {a.get_attribute("href") for a in driver.find_elements("css selector", "a")}
        driver.save_screenshot(str(tmp_path / "notebook.png"))
    # The launch buttons open this notebook of the repository pyproject.toml names.
    assert f"https://mybinder.org/v2/gh/{owner}/{name}/{BRANCH}?urlpath=lab/tree/{page}.ipynb" in links
    assert f"https://colab.research.google.com/github/{owner}/{name}/blob/{BRANCH}/{page}.ipynb" in links
