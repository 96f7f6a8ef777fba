"""The class board: a room's trackio server, with a page that shows the room's runs as one experiment.

    serve_class("labkit-room", host="0.0.0.0", port=7870) -> ClassServer   (.board_url, .join_url, .close())
    board_page(project)    the page: who is running or stopped, per row the room's strip plot and mean ± sd,
                           and the lab's readings over the room's seeds (`run.room`)
    board_data(project)    the same, as JSON (what a test or a notebook reads)

One server, one port: trackio's own app (its logging API, which needs the write token, and its dashboard)
with two read-only routes added, `/room` (the page, refreshing itself) and `/room.json`. A request body larger
than `MAX_REQUEST_BYTES` is refused before trackio reads it, so one learner's runaway log cannot fill the
store; every name and label is escaped in the page.
"""

from __future__ import annotations

import html
import io
import json
import math
import shlex
import socket
from urllib.parse import quote

from ..run.room import STALE_AFTER, read_room, room_readings, room_summary, the_experiment

MAX_REQUEST_BYTES = 4_000_000  # a default-profile run's logs are well under 1 MB; more is a runaway or an attack
REFRESH_SECONDS = 15


def board_data(project: str) -> dict:
    """The board's content: {"learners": [...], "rows": [...], "readings": [...], "other_runs": N, "problems": n}."""
    learners, others = read_room(project)
    kept, _ = the_experiment(learners)
    rows = [
        {"row": row, "runs": n, "mean": mean, "sd": None if math.isnan(sd) else sd, "lowest": low, "highest": high}
        for row, n, mean, sd, low, high in room_summary(learners)
    ]
    return {
        "project": project,
        "learners": [
            {
                "name": learner.name,
                "status": learner.status,
                "stage": learner.stage,
                "step": learner.step,
                "seconds_since": learner.seconds_since,
                "seed": learner.seed,
                "table": learner.table,
                "why": learner.why,
            }
            for learner in learners
        ],
        "rows": rows,
        "readings": room_readings(learners),
        "other_runs": others,
        "problems": kept[0].problems if kept else None,
        "counted": [learner.name for learner in kept],
    }


def strip_plot_svg(data: dict) -> str:
    """Per row, one dot a finished run and a bar for mean ± sd: the room's spread, as an inline SVG."""
    from matplotlib.figure import Figure

    rows = data["rows"]
    if not rows:
        return ""
    accuracies = {row["row"]: [] for row in rows}
    counted = set(data["counted"])
    for learner in data["learners"]:
        if learner["name"] in counted:
            for row, value in learner["table"].items():
                accuracies.setdefault(row, []).append(value)
    figure = Figure(figsize=(7.5, 0.5 + 0.45 * len(rows)))
    axes = figure.add_subplot()
    for y, row in enumerate(rows):
        values = accuracies[row["row"]]
        jitter = [((i * 0.618) % 1 - 0.5) * 0.3 for i in range(len(values))]  # spread the dots, the same every refresh
        axes.scatter([100 * v for v in values], [y + j for j in jitter], s=14, alpha=0.6, color="C0")
        sd = row["sd"] or 0.0
        axes.errorbar([100 * row["mean"]], [y], xerr=[[100 * sd], [100 * sd]], fmt="|", color="C3", markersize=14, capsize=4)
    axes.set_yticks(range(len(rows)), [f"{row['row']}  ({row['runs']})" for row in rows])
    axes.invert_yaxis()
    axes.set_xlim(-2, 102)
    axes.set_xlabel("greedy accuracy on the test split, %  (dots: runs; red: mean ± sd)")
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    out = io.StringIO()
    figure.savefig(out, format="svg")  # matplotlib writes the labels as escaped XML text
    svg = out.getvalue()
    return svg[svg.index("<svg") :]


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    return f"{seconds:.0f} s ago" if seconds < 120 else f"{seconds / 60:.0f} min ago"


def board_page(project: str) -> str:
    """The board as one HTML page (no script; it reloads itself every `REFRESH_SECONDS`)."""
    data = board_data(project)
    e = html.escape
    statuses = ("finished", "running", "quiet", "stopped", "partial", "refused")
    counts = {status: sum(1 for learner in data["learners"] if learner["status"] == status) for status in statuses}
    learner_rows = "".join(
        f"<tr class='{e(learner['status'])}'><td>{e(learner['name'])}</td><td>{'' if learner['seed'] is None else learner['seed']}</td>"
        f"<td>{e(learner['status'])}{': ' + e(learner['why']) if learner['why'] else ''}</td><td>{e(learner['stage'] or '')}</td>"
        f"<td>{'' if learner['step'] is None else learner['step']}</td><td>{e(_age(learner['seconds_since']))}</td></tr>"
        for learner in data["learners"]
    )
    table_rows = "".join(
        f"<tr><td>{e(row['row'])}</td><td>{row['runs']}</td><td>{100 * row['mean']:.1f}%</td>"
        f"<td>{'n/a' if row['sd'] is None else format(100 * row['sd'], '.1f')}</td><td>{100 * row['lowest']:.1f}% to {100 * row['highest']:.1f}%</td></tr>"
        for row in data["rows"]
    )
    readings = "".join(f"<li>{e(line)}</li>" for line in data["readings"]) or "<li>no finished runs yet</li>"
    others = (
        f"<p>{data['other_runs']} other tracker runs in this project (not labkit runs) are not read.</p>"
        if data["other_runs"]
        else ""
    )
    problems = f", each accuracy on {data['problems']} test problems" if data["problems"] else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{REFRESH_SECONDS}">
<title>labkit class board: {e(project)}</title>
<style>body{{font-family:sans-serif;margin:1.5em;max-width:60em}} table{{border-collapse:collapse}}
td,th{{border-bottom:1px solid #ddd;padding:.2em .8em;text-align:left}} tr.stopped td,tr.refused td,tr.quiet td{{color:#a33}}
tr.running td{{color:#555}}</style></head>
<body><h1>The room as one experiment: {e(project)}</h1>
<p>{", ".join(f"{n} {status}" for status, n in counts.items() if n or status in ("finished", "running"))}{problems}.
One run is one seed: the spread below is the seeds' noise the lab talks about.</p>
<h2>The lab's table over the room</h2>
{strip_plot_svg(data)}
<table><tr><th>row</th><th>runs counted</th><th>mean</th><th>sd (points)</th><th>range</th></tr>{table_rows}</table>
<h2>Readings over the room's seeds</h2><ul>{readings}</ul>
<h2>Who is where</h2>
<table><tr><th>run</th><th>seed</th><th>status</th><th>last stage</th><th>step</th><th>last heard</th></tr>{learner_rows}</table>
{others}<p>This page reloads every {REFRESH_SECONDS} s. Stopped: the run raised (Ctrl-C, an error). Quiet: nothing heard for
{STALE_AFTER / 60:.0f} minutes, so stopped without a word or busy in a stage that logs nothing. Partial: finished early on purpose.
Refused: its table is not the lab's, and it is not counted.</p>
</body></html>"""


class _BodyLimit:
    """ASGI middleware: a request whose body is over `max_bytes` gets 413 before the app reads it."""

    def __init__(self, app, max_bytes: int = MAX_REQUEST_BYTES):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await _refuse(send, self.max_bytes)
        chunks, size = [], 0
        while True:  # a body without a length (chunked) is read here, counted, and handed on whole
            message = await receive()
            if message["type"] != "http.request":
                return await self.app(scope, _replay([message], receive), send)
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await _refuse(send, self.max_bytes)
            chunks.append(message)
            if not message.get("more_body"):
                break
        return await self.app(scope, _replay(chunks, receive), send)


def _replay(messages, receive):
    """The body already read, then the connection's own `receive` (a file response waits on it for a
    disconnect: answering one at once would cut the file short)."""
    pending = list(messages)

    async def replayed():
        return pending.pop(0) if pending else await receive()

    return replayed


async def _refuse(send, max_bytes: int) -> None:
    body = json.dumps({"error": f"request body over {max_bytes} bytes; labkit's class server refuses it"}).encode()
    await send({"type": "http.response.start", "status": 413, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def room_address() -> str:
    """This machine's address on the room's network (the interface its default route uses); 127.0.0.1 if none.
    Nothing is sent: connecting a UDP socket only picks the interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class ClassServer:
    """A running class server: `board_url` to look (no token), `join_url` to log (carries the write token)."""

    def __init__(self, server, project: str, host: str, port: int, write_token: str):
        self._server = server
        shown = room_address() if host == "0.0.0.0" else host
        self.project, self.port = project, port
        self.board_url = f"http://{shown}:{port}/room?project={quote(project)}"
        self.dashboard_url = f"http://{shown}:{port}/?project={quote(project)}"
        self.join_url = f"http://{shown}:{port}/?write_token={write_token}"

    def join_line(self) -> str:
        return (
            f"labkit run --report-to trackio --project {shlex.quote(self.project)} --trackio-server-url {shlex.quote(self.join_url)} "
            "--run-name YOUR-NAME --seed YOUR-NUMBER"
        )

    def close(self) -> None:
        self._server.should_exit = True
        self._server.thread.join(timeout=10)


def serve_class(project: str = "labkit-room", host: str = "127.0.0.1", port: int | None = None) -> ClassServer:
    """Start trackio's server for `project` with the board added, in a background thread (loopback unless asked)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.responses import HTMLResponse, JSONResponse
    from starlette.routing import Mount, Route

    from ..run.room import _storage
    from ..run.track import TrackerSettings

    TrackerSettings("trackio", project)  # a project name trackio and the board can both take, or one line why not
    _storage()  # trackio installed, or one line how to install it
    import trackio
    from trackio.launch import start_server

    trackio_app, write_token = trackio.build_starlette_app_only()

    def page(request):
        return HTMLResponse(board_page(request.query_params.get("project", project)))

    def data(request):
        return JSONResponse(board_data(request.query_params.get("project", project)))

    # The board's two routes first; everything else is trackio's (its logging API, its dashboard).
    app = Starlette(
        routes=[Route("/room", page), Route("/room.json", data), Mount("/", app=trackio_app)],
        middleware=[Middleware(_BodyLimit)],
    )
    port = port or free_port(host)
    _, port, _, server = start_server(app, server_name=host, server_port=port)
    return ClassServer(server, project, host, port, write_token)
