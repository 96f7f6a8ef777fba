"""A run tracked where TRL users track theirs: `report_to="trackio"` logs every stage with TRL's names.

TRL's trainers log through transformers' `TrackioCallback`: each key of a log gets `train/` (`eval_x` becomes
`eval/x`), plus `train/global_step`, in the project `args.project` under the run `args.run_name`. labkit's
loops already name their metrics as TRL does (`reward`, `loss`, `completions/mean_length`, `eval/...`), so
the same rewrite puts a labkit GRPO stage and a `GRPOTrainer` run on the same axes of the same dashboard.

One labkit run is a group (its `run_name`) of tracker runs in the project:

    NAME/warmup_teacher, NAME/grpo_teacher, ...   one per stage this process runs: labkit/stage_started as it
                                                  begins, then its steps under TRL's names (an evaluation
                                                  stage's results under test/, as transformers' predict)
    NAME                                          the run itself: at the end, its table as
                                                  table/<row>/accuracy (and length, scratchpad share),
                                                  labkit/finished = 1; a run that raised logs labkit/stopped = 1

Nothing is logged unless asked: with `report_to="none"` (the default) trackio is never imported and nothing
but the run folder is written. With `server_url` (or $TRACKIO_SERVER_URL) the logs go to a self-hosted trackio
server, a class's board (`labkit class serve`); without it, to the local trackio folder ($TRACKIO_DIR).
"""

from __future__ import annotations

import contextlib
import getpass
import io
import math
import os
import re
from dataclasses import dataclass

from ..runtime import LabkitError

REPORT_TO = ("none", "trackio")
TABLE_METRICS = ("accuracy", "mean_length", "scratchpad_share")  # what a row of the board can read
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
_PROJECT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")  # trackio drops '.' and ' ' from a project's file name


@dataclass(frozen=True)
class TrackerSettings:
    """Where a run is tracked. The names are TRL's (`TrainingArguments.report_to`, `project`, `run_name`);
    `server_url` is trackio's (a self-hosted server's URL with its `write_token`)."""

    report_to: str = "none"
    project: str = "labkit"
    run_name: str | None = None  # default: "<user>-seed<N>"
    server_url: str | None = None  # default: $TRACKIO_SERVER_URL, else the local trackio folder

    def __post_init__(self) -> None:
        if self.report_to not in REPORT_TO:
            raise LabkitError(f"report_to={self.report_to!r} is not one labkit can log to; choose one of {', '.join(REPORT_TO)}")
        if not _PROJECT.match(self.project or ""):
            raise LabkitError(f"project={self.project!r}: use 1-64 letters, digits, '_' or '-', starting with a letter or digit")
        if self.run_name is not None and not _NAME.match(self.run_name):
            raise LabkitError(
                f"run_name={self.run_name!r}: use 1-64 letters, digits, spaces, '.', '_' or '-', starting with a letter or digit"
            )
        if self.server_url is not None and not self.server_url.startswith(("http://", "https://")):
            raise LabkitError(f"server_url={self.server_url!r} is not a URL; paste the join line's http://... address whole")

    def name_for(self, seed: int) -> str:
        if self.run_name:
            return self.run_name
        user = re.sub(r"[^A-Za-z0-9._-]", "", getpass.getuser()) or "learner"
        return f"{user}-seed{seed}"


def trl_names(metrics: dict, split: str = "train") -> tuple[dict[str, float], int | None]:
    """(the numbers of one labkit log, renamed as transformers' TrackioCallback renames TRL's; its step).

    `step` becomes `train/global_step`; `eval/x` stays; any other key k becomes `train/k` (`test/k` with
    split="test": an evaluation on the test split, as transformers names predict's metrics); texts (the
    sampled completions) and non-finite numbers are left out, as a tracker's line plot cannot draw them."""
    named: dict[str, float] = {}
    step = metrics.get("step")
    for key, value in metrics.items():
        if key in ("stage", "time") or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            continue
        if key == "step":
            named["train/global_step"] = value
        elif key.startswith(("train/", "eval/", "test/")):
            named[key] = value
        else:
            named[f"{split}/{key}"] = value
    return named, (int(step) if isinstance(step, (int, float)) and not isinstance(step, bool) else None)


def table_metrics(rows: dict[str, dict]) -> dict[str, float]:
    """{row label: model_row measurements} -> {"table/<row>/accuracy": ..., ...}: the numbers a board reads."""
    out = {}
    for label, measured in rows.items():
        for name in TABLE_METRICS:
            value = measured.get(name)
            if isinstance(value, (int, float)) and math.isfinite(value):
                out[f"table/{label}/{name}"] = float(value)
    return out


class Tracker:
    """Sends a labkit run's logs to trackio: one tracker run per stage, then the run's own with its table.

    trackio keeps one open run per process, so a stage's run is finished before the next one opens."""

    def __init__(self, settings: TrackerSettings, seed: int, config: dict):
        try:
            import trackio
        except ImportError:
            raise LabkitError("report_to='trackio' needs trackio: pip install -e '.[track]' in the labkit checkout") from None
        self._trackio = trackio
        self.settings = settings
        self.name = settings.name_for(seed)
        self.config = {**config, "seed": seed}
        self.server_url = settings.server_url or os.environ.get("TRACKIO_SERVER_URL") or None
        self.stage: str | None = None
        self.last_stage: str | None = None

    def _open(self, name: str, config: dict) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # trackio announces each run; labkit's output stays its own
            self._trackio.init(
                project=self.settings.project,
                name=name,
                group=self.name,
                server_url=self.server_url,
                config=config,
                resume="allow",
                embed=False,
                auto_log_cpu=False,
                auto_log_gpu=False,
            )

    def _close(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            self._trackio.finish()
        self.stage = None

    def begin(self, stage: str) -> None:
        """Open `stage`'s tracker run and say it started (a heartbeat: a stage may be quiet for minutes)."""
        if self.stage is not None:
            self._close()
        self._open(f"{self.name}/{stage}", {**self.config, "stage": stage})
        self.stage = self.last_stage = stage
        self._trackio.log({"labkit/stage_started": 1.0})

    def log(self, stage: str, metrics: dict) -> None:
        """One log line of `stage`, under TRL's names (an evaluation stage's under `test/`), in its own tracker run."""
        named, step = trl_names(metrics, "test" if stage.startswith("eval_") else "train")
        if not named:
            return
        if stage != self.stage:
            self.begin(stage)
        self._trackio.log(named, step=step)

    def end(self, rows: dict[str, dict] | None, eval_problems: int) -> None:
        """The run's own tracker run: its table and `labkit/finished`, or `labkit/stopped` (rows None)."""
        if self.stage is not None:
            self._close()
        self._open(self.name, {**self.config, "eval_problems": eval_problems, "last_stage": self.last_stage})
        if rows is None:
            self._trackio.log({"labkit/stopped": 1.0})
        else:
            self._trackio.log({**table_metrics(rows), "labkit/eval_problems": float(eval_problems), "labkit/finished": 1.0})
        self._close()
