"""The demo in headless Chromium: both columns render, and an answer appears after a click.

`.ci/run` installs Debian's chromium and chromium-driver when they are missing and sets
LABKIT_REQUIRE_BROWSER=1, so in CI a missing browser fails instead of skipping.
"""

import contextlib
import os
import socket

import pytest

from labkit.app.demo import build_app, launch
from labkit.app.screenshot import answer_in_browser, find_chromium, headless_chromium
from labkit.models import build_model
from labkit.tasks import read_records

pytestmark = pytest.mark.skipif(
    find_chromium() is None and not os.environ.get("LABKIT_REQUIRE_BROWSER"),
    reason="headless Chromium not installed (apt-get install chromium chromium-driver)",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def _served(teacher_name: str, student_name: str):
    """Two fresh tiny models in the app, served on a free port: (app, its records); closed on exit."""
    teacher, tokenizer = build_model("student-xs", seed=0)
    student, _ = build_model("student-tiny", seed=0)
    records = read_records("test")[:20]
    app = build_app(teacher, student, tokenizer, records=records, teacher_name=teacher_name, student_name=student_name)
    launch(app, port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        yield app, records
    finally:
        app.close(verbose=False)


def test_both_columns_render_and_an_answer_appears_after_a_click(tmp_path):
    with _served("xs teacher", "tiny student") as (app, records), headless_chromium() as driver:
        page = answer_in_browser(driver, app.local_url, records[0]["prompt"])
        driver.save_screenshot(str(tmp_path / "demo.png"))
    assert page["columns_before"] == [True, True]  # both answer columns were on the page before the click
    assert "xs teacher" in page["cards"][0] and "tiny student" in page["cards"][1]
    assert "parameters" in page["cards"][0]
    for role in ("teacher", "student"):
        assert page[f"{role}_answer"], f"no {role} answer appeared"
        assert "verdict" in page[f"{role}_stats"] and "tokens" in page[f"{role}_stats"]
    assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"


def test_on_a_projector_the_problem_both_answers_and_both_verdicts_fit_one_screen(tmp_path):
    """1280x720 at 150% zoom is 853x480 CSS pixels: the answers and verdicts must be there without scrolling."""
    with _served("teacher (GRPO)", "student (seq KD)") as (app, records), headless_chromium() as driver:
        zoomed = {"width": 853, "height": 480, "deviceScaleFactor": 1.5, "mobile": False}
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", zoomed)
        page = answer_in_browser(driver, app.local_url, records[0]["prompt"])
        screen = driver.execute_script("return [window.innerWidth, window.innerHeight]")
        bottoms = {
            element: driver.execute_script(f"return document.getElementById('{element}').getBoundingClientRect().bottom")
            for element in ("prompt", "teacher-answer", "student-answer", "teacher-stats", "student-stats")
        }
        driver.save_screenshot(str(tmp_path / "projector.png"))
    assert screen == [853, 480]
    assert "verdict" in page["teacher_stats"] and "verdict" in page["student_stats"]
    assert all(0 < bottom <= screen[1] for bottom in bottoms.values()), bottoms


def test_the_demo_works_behind_jupyter_server_proxy_as_on_binder(tmp_path, monkeypatch):
    """A real Jupyter server with jupyter-server-proxy; the demo at /proxy/PORT/, as Binder serves it.

    On a JupyterHub `launch` finds its path under the proxy from JUPYTERHUB_SERVICE_PREFIX (here "/"),
    and both a `gradio_client` call and the page in Chromium go through the proxy.
    """
    import subprocess
    import sys
    import time
    import urllib.request

    from gradio_client import Client

    jupyter_port, demo_port = _free_port(), _free_port()
    log = (tmp_path / "jupyter.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "server", "--no-browser", f"--port={jupyter_port}", "--ServerApp.ip=127.0.0.1",
         "--IdentityProvider.token=", "--allow-root", f"--ServerApp.root_dir={tmp_path}"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    teacher, tokenizer = build_model("student-xs", seed=0)
    student, _ = build_model("student-tiny", seed=0)
    records = read_records("test")[:20]
    app = build_app(teacher, student, tokenizer, records=records)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{jupyter_port}/api/status", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/")
        launch(app, port=demo_port, prevent_thread_lock=True, quiet=True)
        proxied = f"http://127.0.0.1:{jupyter_port}/proxy/{demo_port}/"
        client = Client(proxied, verbose=False)
        assert {"/compare", "/score"} <= set(client.view_api(return_format="dict")["named_endpoints"])
        with headless_chromium() as driver:
            page = answer_in_browser(driver, proxied, records[0]["prompt"])
    finally:
        app.close(verbose=False)
        server.terminate()
        server.wait(timeout=30)
    assert page["columns_before"] == [True, True]
    assert page["teacher_answer"] and "verdict" in page["student_stats"]
