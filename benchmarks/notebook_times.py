"""How long the lab takes, as a learner meets it: `labkit run`, then every notebook in order.

    .venv/bin/python benchmarks/notebook_times.py [--profile default] [--out docs/timings.md]
    .venv/bin/python benchmarks/notebook_times.py --update --notebooks 06_real_models   # re-measure some rows
    .venv/bin/python benchmarks/notebook_times.py --update --runs runs --notebooks 02_grpo_from_scratch
                                                    # one that reads `labkit run`'s folder: after `labkit run`

Runs `labkit run --profile PROFILE` into a fresh runs folder, then executes each
notebook top to bottom (nbclient, as CI does) in that folder, so a notebook reuses
what the run and the notebooks before it made, exactly as on a learner's machine.
Each is timed by the wall clock, and the peak resident memory of its process (the
kernel, for a notebook) is sampled every half second. The table is written as
Markdown with the machine it ran on: the notebooks' "Time." lines cite it, and
tests/test_notebooks.py checks that they agree with it within 25%. `--update` skips
`labkit run` (for notebooks that do not read its folder, or after a full measurement)
and replaces only the rows it measured, saying which rows were re-measured when.
"""

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

from labkit.runtime import describe_machine

ROOT = Path(__file__).resolve().parent.parent


class PeakMemory:
    """Largest resident set of the children of this process, sampled every `interval` seconds."""

    def __init__(self, interval: float = 0.5):
        self.interval, self.peak_mb, self._stop = interval, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for child in psutil.Process().children(recursive=True):
                try:
                    self.peak_mb = max(self.peak_mb, child.memory_info().rss / 2**20)
                except psutil.Error:
                    pass
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default")
    parser.add_argument("--out", default=str(ROOT / "docs" / "timings.md"))
    parser.add_argument("--notebooks", nargs="*", default=None, help="names to run (default: all, in order)")
    parser.add_argument("--executed", default=None, help="also save each executed notebook in this folder, to read")
    parser.add_argument("--update", action="store_true", help="skip labkit run; replace only these notebooks' rows in --out")
    parser.add_argument(
        "--runs", default=None, help="with --update: a runs folder where `labkit run` already finished (default: a fresh one)"
    )
    args = parser.parse_args()

    runs = Path(args.runs).resolve() if args.runs else Path(tempfile.mkdtemp(prefix="labkit-timings-"))
    env = {**os.environ, "LABKIT_PROFILE": args.profile, "LABKIT_RUNS": str(runs), "LABKIT_DEVICE": "cpu"}
    os.environ.update(env)
    rows = []
    if not args.update:
        with PeakMemory() as memory:
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "labkit.cli", "run", "--profile", args.profile], env=env, check=True)
            rows.append((f"`labkit run --profile {args.profile}`", time.perf_counter() - start, memory.peak_mb))
            print(f"labkit run: {rows[-1][1]:.0f}s", flush=True)
    paths = sorted((ROOT / "notebooks").glob("*.ipynb"))
    if args.notebooks:
        paths = [p for p in paths if p.name in args.notebooks or p.stem in args.notebooks]
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        client = NotebookClient(notebook, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
        with PeakMemory() as memory:
            start = time.perf_counter()
            client.execute()
            rows.append((f"`{path.name}`", time.perf_counter() - start, memory.peak_mb))
        print(f"{path.name}: {rows[-1][1]:.0f}s, peak {rows[-1][2]:.0f} MB", flush=True)
        if args.executed:
            Path(args.executed).mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, Path(args.executed) / path.name)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if args.update:
        update_table(Path(args.out), rows, f"{datetime.date.today()} at commit `{commit or 'unknown'}`, on {describe_machine()}")
        return
    lines = [
        "# How long the lab takes",
        "",
        f"Measured by `benchmarks/notebook_times.py --profile {args.profile}` on {datetime.date.today()} at commit "
        f"`{commit or 'unknown'}`, on one machine: {describe_machine()}.",
        "Each notebook ran top to bottom after `labkit run` and the notebooks before it, as a learner would run them;",
        "peak memory is the largest resident set of its process. Another machine, or this one while busy, gives other",
        "times: treat them as the order of magnitude a learner should plan for, not a promise.",
        "",
        "| step | minutes | peak memory (MB) |",
        "|---|---|---|",
        *(f"| {name} | {seconds / 60:.1f} | {peak:.0f} |" for name, seconds, peak in rows),
        "",
    ]
    Path(args.out).write_text("\n".join(lines))
    print(f"wrote {args.out}")


def update_table(path: Path, rows: list[tuple[str, float, float]], when: str) -> None:
    """Replace (or add, in name order) the measured rows of an existing table; note which and when."""
    lines = path.read_text().rstrip("\n").splitlines()
    fresh = {name: f"| {name} | {seconds / 60:.1f} | {peak:.0f} |" for name, seconds, peak in rows}
    table = [line for line in lines if line.startswith("| `")]
    kept = {line.split(" | ")[0][2:]: line for line in table}
    kept.update(fresh)
    first = lines.index(table[0])
    ordered = [kept[name] for name in kept if name.startswith("`labkit run")] + sorted(
        line for name, line in kept.items() if not name.startswith("`labkit run")
    )
    notes = [line for line in lines[first + len(table) :] if line.strip()]
    notes.append(f"Re-measured with `--update` on {when}: {', '.join(fresh)}.")
    path.write_text("\n".join([*lines[:first], *ordered, "", *notes, ""]))
    print(f"updated {path}")


if __name__ == "__main__":
    main()
