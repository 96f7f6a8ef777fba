"""The walk script pairs each outcome sentence of a notebook with what the cells around it printed."""

import importlib.util
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SPEC = importlib.util.spec_from_file_location("notebook_walk", ROOT / "tools" / "notebook_walk.py")
notebook_walk = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(notebook_walk)


def _executed(tmp_path):
    v4 = nbformat.v4
    far = v4.new_code_cell("print('far away')")
    far.outputs = [v4.new_output("stream", name="stdout", text="far away\n")]
    near = v4.new_code_cell("print(accuracy)")
    near.outputs = [v4.new_output("stream", name="stdout", text="step 10\rstep 20\raccuracy 5% -> 0%\n")]
    after = v4.new_code_cell("plot()")
    after.outputs = [v4.new_output("display_data", data={"image/png": "", "text/plain": "<Figure>"})]
    notebook = v4.new_notebook(
        cells=[
            far,
            v4.new_code_cell("x = 1"),
            near,
            v4.new_markdown_cell("## 2. Accuracy\n\nIts accuracy bumps up before it falls.\nThe code is in `labkit.rewards`."),
            after,
        ]
    )
    nbformat.write(notebook, tmp_path / "01_example.ipynb")
    return notebook


def test_outcome_sentences_sit_beside_the_outputs_around_them(tmp_path):
    notebook = _executed(tmp_path)
    items = notebook_walk.walk(notebook, around=2)
    assert [item["sentence"] for item in items] == ["Its accuracy bumps up before it falls."]  # the method sentence is not one
    assert items[0]["words"] == ["bumps", "falls"]
    printed = dict(items[0]["outputs"])
    assert printed[2] == "accuracy 5% -> 0%\n"  # a progress bar's rewrites are dropped
    assert printed[4] == "[figure]\n" and 0 not in printed  # two code cells each side; the first is three away

    text, total = notebook_walk.report(tmp_path, around=2)
    assert total == 1 and "> Its accuracy bumps up before it falls." in text and "accuracy 5% -> 0%" in text


def test_sentences_split_paragraphs_and_keep_headings_whole():
    assert notebook_walk.sentences("# A title\n\nOne rises. Two\nfalls (mostly). `three` stays.") == [
        "# A title",
        "One rises.",
        "Two falls (mostly).",
        "`three` stays.",
    ]
