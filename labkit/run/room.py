"""The room as one experiment: every learner's run in one tracker project, read back as the lab's table over seeds.

Each learner's `labkit run --report-to trackio` reaches the project as a group (`run.track`): a tracker run per
stage while it trains, then the run's own, with its table and `labkit/finished`. Read back, the room gives
per row of the table the accuracies of every finished run (one seed each: a room of 30 is a 30-seed
experiment), and the lab's readings over them, run by run (`readings.versus_seeds_paired`: both rows of a
comparison come from one run), with who is still running and who stopped.

Nothing read here is trusted: a value that is not a finite number in [0, 1] makes that run's table refused
(the run is listed, its numbers are not used), and names are returned as written; the board escapes them.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..readings import spread, versus_seeds_paired
from ..runtime import LabkitError
from .report import summary_rows
from .students import STUDENT_RECIPES
from .track import TABLE_METRICS

LAB_ROWS = {label for label, _, _ in summary_rows()}  # every row `labkit run` can print, every student included
NO_ROWS = "its table has no rows"
STALE_AFTER = 600.0  # seconds without a log after which a run that did not finish is read as stopped
# The comparisons the board reads over the room's seeds (rows of run.report's table): R1's Table 6, its control, R1-Zero.
ROOM_READINGS = (
    (STUDENT_RECIPES["sequence_kd"].label, STUDENT_RECIPES["grpo"].label),
    (STUDENT_RECIPES["sequence_kd"].label, STUDENT_RECIPES["ground_truth"].label),
    ("teacher after GRPO", "teacher base"),
)


@dataclass
class Learner:
    """One labkit run in the project, as the board shows it."""

    name: str
    status: str  # "finished" | "running" | "quiet" | "stopped" | "partial" | "refused"
    stage: str | None = None  # the last stage heard from
    step: int | None = None  # its last step
    seconds_since: float | None = None  # since the last log of any of its tracker runs
    seed: int | None = None
    problems: int | None = None  # test problems each accuracy was measured on
    table: dict[str, float] = field(default_factory=dict)  # row label -> greedy accuracy (finished runs only)
    why: str = ""  # why its table was refused
    profile: str | None = None
    task: str | None = None


def _storage():
    try:
        from trackio.sqlite_storage import SQLiteStorage
    except ImportError:
        raise LabkitError("reading a class needs trackio: pip install -e '.[track]' in the labkit checkout") from None
    return SQLiteStorage


def _age(timestamp: str, now: datetime) -> float | None:
    try:
        when = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (now - when).total_seconds())


def _table_of(last: dict) -> tuple[dict[str, float], str]:
    """({row: accuracy}, "") from the final log of a run's own tracker run, or ({}, why it is refused)."""
    table = {}
    for key, value in last.items():
        if not key.startswith("table/"):
            continue
        row, _, metric = key.removeprefix("table/").rpartition("/")
        if metric not in TABLE_METRICS or row not in LAB_ROWS:
            return {}, f"{key[:60]!r} is not a row of the lab's table"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return {}, f"{key[:60]!r} is not a number"
        if metric != "mean_length" and not 0.0 <= value <= 1.0:
            return {}, f"{key[:60]!r} is {value!r}, outside [0, 1]"
        if metric == "accuracy":
            table[row] = float(value)
    if not table:
        return {}, NO_ROWS
    return table, ""


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def _count(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_room(project: str, *, stale_after: float = STALE_AFTER, now: datetime | None = None) -> tuple[list[Learner], int]:
    """(the project's labkit runs, how many other tracker runs it holds): each with its status and table.

    A labkit run is a group whose tracker runs are NAME and NAME/<stage>; anything else in the project (a
    `GRPOTrainer` run beside them, a stray script) is counted, not read. The run's own flag (finished,
    stopped) holds only if nothing of it was heard later: a learner who runs again is running again. A run
    not heard from for `stale_after` seconds is "quiet": stopped, or busy in a stage that logs nothing."""
    storage = _storage()
    now = now or datetime.now(UTC)
    if not storage.get_project_db_path(project).exists():
        return [], 0
    records = storage.get_run_records(project)
    configs = storage.get_all_run_configs(project)
    heard = {
        row["run_name"]: row
        for row in storage.query_project(
            project, "SELECT run_name, MAX(timestamp) AS last, MAX(step) AS step FROM metrics GROUP BY run_name", max_rows=100_000
        )["rows"]
    }
    groups: dict[str, dict] = {}
    others = 0
    for record in records:
        config = configs.get(record["id"])
        config = config if isinstance(config, dict) else {}
        name, group = record["name"], _text(config.get("_Group"))
        if group is None or not (name == group or name.startswith(group + "/")):
            others += 1
            continue
        entry = groups.setdefault(group, {"stages": [], "own": None, "config": {}})
        if name == group:
            entry["own"], entry["config"] = record, config
        else:
            entry["stages"].append((name.removeprefix(group + "/"), heard.get(name) or {}))
    return sorted((_learner(storage, project, group, entry, heard, stale_after, now) for group, entry in groups.items()),
                  key=lambda learner: learner.name), others  # fmt: skip


def _learner(storage, project: str, group: str, entry: dict, heard: dict, stale_after: float, now: datetime) -> Learner:
    stages = [(str(h.get("last") or ""), stage, _count(h.get("step"))) for stage, h in entry["stages"]]
    stage_time, stage, step = max(stages, key=lambda item: item[0]) if stages else ("", None, None)
    own_time = str((heard.get(group) or {}).get("last") or "")
    config = entry["config"]
    problems = _count(config.get("eval_problems"))
    learner = Learner(
        name=group,
        status="running",
        stage=stage or _text(config.get("last_stage")),
        step=step,
        seconds_since=_age(max(stage_time, own_time), now),
        seed=_count(config.get("seed")),
        problems=problems if problems and problems > 0 else None,
        profile=_text(config.get("profile")),
        task=_text(config.get("task")),
    )
    if entry["own"] is not None and own_time >= stage_time:  # its last word is the run's own flag
        logs = storage.get_logs(project, run_id=entry["own"]["id"])
        last = logs[-1] if logs else {}
        if last.get("labkit/finished") == 1:
            table, why = _table_of(last)
            learner.status, learner.table, learner.why = ("finished", table, "") if table else ("refused", {}, why)
            if not table and why == NO_ROWS:
                learner.status = "partial"  # a run stopped early on purpose (`until`): nothing to count
            elif table and learner.problems is None:
                learner.status, learner.table, learner.why = "refused", {}, "its table does not say on how many problems"
            return learner
        if last.get("labkit/stopped") == 1:
            learner.status = "stopped"
            return learner
    if learner.seconds_since is None or learner.seconds_since > stale_after:
        learner.status = "quiet"
    return learner


def the_experiment(learners: list[Learner]) -> tuple[list[Learner], list[str]]:
    """(the finished runs that make one experiment, notes on the ones left out of it).

    One experiment is one task, profile and number of test problems (the most common among the finished
    runs), and one run a seed: a seed run twice is the same sample twice, so the first by name is kept."""
    finished = [learner for learner in learners if learner.status == "finished"]
    if not finished:
        return [], []
    kinds = Counter((learner.task, learner.profile, learner.problems) for learner in finished)
    (task, profile, problems), _ = kinds.most_common(1)[0]
    kept, seeds, notes = [], set(), []
    other_kind = [
        learner.name for learner in finished if (learner.task, learner.profile, learner.problems) != (task, profile, problems)
    ]
    if other_kind:
        notes.append(
            f"{len(other_kind)} finished runs of another task, profile or problem count are left out: {', '.join(other_kind)}"
        )
    twice = []
    for learner in finished:
        if (learner.task, learner.profile, learner.problems) != (task, profile, problems):
            continue
        if learner.seed is not None and learner.seed in seeds:
            twice.append(f"{learner.name} (seed {learner.seed})")
            continue
        seeds.add(learner.seed)
        kept.append(learner)
    if twice:
        notes.append(f"a seed already counted is one sample, not two; left out: {', '.join(twice)}")
    return kept, notes


def room_rows(learners: list[Learner]) -> dict[str, list[float]]:
    """{row label: the finished runs' accuracies}, rows in the order the runs' tables list them."""
    rows: dict[str, list[float]] = {}
    for learner in learners:
        if learner.status == "finished":
            for row, accuracy in learner.table.items():
                rows.setdefault(row, []).append(accuracy)
    return rows


def room_summary(learners: list[Learner]) -> list[tuple[str, int, float, float, float, float]]:
    """(row, runs, mean, sd, lowest, highest) per row of the experiment's table; sd is NaN for a single run."""
    out = []
    for row, values in room_rows(the_experiment(learners)[0]).items():
        mean, sd = spread(values) if len(values) > 1 else (values[0], float("nan"))
        out.append((row, len(values), mean, sd, min(values), max(values)))
    return out


def room_readings(learners: list[Learner]) -> list[str]:
    """The lab's comparisons over the experiment's seeds (or what is missing for them), after the notes on
    runs left out of the experiment. Both rows of a comparison come from one learner's run, with its own
    teacher and student base, so each is read run by run (`versus_seeds_paired`): what a seed gives both
    rows cancels, and the band is the spread of the runs' differences."""
    kept, notes = the_experiment(learners)
    lines = list(notes)
    finished = [learner for learner in kept if learner.status == "finished"]
    problems = kept[0].problems if kept else 0
    for a, b in ROOM_READINGS:
        both = [learner.table for learner in finished if a in learner.table and b in learner.table]
        if len(both) >= 2:
            lines.append(versus_seeds_paired(a, [t[a] for t in both], b, [t[b] for t in both], problems))
        elif any(a in learner.table or b in learner.table for learner in finished):
            lines.append(f"{a} vs {b}: {len(both)} finished run(s) with both rows; needs at least 2 to read")
    return lines
