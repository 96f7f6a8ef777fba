"""The run machinery: a run folder, stages that know what they need and write, and reuse.

A run is a folder `runs/NAME/` holding

    config.json          the task, profile and seed it was made with
    metrics.jsonl        one line per logged step or evaluation, tagged by stage
    stages/STAGE.json    the result of each finished stage, with the part of the profile it used
                         and its wall time (`stage_seconds`)

plus whatever each stage writes (checkpoints, traces). A `Stage` says

    name        what the run folder and the log call it
    run         run(folder, device) -> result dict (JSON)
    depends_on  depends_on(profile) -> the settings it uses; a change makes it stale
    needs       the earlier stages whose outputs it reads; when one of them reruns, so does it
    writes      the files and folders it makes, removed when it becomes stale

`run_stages` walks the list in order: a finished stage is reused when its
settings are unchanged and none of the stages it needs reran; otherwise its
result and what it wrote, and the results and writings of every stage made from
them, are removed first and it runs again (`metrics.jsonl` is a log and keeps
every line, tagged by stage). Adding a stage is one `Stage(...)` in a list (`run.pipeline.lab_stages`).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..runtime import LabkitError, set_seed
from ..tasks import Task, check_task, task_spec


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[Run, object], dict]
    depends_on: Callable[[object], dict] = lambda profile: {}
    needs: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()


def _write_whole(path: Path, text: str) -> None:
    """Write `text` to `path` so that a reader never sees half of it: a notebook and `labkit run` (or two
    notebooks) may open the same run folder at once. Written beside it, then renamed over it (atomic)."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    partial.write_text(text)
    os.replace(partial, path)


class Run:
    """A run folder: config, metrics log, stage results and what the stages wrote."""

    def __init__(self, out: str | Path, profile, seed: int, task: Task, tracker=None):
        self.dir = Path(out)
        self.tracker = tracker  # a `run.track.Tracker` also gets every log line, or None: the folder only
        self.profile = profile
        self.seed = seed
        self.task = check_task(task)  # resolved once, by `run_pipeline`
        config_path = self.dir / "config.json"
        if config_path.exists():
            made = json.loads(config_path.read_text())
            made_seed, made_task = made.get("seed"), made.get("task", "sums")
            if made_seed != seed:
                raise LabkitError(
                    f"{self.dir} was made with seed {made_seed}, not {seed}; pass --seed {made_seed} to go on with it, "
                    "--out for a new folder, or --force to start over"
                )
            if made_task != self.task.name:
                raise LabkitError(
                    f"{self.dir} holds a run of task {made_task!r}, not {self.task.name!r}; pass --task {made_task} "
                    "to go on with it, --out for a new folder, or --force to start over"
                )
        (self.dir / "stages").mkdir(parents=True, exist_ok=True)
        config = {"task": self.task.name, "task_spec": task_spec(self.task), "profile": dataclasses.asdict(profile), "seed": seed}
        _write_whole(config_path, json.dumps(config, indent=2))

    def stage_path(self, stage: str) -> Path:
        return self.dir / "stages" / f"{stage}.json"

    def result(self, stage: str, stage_config: dict | None = None) -> dict | None:
        """A finished stage's result, if it was made with `stage_config` (any, if None)."""
        path = self.stage_path(stage)
        if not path.exists():
            return None
        result = json.loads(path.read_text())
        if stage_config is not None and result.get("stage_config") != stage_config:
            return None
        return result

    def log(self, stage: str, metrics: dict) -> None:
        with (self.dir / "metrics.jsonl").open("a") as f:
            f.write(json.dumps({"stage": stage, "time": round(time.time(), 3), **metrics}) + "\n")
        if self.tracker is not None:
            self.tracker.log(stage, metrics)

    def finish(self, stage: str, result: dict) -> dict:
        _write_whole(self.stage_path(stage), json.dumps(result, indent=2))
        return result

    def forget(self, stage: Stage) -> None:
        """Remove a stage's result and everything it wrote."""
        self.stage_path(stage.name).unlink(missing_ok=True)
        for name in stage.writes:
            _remove(self.dir / name)


def check_stages(stages: list[Stage]) -> None:
    """Names are unique and every stage needs only stages listed before it."""
    seen: set[str] = set()
    for stage in stages:
        if stage.name in seen:
            raise LabkitError(f"two stages are called {stage.name!r}; give each a name of its own")
        missing = [need for need in stage.needs if need not in seen]
        if missing:
            raise LabkitError(f"stage {stage.name!r} needs {', '.join(missing)}, which no earlier stage makes")
        seen.add(stage.name)


def made_from(stages: list[Stage], name: str) -> list[Stage]:
    """The stages made, directly or not, from `name`'s outputs (in run order)."""
    tainted, found = {name}, []
    for stage in stages:
        if tainted & set(stage.needs):
            tainted.add(stage.name)
            found.append(stage)
    return found


def last_stage(stages: list[Stage], until: str | None) -> int:
    """Index of the stage called `until` (the last one if None); a clear error for an unknown name."""
    names = [stage.name for stage in stages]
    if until is not None and until not in names:
        raise LabkitError(f"unknown stage {until!r}; choose one of {', '.join(names)}")
    return names.index(until) if until is not None else len(stages) - 1


def run_stages(stages: list[Stage], run: Run, device, *, until: str | None = None, say=print) -> dict:
    """Run every stage not finished yet (up to and including `until`); returns {stage: result}."""
    check_stages(stages)
    last = last_stage(stages, until)
    results: dict[str, dict] = {}
    reran: set[str] = set()
    for stage in stages[: last + 1]:
        stage_config = json.loads(json.dumps(stage.depends_on(run.profile)))  # as it reads back from disk
        done = None if reran & set(stage.needs) else run.result(stage.name, stage_config)
        if done is not None:
            say(f"  {stage.name}: reusing the finished stage")
            results[stage.name] = done
            continue
        for stale in [stage, *made_from(stages, stage.name)]:  # made from the old outputs: forget them
            run.forget(stale)
        reran.add(stage.name)
        say(f"  {stage.name} ...")
        if run.tracker is not None:
            run.tracker.begin(stage.name)
        set_seed(run.seed)
        start = time.perf_counter()
        result = stage.run(run, device)
        seconds = round(time.perf_counter() - start, 1)  # the whole stage: loading, training, evaluating, saving
        results[stage.name] = run.finish(stage.name, {**result, "stage_seconds": seconds, "stage_config": stage_config})
        say(f"  {stage.name}: done in {seconds:.1f}s")
    return results


def clear_run(stages: list[Stage], out: Path) -> None:
    """Remove what a previous run left in `out` (stage results, logs, everything the stages wrote)."""
    for name in ["stages", "config.json", "metrics.jsonl", *(name for stage in stages for name in stage.writes)]:
        _remove(out / name)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)
