"""README.zh-CN.md, the Chinese README, stays in step with the repository and with README.md.

Every notebook in notebooks/ is named in it; every command line in its code blocks (its trailing
comment aside, so comments may be translated) also appears in README.md, so the two cannot drift
apart silently; every relative link and image in it points to a path that exists.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ZH = ROOT / "README.zh-CN.md"
EN = ROOT / "README.md"

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
COMMENT = re.compile(r"\s+#.*$")


def zh_text() -> str:
    return ZH.read_text(encoding="utf-8")


def command_lines(text: str) -> list[str]:
    """Each non-empty line of each fenced code block, without its trailing `# comment`."""
    lines = []
    for block in FENCE.findall(text):
        for line in block.splitlines():
            command = COMMENT.sub("", line).strip()
            if command and not command.startswith("#"):
                lines.append(command)
    return lines


def test_every_notebook_is_named():
    text = zh_text()
    notebooks = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert notebooks, "no notebooks found"
    missing = [name for name in notebooks if name not in text]
    assert not missing, f"README.zh-CN.md does not name: {missing}"


def test_commands_appear_in_english_readme():
    commands = command_lines(zh_text())
    assert commands, "README.zh-CN.md has no code blocks"
    english = EN.read_text(encoding="utf-8")
    drifted = [c for c in commands if c not in english]
    assert not drifted, f"commands in README.zh-CN.md that README.md does not give: {drifted}"


@pytest.mark.parametrize("target", sorted(set(LINK.findall(ZH.read_text(encoding="utf-8")))))
def test_relative_link_exists(target):
    if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
        pytest.skip("not a relative link")
    path = target.split("#", 1)[0]
    assert (ZH.parent / path).exists(), f"README.zh-CN.md links to {target}, which does not exist"
