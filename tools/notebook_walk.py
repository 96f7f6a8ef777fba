"""The walk: every Markdown sentence that says how a run came out, beside what the run printed.

    .venv/bin/python tools/notebook_walk.py book/_build/executed/default            # after `make book`
    .venv/bin/python tools/notebook_walk.py /tmp/executed --out walk.md --around 2  # any executed copies

A notebook's Markdown is written once and read beside the outputs of every run. A sentence that
describes an outcome ("accuracy rises", "nearly every trace", "about as accurate") is true only if the
numbers beside it say so, on this run. This script finds such sentences by their outcome words and
prints each with the outputs of the code cells around it (`--around` code cells before and after), so a
reviewer reads them side by side and marks each one: computed by the cell, worded as what to look for,
or contradicted. `docs/teaching.md` ("Reading a notebook against its outputs") says how to use it.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import nbformat

# Words that describe how a run came out: a direction, a comparison, a share, a shape of a curve.
OUTCOME = re.compile(
    r"\b("
    r"ris(?:e|es|ing)|rose|fall(?:s|ing)?|fell|drop(?:s|ped)?|climb(?:s|ed)?|bump(?:s|ed)?|"
    r"collaps(?:e|es|ed)|sharpen(?:s|ed)?|improv(?:e|es|ed)|plateau(?:s|ed)?|flat|level|stall(?:s|ed)?|"
    r"beat(?:s)?|win(?:s)?|won|los(?:e|es|t)|tie(?:s|d)?|catch(?:es)? up|caught up|"
    r"better|worse|higher|lower|faster|slower|above|below|ahead|behind|"
    r"nearly|almost|most|few|about as|near(?:ly)?|lands?|always|never|every|none"
    r")\b",
    re.IGNORECASE,
)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"`*])")


def sentences(markdown: str) -> list[str]:
    """The Markdown's sentences, with line breaks inside a paragraph joined; headings and table rows kept whole."""
    out = []
    for block in re.split(r"\n\s*\n", markdown):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.startswith(("#", "|")) for line in lines):
            out += lines
            continue
        out += [s.strip() for s in SENTENCE_END.split(" ".join(lines)) if s.strip()]
    return out


def printed(cell, limit: int = 2000) -> str:
    """What a code cell printed: streams and plain-text results (figures and widgets are named, not shown)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data"):
            data = output.get("data", {})
            if "image/png" in data:
                parts.append("[figure]\n")
            elif "application/vnd.jupyter.widget-view+json" in data:
                parts.append("[widget]\n")
            elif "text/plain" in data:
                parts.append(data["text/plain"] + "\n")
        elif output.get("output_type") == "error":
            parts.append(f"[error] {output.get('ename')}: {output.get('evalue')}\n")
    text = re.sub(r"[^\n]*\r", "", "".join(parts))  # a progress bar's rewrites: keep the last state of each line
    return text if len(text) <= limit else text[: limit // 2] + "\n[...]\n" + text[-limit // 2 :]


def walk(notebook, around: int = 2) -> list[dict]:
    """[{cell, sentence, words, outputs: [(cell index, text)]}] for every outcome sentence of a notebook."""
    code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    found = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "markdown":
            continue
        before = [i for i in code if i < index][-around:]
        after = [i for i in code if i > index][:around]
        outputs = [(i, printed(notebook.cells[i])) for i in before + after]
        outputs = [(i, text) for i, text in outputs if text.strip()]
        for sentence in sentences(cell.source):
            words = sorted({match.group(0).lower() for match in OUTCOME.finditer(sentence)})
            if words:
                found.append({"cell": index, "sentence": sentence, "words": words, "outputs": outputs})
    return found


def report(folder: Path, around: int) -> tuple[str, int]:
    """The walk of every executed notebook in `folder` as Markdown, and how many sentences it holds."""
    lines, total = [f"# The walk: outcome sentences beside their outputs ({folder})", ""], 0
    for path in sorted(folder.glob("*.ipynb")):
        items = walk(nbformat.read(path, as_version=4), around)
        total += len(items)
        lines += [f"## {path.name}: {len(items)} sentences", ""]
        for cell in sorted({item["cell"] for item in items}):
            here = [item for item in items if item["cell"] == cell]
            lines += [f"### cell {cell}", ""]
            lines += [f"> {item['sentence']}  \n> ({', '.join(item['words'])})" for item in here] + [""]
            for index, text in here[0]["outputs"]:
                lines += [f"printed by cell {index}:", "", "```", text.rstrip(), "```", ""]
            if not here[0]["outputs"]:
                lines += ["(no printed output nearby: a sentence about the method, or one to check by hand)", ""]
    return "\n".join(lines), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="a folder of executed notebooks (make book: book/_build/executed/default)")
    parser.add_argument("--out", type=Path, default=None, help="write the walk here (default: print it)")
    parser.add_argument("--around", type=int, default=2, help="code cells before and after each Markdown cell")
    args = parser.parse_args()
    if not any(args.folder.glob("*.ipynb")):
        raise SystemExit(f"no executed notebooks in {args.folder}: run `make book` (or notebook_times.py --executed) first")
    text, total = report(args.folder, args.around)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    print(f"{total} outcome sentences to read against their outputs" + (f": {args.out}" if args.out else ""))


if __name__ == "__main__":
    main()
