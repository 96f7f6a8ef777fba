"""The room as one experiment: every learner's run in one tracker project, read back as the lab's table over seeds.

Each learner's `labkit run --report-to trackio` reaches the project as a group (`run.track`): a tracker run per
stage while it trains, then the run's own, with its table and `labkit/finished`. Read back, the room gives
per row of the table the accuracies of every finished run (one seed each: a room of 30 is a 30-seed
experiment), and the lab's readings over them (`readings.versus_seeds`), with who is still running and who
stopped.

Nothing read here is trusted: a value that is not a finite number in [0, 1] makes that run's table refused
(the run is listed, its numbers are not used), and names are returned as written; the board escapes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ..readings import spread, versus_seeds
from ..runtime import LabkitError
from .report import summary_rows
from .students import STUDENT_RECIPES
from .track import TABLE_METRICS

LAB_ROWS = {label for label, _, _ in summary_rows()}  # every row `labkit run` can print, every student included
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
    status: str  # "finished" | "running" | "stopped" | "refused"
    stage: str | None = None  # the last stage heard from
    step: int | None = None  # its last step
    seconds_since: float | None = None  # since the last log of any of its tracker runs
    seed: int | None = None
    problems: int | None = None  # test problems each accuracy was measured on
    table: dict[str, float] = field(default_factory=dict)  # row label -> greedy accuracy (finished runs only)
    why: str = ""  # why its table was refused


def _storage():
    try:
        from trackio.sqlite_storage import SQLiteStorage
    except ImportError:
        raise LabkitError('reading a class needs trackio: pip install "labkit[track]"') from None
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
        return {}, "its table has no accuracies"
    return table, ""


def read_room(project: str, *, stale_after: float = STALE_AFTER, now: datetime | None = None) -> tuple[list[Learner], int]:
    """(the project's labkit runs, how many other tracker runs it holds): each with its status and table.

    A labkit run is a group whose tracker runs are NAME and NAME/<stage>; anything else in the project (a
    `GRPOTrainer` run beside them, a stray script) is counted, not read."""
    storage = _storage()
    now = now or datetime.now(UTC)
    if project not in storage.get_projects():
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
        name, config = record["name"], configs.get(record["id"]) or {}
        group = config.get("_Group")
        if not isinstance(group, str) or not (name == group or name.startswith(group + "/")):
            others += 1
            continue
        entry = groups.setdefault(group, {"stages": [], "own": None, "config": {}})
        if name == group:
            entry["own"], entry["config"] = record, config
        else:
            entry["stages"].append((name.removeprefix(group + "/"), heard.get(name) or {}))
    learners = []
    for group, entry in groups.items():
        last_heard = [(h.get("last") or "", stage, h.get("step")) for stage, h in entry["stages"]]
        own_heard = heard.get(group) or {}
        if own_heard:
            last_heard.append((own_heard.get("last") or "", None, None))
        when, stage, step = max(last_heard, key=lambda item: item[0]) if last_heard else ("", None, None)
        stages_seen = [s for _, s, _ in sorted(last_heard, key=lambda item: item[0]) if s is not None]
        config = entry["config"]
        learner = Learner(
            name=group,
            status="running",
            stage=stage or (stages_seen[-1] if stages_seen else config.get("last_stage")),
            step=step if isinstance(step, int) else None,
            seconds_since=_age(when, now),
            seed=config.get("seed") if isinstance(config.get("seed"), int) else None,
            problems=config.get("eval_problems") if isinstance(config.get("eval_problems"), int) else None,
        )
        if entry["own"] is not None:
            logs = storage.get_logs(project, group)
            last = logs[-1] if logs else {}
            if last.get("labkit/finished") == 1:
                table, why = _table_of(last)
                learner.status, learner.table, learner.why = ("finished", table, "") if table else ("refused", {}, why)
            elif last.get("labkit/stopped") == 1:
                learner.status = "stopped"
        if learner.status == "running" and (learner.seconds_since is None or learner.seconds_since > stale_after):
            learner.status = "stopped"
        learners.append(learner)
    return sorted(learners, key=lambda learner: learner.name), others


def room_rows(learners: list[Learner]) -> dict[str, list[float]]:
    """{row label: the finished runs' accuracies}, rows in the order the runs' tables list them."""
    rows: dict[str, list[float]] = {}
    for learner in learners:
        if learner.status == "finished":
            for row, accuracy in learner.table.items():
                rows.setdefault(row, []).append(accuracy)
    return rows


def room_problems(learners: list[Learner]) -> int | None:
    """The test problems behind each accuracy, if every finished run agrees on it (else None: not one experiment)."""
    counts = {learner.problems for learner in learners if learner.status == "finished"}
    return counts.pop() if len(counts) == 1 else None


def room_summary(learners: list[Learner]) -> list[tuple[str, int, float, float, float, float]]:
    """(row, runs, mean, sd, lowest, highest) per row of the room's table; sd is NaN for a single run."""
    out = []
    for row, values in room_rows(learners).items():
        mean, sd = spread(values) if len(values) > 1 else (values[0], float("nan"))
        out.append((row, len(values), mean, sd, min(values), max(values)))
    return out


def room_readings(learners: list[Learner]) -> list[str]:
    """The lab's comparisons over the room's seeds, each read with `versus_seeds` (or what is missing for it)."""
    rows, problems = room_rows(learners), room_problems(learners)
    if problems is None and rows:
        return ["the finished runs were evaluated on different numbers of problems (different profiles): not one experiment"]
    lines = []
    for a, b in ROOM_READINGS:
        got_a, got_b = rows.get(a, []), rows.get(b, [])
        if len(got_a) >= 2 and len(got_b) >= 2:
            lines.append(versus_seeds(a, got_a, b, got_b, problems))
        elif got_a or got_b:
            lines.append(f"{a} vs {b}: {len(got_a)} and {len(got_b)} finished runs; needs at least 2 of each to read")
    return lines
