"""Runs tracked where TRL users track theirs, and a room's runs on one board (`run.track`, `run.room`, `app.classboard`).

Every tracker project here lives in the session's own $TRACKIO_DIR (conftest), each test with a project of its own.
"""

import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import urllib.request
from pathlib import Path

import pytest

from labkit.cli import main
from labkit.run.room import read_room, room_rows
from labkit.run.track import TrackerSettings, trl_names
from labkit.runtime import LabkitError

ROOT = Path(__file__).resolve().parent.parent
trackio = pytest.importorskip("trackio")
from trackio.sqlite_storage import SQLiteStorage  # noqa: E402


def test_a_labkit_log_is_renamed_as_transformers_renames_trls():
    named, step = trl_names(
        {"step": 3, "reward": 0.5, "completions/mean_length": 7.0, "eval/accuracy": 0.25, "sample": "text", "kl": float("nan")}
    )
    assert step == 3
    assert named == {"train/global_step": 3, "train/reward": 0.5, "train/completions/mean_length": 7.0, "eval/accuracy": 0.25}


@pytest.mark.parametrize(
    "settings, says",
    [
        (dict(report_to="wandb"), "choose one of none, trackio"),
        (dict(report_to="trackio", project="<b>room</b>"), "project='<b>room</b>': use 1-64 letters"),
        (dict(report_to="trackio", project="week.3"), "project='week.3': use 1-64 letters, digits, '_' or '-'"),
        (dict(report_to="trackio", run_name="a/b"), "run_name='a/b'"),
        (dict(report_to="trackio", server_url="127.0.0.1:7860"), "paste the join line's http://... address whole"),
    ],
)
def test_settings_that_cannot_work_fail_in_one_line(settings, says):
    with pytest.raises(LabkitError, match=re.escape(says)):
        TrackerSettings(**settings)


def test_the_cli_refuses_tracker_flags_without_report_to(capsys):
    assert main(["run", "--profile", "quick", "--run-name", "ada"]) == 2
    assert "go with --report-to trackio" in capsys.readouterr().err


def test_without_report_to_trackio_is_never_imported_and_nothing_reaches_the_network():
    """In a fresh interpreter (this one has imported trackio): a run without tracking, every socket refused."""
    code = textwrap.dedent(
        """
        import os, socket, sys
        sys.path.insert(0, "tests")
        def refuse(*args):
            raise AssertionError("the default run touched the network")
        socket.socket.connect = refuse
        from test_pipeline import TINY
        from labkit.run.pipeline import run_pipeline
        before = sorted(os.listdir(os.environ["TRACKIO_DIR"]))
        run_pipeline(TINY, sys.argv[1], until="eval_student_base", verbose=False)
        assert "trackio" not in sys.modules, "trackio was imported"
        assert sorted(os.listdir(os.environ["TRACKIO_DIR"])) == before, "the tracker's folder changed"
        """
    )
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-c", code, out], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_labkit_run_quick_with_report_to_trackio_logs_every_stage_it_ran_and_its_table(quick_run):
    """conftest's quick run is `labkit run --profile quick --report-to trackio --project quick-run --run-name e2e`."""
    result, out = quick_run
    assert result.returncode == 0, result.stderr[-2000:]
    assert "logged to trackio: project quick-run, run e2e" in result.stdout
    ran = set(re.findall(r"^  (\w+): done in", result.stdout, re.M))
    if not ran:
        pytest.skip("the quick run's folder was reused ($LABKIT_TEST_RUNS): no stage ran, so none was logged")
    logged = {json.loads(line)["stage"] for line in (out / "metrics.jsonl").read_text().splitlines()}
    assert {f"e2e/{stage}" for stage in ran & logged} <= set(SQLiteStorage.get_runs("quick-run"))
    assert {"warmup_teacher", "grpo_teacher", "student_sequence_kd", "eval_teacher_grpo"} <= ran & logged
    evaluated = SQLiteStorage.get_logs("quick-run", "e2e/eval_teacher_grpo")
    assert (
        evaluated[0]["labkit/stage_started"] == 1 and "test/accuracy" in evaluated[-1]
    )  # the test split, as transformers names it
    own = SQLiteStorage.get_logs("quick-run", "e2e")[-1]
    assert own["labkit/finished"] == 1
    from labkit.run.profiles import get_profile
    from labkit.run.report import summary_rows

    compared = 0
    for label, _, evaluated in summary_rows(get_profile("quick").students):  # every row the run evaluated, as evaluated
        path = out / "stages" / f"{evaluated}.json"
        if path.exists():
            assert own[f"table/{label}/accuracy"] == json.loads(path.read_text())["accuracy"]
            compared += 1
    assert compared >= 4


@pytest.mark.slow
def test_grpotrainer_with_report_to_trackio_sits_beside_labkits_grpo_under_the_same_names(quick_run):
    from labkit.models import build_model
    from labkit.run.profiles import get_profile
    from labkit.tasks import get_task, read_records
    from labkit.trainers.grpo import grpo_trainer

    if "e2e/grpo_teacher" not in SQLiteStorage.get_runs("quick-run"):
        pytest.skip("the quick run's folder was reused ($LABKIT_TEST_RUNS): its GRPO stage did not run, so it logged nothing")
    model, tokenizer = build_model("student", seed=0)
    grpo_trainer(
        model, tokenizer, read_records("train", get_task("sums"))[:8], config=get_profile("quick").grpo,
        report_to=["trackio"], project="quick-run", run_name="trl-grpo", max_steps=2,
    ).train()  # fmt: skip
    labkit_keys = set().union(*(row.keys() for row in SQLiteStorage.get_logs("quick-run", "e2e/grpo_teacher")))
    trl_keys = set().union(*(row.keys() for row in SQLiteStorage.get_logs("quick-run", "trl-grpo")))
    shared = {
        "train/reward", "train/reward_std", "train/loss", "train/completions/mean_length", "train/global_step",
        "train/rewards/correctness_reward/mean", "train/frac_reward_zero_std", "train/learning_rate", "train/num_tokens",
    }  # fmt: skip
    assert shared <= labkit_keys & trl_keys, sorted(shared - (labkit_keys & trl_keys))
    learners, others = read_room("quick-run")
    assert [learner.name for learner in learners] == ["e2e"] and others == 1  # TRL's run is counted, not read as a learner


LOG_RUNS = """
import sys
from labkit.run.track import Tracker, TrackerSettings
url, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for seed in range(first, first + count):
    tracker = Tracker(TrackerSettings("trackio", "room", f"learner-{seed:02d}", url), seed, {"profile": "tiny"})
    tracker.log("grpo_teacher", {"step": 1, "reward": 0.5, "loss": 0.1})
    rows = {
        "teacher after GRPO": {"accuracy": (seed % 10) / 10, "mean_length": 9.0},
        "student: sequence KD": {"accuracy": 0.5 + (seed % 5) / 20, "mean_length": 8.0},
        "student: GRPO only": {"accuracy": 0.3 + (seed % 3) / 20, "mean_length": 4.0},
    }
    tracker.end(rows, 20) if seed != first else tracker.log("student_sequence_kd", {"step": 2, "loss": 0.3})
"""

HOSTILE = """
import sys, trackio
name = "<img src=x onerror=alert(1)>"
trackio.init(project="room", name=name, group=name, server_url=sys.argv[1], embed=False, auto_log_cpu=False)
trackio.log({"table/teacher after GRPO/accuracy": "DROP TABLE runs", "labkit/finished": 1})
trackio.finish()
"""


@pytest.mark.slow
def test_a_room_of_30_runs_from_two_processes_and_a_hostile_one_reaches_the_board_whole(tmp_path):
    from labkit.app.classboard import MAX_REQUEST_BYTES, serve_class

    server = serve_class("room")
    try:
        env = {**os.environ, "TRACKIO_DIR": str(tmp_path / "client")}  # a learner's machine: its own folder

        def start(code, *args):
            return subprocess.Popen(
                [sys.executable, "-c", code, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )

        # 32 learners in two processes at once: 30 finish, one in each process stops half-way (no table).
        learners = [start(LOG_RUNS, server.join_url, "0", "16"), start(LOG_RUNS, server.join_url, "16", "16")]
        hostile = start(HOSTILE, server.join_url)
        for process in [*learners, hostile]:
            out, err = process.communicate(timeout=300)
            assert process.returncode == 0, err[-2000:]
        # A runaway log: refused on its declared length, before trackio (or the server) reads a byte of it.
        host, port = server.join_url.split("//")[1].split("/")[0].split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        connection.putrequest("POST", "/api/bulk_log")
        connection.putheader("x-trackio-write-token", server.join_url.split("write_token=")[1])
        connection.putheader("content-length", str(MAX_REQUEST_BYTES + 1))
        connection.endheaders()
        assert connection.getresponse().status == 413
        connection.close()
        # Looking needs no token.
        board = json.loads(urllib.request.urlopen(server.board_url.replace("/room?", "/room.json?"), timeout=30).read())
        page = urllib.request.urlopen(server.board_url, timeout=30).read().decode()
        # trackio's own dashboard, behind the same server, still serves its files whole.
        base = server.join_url.split("?")[0]
        logo = urllib.request.urlopen(base + "static/trackio/trackio_logo_light.png", timeout=30).read()
        assert logo.startswith(b"\x89PNG") and len(logo) > 1000
    finally:
        server.close()

    by_name = {learner["name"]: learner for learner in board["learners"]}
    finished = {name: learner for name, learner in by_name.items() if learner["status"] == "finished"}
    assert len(finished) == 30
    for seed in [s for s in range(32) if s not in (0, 16)]:  # every finished run's own table, whole, on the board
        assert finished[f"learner-{seed:02d}"]["table"] == {
            "teacher after GRPO": (seed % 10) / 10,
            "student: sequence KD": 0.5 + (seed % 5) / 20,
            "student: GRPO only": 0.3 + (seed % 3) / 20,
        }
    assert by_name["learner-00"]["status"] == by_name["learner-16"]["status"] == "running"  # no table yet, heard just now
    assert by_name["learner-00"]["stage"] == "student_sequence_kd"
    hostile_row = by_name["<img src=x onerror=alert(1)>"]
    assert hostile_row["status"] == "refused" and "not a number" in hostile_row["why"]
    rows = {row["row"]: row for row in board["rows"]}
    assert rows["student: sequence KD"]["runs"] == 30
    assert "over 30 paired seeds" in board["readings"][0]  # distillation vs the GRPO-only student, run by run
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page


def test_a_silent_run_reads_as_quiet_a_stopped_one_as_stopped_and_a_restart_as_running(tmp_path):
    tracking = TrackerSettings("trackio", "quiet", "bo")
    code = textwrap.dedent(
        """
        from labkit.run.track import Tracker, TrackerSettings
        Tracker(TrackerSettings("trackio", "quiet", "bo"), 0, {}).log("grpo_teacher", {"step": 4, "reward": 0.2})
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
    (learner,), _ = read_room(tracking.project)
    assert learner.status == "running" and learner.stage == "grpo_teacher" and learner.step == 4
    (learner,), _ = read_room(tracking.project, stale_after=0.0)
    assert learner.status == "quiet"  # stopped without a word, or busy: the board cannot tell
    assert room_rows([learner]) == {}
    # Stopped with a word (Ctrl-C), then run again: running again, not stopped.
    restart = textwrap.dedent(
        """
        import time
        from labkit.run.track import Tracker, TrackerSettings
        Tracker(TrackerSettings("trackio", "quiet", "bo"), 0, {}).end(None, 20)
        time.sleep(1.1)  # trackio's timestamps: the restart is heard after the flag
        Tracker(TrackerSettings("trackio", "quiet", "bo"), 0, {}).log("warmup_teacher", {"step": 1, "loss": 2.0})
        """
    )
    stopped_only = 'from labkit.run.track import Tracker, TrackerSettings\nTracker(TrackerSettings("trackio", "quiet", "cy"), 0, {}).end(None, 20)'
    for code in (restart, stopped_only):
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
    bo, cy = read_room(tracking.project)[0]
    assert (bo.name, bo.status, bo.stage) == ("bo", "running", "warmup_teacher")
    assert (cy.name, cy.status) == ("cy", "stopped")


def test_labkit_class_board_prints_the_room_and_names_an_empty_project(capsys):
    code = 'from labkit.run.track import Tracker, TrackerSettings\nTracker(TrackerSettings("trackio", "board", "cy"), 0, {}).log("warmup_teacher", {"step": 1, "loss": 2.0})'
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=120)
    assert main(["class", "board", "--project", "board"]) == 0
    out = capsys.readouterr().out
    assert "0 finished, 1 running" in out and "cy: running (last stage warmup_teacher)" in out
    assert main(["class", "board", "--project", "nobody-here"]) == 2
    assert "no labkit runs in the tracker project 'nobody-here'" in capsys.readouterr().err


def test_a_body_without_a_length_is_counted_and_refused_past_the_limit():
    """A chunked request declares no length: the limit counts what arrives and refuses before the app sees any."""
    import asyncio

    from labkit.app.classboard import _BodyLimit

    def request(chunks):
        seen, sent = [], []

        async def app(scope, receive, send):
            while True:
                message = await receive()
                seen.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            await send({"type": "http.response.start", "status": 200, "headers": []})

        messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

        async def receive():
            return messages.pop(0)

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/api/bulk_log", "headers": []}
        asyncio.run(_BodyLimit(app, max_bytes=10)(scope, receive, send))
        return b"".join(seen), sent[0]["status"]

    assert request([b"12345", b"6789"]) == (b"123456789", 200)  # under the limit: handed on whole
    body, status = request([b"12345", b"67890", b"1"])  # 11 bytes in three chunks
    assert (body, status) == (b"", 413)
