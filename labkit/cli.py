"""The `labkit` command.

    labkit run  [--task sums|countdown|countdown4|multiply] [--profile quick|default|gpu] [--out runs/NAME] [--seed N] [--force]
                [--teacher NAME] [--student NAME] [--report-to none|trackio [--project P] [--run-name N] [--trackio-server-url URL]]
    labkit eval MODEL [--task NAME] [--data D] [--problems N] [--k K]
    labkit data [--task NAME|all] [--out data] [--check]
    labkit info
    labkit demo [--run runs/NAME | --teacher M --student M [--task gsm8k] [--data D]] [--host 127.0.0.1] [--port N]
                [--share] [--root-path PATH] [--screenshot PNG]
    labkit links [--check]
    labkit export MODEL --to DIR [--int8] [--check N] [--task NAME] [--web]
    labkit class serve [--project P] [--host 127.0.0.1] [--port N]      (a room's trackio server and its board)
    labkit class board [--project P] [--screenshot PNG]                 (the board's tables, printed once)

Mistakes the user can fix (an unknown profile, a folder that is not a model)
print one line starting with `labkit: error:` and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings

from .runtime import LabkitError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labkit", description="A teaching lab for group rewards, GRPO and distillation.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="run the lab's pipeline headless and print the summary table")
    run.add_argument("--task", default=None, help="sums | countdown | countdown4 | multiply | module:Class (default: sums)")
    run.add_argument("--profile", default=None, help="quick | default | gpu (default: $LABKIT_PROFILE or 'default')")
    run.add_argument("--out", default=None, help="run folder (default: runs/PROFILE, runs/TASK-PROFILE for other tasks)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--device", default=None, help="cpu | cuda | mps (default: the best available)")
    run.add_argument("--force", action="store_true", help="discard finished stages in the folder and start over")
    run.add_argument("--teacher", default=None, help="teacher model name (default: the profile's)")
    run.add_argument("--student", default=None, help="student model name (default: the profile's)")
    run.add_argument("--report-to", default="none", help="none | trackio: also log every stage and the table (TRL's name)")
    run.add_argument("--project", default="labkit", help="the tracker's project (TRL's name; a class's: its join line's)")
    run.add_argument("--run-name", default=None, help="this run's name in the tracker (default: USER-seedN)")
    run.add_argument(
        "--trackio-server-url", default=None, help="a class's trackio server, with its write_token (default: $TRACKIO_SERVER_URL)"
    )

    evaluation = commands.add_parser("eval", help="evaluate a model (name, folder or hub id) on the test split")
    evaluation.add_argument("model")
    evaluation.add_argument(
        "--task",
        default=None,
        help="sums | countdown | countdown4 | multiply | gsm8k | module:Class (default: gsm8k for a chat model, else sums)",
    )
    evaluation.add_argument("--data", default=None, help="with --task gsm8k: openai/gsm8k (default), sample, or a local copy")
    evaluation.add_argument("--problems", type=int, default=200)
    evaluation.add_argument("--k", type=int, default=8, help="samples per problem for pass@k and maj@k")
    evaluation.add_argument("--seed", type=int, default=0)

    data = commands.add_parser("data", help="write the tasks' splits to OUT/TASK/ (byte-identical to data/)")
    data.add_argument("--task", default="all", help="a task name, or all (default)")
    data.add_argument("--out", default="data")
    data.add_argument("--check", action="store_true", help="only check that the files in --out match the generator")

    commands.add_parser("info", help="versions, device and memory: is this environment ready for the lab?")

    demo = commands.add_parser("demo", help="serve the Gradio app: a run's teacher and student side by side")
    demo.add_argument("--run", default=None, help="a finished run folder (default: runs/default, else runs/quick)")
    demo.add_argument("--teacher", default=None, help="instead of a run: a model folder or hub id (with --student)")
    demo.add_argument("--student", default=None, help="instead of a run: a model folder or hub id (with --teacher)")
    demo.add_argument(
        "--task", default=None, help="with --teacher/--student: the task (default: gsm8k for chat models, else sums)"
    )
    demo.add_argument("--data", default=None, help="with --task gsm8k: openai/gsm8k (default), sample, or a local copy")
    demo.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0 serves the whole network)")
    demo.add_argument("--port", type=int, default=None, help="port (default: 7860 or the next free one)")
    demo.add_argument("--share", action="store_true", help="also open a temporary public gradio.live link")
    demo.add_argument(
        "--root-path",
        default=None,
        help="the path a reverse proxy serves the app under (on a JupyterHub/Binder: found by itself)",
    )
    demo.add_argument(
        "--screenshot", default=None, help="instead of serving: answer one problem in headless Chromium, save a PNG here"
    )
    links = commands.add_parser(
        "links", help="point every notebook's Binder/Colab badge and install cell at pyproject's Repository"
    )
    links.add_argument("--check", action="store_true", help="only list the links that disagree; exit 1 if any")

    export = commands.add_parser("export", help="write a saved model as ONNX, with its tokenizer, for ONNX Runtime")
    export.add_argument("model", help="a saved model folder (runs/default/student_sequence_kd) or a labkit model name")
    export.add_argument("--to", required=True, help="the folder to write (model.onnx, tokenizer and configs)")
    export.add_argument("--int8", action="store_true", help="also model.int8.onnx, ONNX Runtime's dynamic int8 copy")
    export.add_argument(
        "--check", type=int, default=100, metavar="N", help="compare greedy answers with PyTorch's on N test problems (0: skip)"
    )
    export.add_argument("--task", default=None, help="the task whose test problems --check uses (default: sums)")
    export.add_argument(
        "--web", action="store_true", help="also a web page that answers in the browser, no server (needs `npm ci`)"
    )
    room = commands.add_parser("class", help="run a room as one experiment: a trackio server and the room's board")
    room.add_argument("action", choices=("serve", "board"), help="serve: the server and board; board: print the board once")
    room.add_argument("--project", default="labkit-room", help="the tracker project the room logs to")
    room.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: the room's network)")
    room.add_argument("--port", type=int, default=None, help="port (default: a free one)")
    room.add_argument("--screenshot", default=None, help="with board: the board's page in headless Chromium, saved as this PNG")
    return parser


def environment_report() -> dict:
    """What notebook 00 and `labkit info` show: versions, device, memory."""
    import platform

    import psutil
    import torch
    import transformers
    import trl

    from . import __version__
    from .runtime import describe_device, pick_device

    return {
        "python": platform.python_version(),
        "labkit": __version__,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "trl": trl.__version__,
        "device": describe_device(pick_device()),
        "cpu cores": psutil.cpu_count(logical=True),
        "memory GB": round(psutil.virtual_memory().total / 1e9, 1),
        "available GB": round(psutil.virtual_memory().available / 1e9, 1),
    }


def _run(args: argparse.Namespace) -> None:
    import dataclasses

    from .run.pipeline import run_pipeline
    from .run.profiles import check_sizes, get_profile

    profile = get_profile(args.profile)
    if args.teacher or args.student:
        profile = dataclasses.replace(profile, teacher=args.teacher or profile.teacher, student=args.student or profile.student)
        check_sizes(profile.teacher, profile.student)
    tracking = None
    if args.report_to == "none" and (args.run_name or args.trackio_server_url or args.project != "labkit"):
        raise LabkitError("--project, --run-name and --trackio-server-url go with --report-to trackio")
    if args.report_to != "none":
        from .run.track import TrackerSettings

        tracking = TrackerSettings(args.report_to, args.project, args.run_name, args.trackio_server_url)
    run_pipeline(profile, args.out, seed=args.seed, force=args.force, device=args.device, task=args.task, tracking=tracking)


def _eval(args: argparse.Namespace) -> None:
    from .evaluate import evaluate
    from .models import load_model
    from .runtime import pick_device
    from .tasks import held_out_records, task_for

    if args.problems < 1 or args.k < 0:
        raise LabkitError("--problems must be at least 1 and --k at least 0")
    model, tokenizer = load_model(args.model, device=pick_device(verbose=True))
    task = task_for(tokenizer, args.task)  # a chat model: GSM8K, as `labkit demo` chooses
    records = held_out_records(task, args.data)[: args.problems]
    metrics = evaluate(model, tokenizer, records, k=args.k, seed=args.seed, task=task, max_new_tokens=task.max_completion_length)
    for key, value in metrics.items():
        print(f"{key:>24}: {value:.4g}" if isinstance(value, float) else f"{key:>24}: {value}")


def _data(args: argparse.Namespace) -> None:
    import filecmp
    import tempfile
    from pathlib import Path

    from .tasks import TASKS, get_task, write_splits

    tasks = [get_task(name) for name in TASKS] if args.task == "all" else [get_task(args.task)]
    for task in tasks:
        if not args.check:
            for path in write_splits(Path(args.out) / task.name, task=task):
                print(f"wrote {path}")
            continue
        with tempfile.TemporaryDirectory() as fresh:
            for path in write_splits(fresh, task=task):
                shipped = Path(args.out) / task.name / path.name
                if not shipped.exists() or not filecmp.cmp(path, shipped, shallow=False):
                    raise LabkitError(
                        f"{shipped} differs from the generator; run `labkit data --task {args.task} --out {args.out}` to rewrite it"
                    )
                print(f"ok {shipped}")


def _info(args: argparse.Namespace) -> None:
    for key, value in environment_report().items():
        print(f"{key:>14}: {value}")


def _demo(args: argparse.Namespace) -> None:
    from pathlib import Path

    from .app.demo import build_app, check_port, launch, load_pair, load_run, run_task
    from .run.pipeline import default_runs_dir

    check_port(args.port, args.host)  # before the models load: a bad port is a one-line error at once
    if (args.teacher is None) != (args.student is None):
        raise LabkitError("pass both --teacher and --student (model folders or hub ids), or neither to serve a run")
    if args.teacher is not None:  # any two models, each with its own tokenizer (notebook 06's pair)
        if args.run is not None:
            raise LabkitError("pass --run, or --teacher and --student, not both")
        app = build_app(**load_pair(args.teacher, args.student, args.task, args.data))
    else:
        if args.task is not None or args.data is not None:
            raise LabkitError("--task and --data go with --teacher and --student; a run serves the task it was made on")
        run_dir = Path(args.run) if args.run else default_runs_dir() / "default"
        if args.run is None and not run_dir.exists() and (default_runs_dir() / "quick").exists():
            run_dir = default_runs_dir() / "quick"
            print(f"labkit demo: no default run yet, serving the quick profile's models from {run_dir}")
        teacher, student, tokenizer, (teacher_name, student_name) = load_run(run_dir)
        task = run_task(run_dir)
        app = build_app(teacher, student, tokenizer, task=task, teacher_name=teacher_name, student_name=student_name)
    if args.screenshot:
        from .app.screenshot import take_screenshot

        launch(app, host=args.host, port=args.port, prevent_thread_lock=True, quiet=True)
        try:
            print(f"labkit demo: screenshot saved to {take_screenshot(app.local_url, args.screenshot)}")
        finally:
            app.close(verbose=False)
        return
    extra = {"root_path": args.root_path} if args.root_path else {}
    launch(app, host=args.host, port=args.port, share=args.share, **extra)


def _links(args: argparse.Namespace) -> None:
    from .course.links import repository, sync

    owner, name = repository()
    problems = sync(check=args.check)
    for line in problems:
        print(("disagrees: " if args.check else "rewrote: ") + line)
    if args.check and problems:
        raise SystemExit(1)
    print(f"labkit links: every notebook points at {owner}/{name}" + (" (rewritten)" if problems else ""))


def _export(args: argparse.Namespace) -> None:
    from .edge.export import agreement, export_onnx
    from .models import load_model
    from .tasks import get_task, read_records

    model, tokenizer = load_model(args.model)
    out = export_onnx(model, args.to, tokenizer=tokenizer, int8=args.int8)
    sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e3:,.0f} KB" for p in sorted(out.glob("*.onnx")))
    print(f"labkit export: {args.model} -> {out} ({sizes})")
    if args.web:
        from .edge.web import write_page

        write_page(out, task=args.task)
        print(f"labkit export: the web page is in {out}; serve it with `python -m http.server -d {out}` and open it")
    if args.check > 0:
        task = get_task(args.task)
        prompts = [r["prompt"] for r in read_records("test", task)[: args.check]]
        for int8 in (False, True) if args.int8 else (False,):
            found = agreement(out, model, tokenizer, prompts, task.max_completion_length, int8=int8)
            print(
                f"labkit export: {'int8' if int8 else 'fp32'} ONNX Runtime's greedy answers equal PyTorch's on "
                f"{found['same']} of {found['problems']} {task.name} test problems"
            )


def _class(args: argparse.Namespace) -> None:
    if args.action == "board" and args.screenshot:
        from .app.classboard import serve_class
        from .app.screenshot import headless_chromium

        server = serve_class(args.project)  # on loopback, for this picture only
        try:
            with headless_chromium(width=1000, height=1500) as driver:
                driver.get(server.board_url)
                driver.save_screenshot(args.screenshot)
        finally:
            server.close()
        print(f"labkit class: the board of {args.project} saved to {args.screenshot}")
        return
    if args.action == "board":
        import re

        from .run.room import read_room, room_readings, room_summary

        learners, others = read_room(args.project)
        if not learners:
            raise LabkitError(f"no labkit runs in the tracker project {args.project!r} (runs log there with --report-to trackio)")
        statuses = ("finished", "running", "quiet", "stopped", "partial", "refused")
        counts = {s: sum(learner.status == s for learner in learners) for s in statuses}
        shown = ", ".join(f"{n} {s}" for s, n in counts.items() if n or s in ("finished", "running"))
        print(f"labkit class board: project {args.project}: {shown}")
        print(f"{'row':<24}{'runs':>6}{'mean':>8}{'sd':>7}{'range':>16}")
        for row, n, mean, sd, low, high in room_summary(learners):
            print(f"{row:<24}{n:>6}{mean:>8.1%}{100 * sd:>7.1f}{f'{low:.0%} to {high:.0%}':>16}")
        for line in room_readings(learners):
            print(line)
        for learner in learners:
            if learner.status != "finished":
                why = f": {learner.why}" if learner.why else ""
                # Names and reasons are a learner's text: no control characters reach the terminal.
                print(re.sub(r"[\x00-\x1f\x7f]", "?", f"  {learner.name}: {learner.status} (last stage {learner.stage}){why}"))
        return
    import time

    from .app.classboard import serve_class
    from .app.serve import check_port

    check_port(args.port, args.host)
    server = serve_class(args.project, args.host, args.port)
    print(f"labkit class: project {args.project}, stored in trackio's folder ($TRACKIO_DIR, else ~/.cache/huggingface/trackio)")
    print(f"  the board (looking needs no token):   {server.board_url}")
    print(f"  trackio's dashboard:                  {server.dashboard_url}")
    print("  the join line, for the room only (it carries the write token):")
    print(f"    {server.join_line()}")
    if args.host == "127.0.0.1":
        print("  (served on this machine only; --host 0.0.0.0 serves the room's network)")
    print("Ctrl-C stops the server; the runs stay stored.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("labkit class: stopped; the runs stay in trackio's folder")
    finally:
        server.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        commands = {
            "run": _run,
            "eval": _eval,
            "data": _data,
            "info": _info,
            "demo": _demo,
            "links": _links,
            "export": _export,
            "class": _class,
        }
        commands[args.command](args)
    except LabkitError as error:
        print(f"labkit: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("labkit: interrupted; finished stages are kept, run the same command to go on", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
