"""The layers of docs/design.md, held on the package's paths: nothing imports from a layer above its own,
and only the app and the course import the libraries that draw (gradio, ipywidgets, matplotlib)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "labkit"

# Bottom up. A module may import its own layer and the ones below; a folder is one layer.
LAYERS = [
    ["runtime.py", "tokenizer.py"],
    ["rewards.py", "models.py", "llama_decode.py", "training.py", "grpo.py", "readings.py"],
    ["sampling.py"],
    ["tasks/"],
    ["evaluate.py", "pretrain.py", "traces.py", "distill.py", "grpo_loop.py", "ppo.py"],
    ["trainers/"],
    ["run/"],
    ["hub/", "edge/"],
    ["app/", "course/"],
    ["cli.py", "__init__.py"],
]
DRAWING = {"gradio", "ipywidgets", "matplotlib"}
MAY_DRAW = ("app/", "course/")


def layer_of(relative: str) -> int:
    for number, members in enumerate(LAYERS):
        if any(relative == m or (m.endswith("/") and relative.startswith(m)) for m in members):
            return number
    raise AssertionError(f"labkit/{relative} is in no layer: add it to LAYERS (and docs/design.md)")


def _target(path: Path, node: ast.ImportFrom) -> Path | None:
    """The file or folder a relative import reads from, or None for an import from outside labkit."""
    if node.level == 0:
        if not (node.module or "").startswith("labkit."):
            return None
        base, parts = ROOT, node.module.split(".")[1:]
    else:
        base = path.parent
        for _ in range(node.level - 1):
            base = base.parent
        parts = node.module.split(".") if node.module else []
    target = base.joinpath(*parts) if parts else base
    if target.with_suffix(".py").exists():
        return target.with_suffix(".py")
    return target / "__init__.py" if (target / "__init__.py").exists() else target


def imports():
    """(importing file, imported labkit file, line) for every import inside labkit, lazy ones included."""
    for path in sorted(ROOT.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = _target(path, node)
                if target is not None and node.module is None:  # from . import x: x is a module of that folder
                    for alias in node.names:
                        module = target.parent / f"{alias.name}.py" if target.name == "__init__.py" else target
                        yield path, module if module.exists() else target, node.lineno
                elif target is not None:
                    yield path, target, node.lineno


def test_every_module_is_in_a_layer():
    for path in ROOT.rglob("*.py"):
        layer_of(path.relative_to(ROOT).as_posix())


def test_no_module_imports_from_a_layer_above_its_own():
    upward = []
    for path, target, line in imports():
        source, imported = path.relative_to(ROOT).as_posix(), target.relative_to(ROOT).as_posix()
        if layer_of(imported) > layer_of(source):
            upward.append(f"labkit/{source}:{line} imports labkit/{imported}")
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_only_the_app_and_the_course_import_what_draws():
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if relative.startswith(MAY_DRAW):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            found += [f"labkit/{relative}:{node.lineno} imports {n}" for n in names if n.split(".")[0] in DRAWING]
    assert not found, "\n".join(found)


def test_the_layer_test_catches_an_upward_import(tmp_path):
    # The rule itself, on a made-up import: the GRPO loss reading the run's profiles would be caught.
    assert layer_of("grpo.py") < layer_of("run/profiles.py") and layer_of("app/demo.py") > layer_of("run/report.py")
