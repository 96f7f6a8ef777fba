"""The demo in headless Chromium: both columns render, and an answer appears after a click.

`.ci/run` installs Debian's chromium and chromium-driver when they are missing and sets
LABKIT_REQUIRE_BROWSER=1, so in CI a missing browser fails instead of skipping.
"""

import os
import socket

import pytest

from labkit.demo import build_app, launch
from labkit.models import build_model
from labkit.screenshot import answer_in_browser, find_chromium, headless_chromium
from labkit.tasks import read_records

pytestmark = pytest.mark.skipif(
    find_chromium() is None and not os.environ.get("LABKIT_REQUIRE_BROWSER"),
    reason="headless Chromium not installed (apt-get install chromium chromium-driver)",
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_both_columns_render_and_an_answer_appears_after_a_click(tmp_path):
    teacher, tokenizer = build_model("student-xs", seed=0)
    student, _ = build_model("student-tiny", seed=0)
    records = read_records("test")[:20]
    app = build_app(teacher, student, tokenizer, records=records, teacher_name="xs teacher", student_name="tiny student")
    launch(app, port=_free_port(), prevent_thread_lock=True, quiet=True)
    try:
        with headless_chromium() as driver:
            page = answer_in_browser(driver, app.local_url, records[0]["prompt"])
            driver.save_screenshot(str(tmp_path / "demo.png"))
    finally:
        app.close(verbose=False)
    assert page["columns_before"] == [True, True]  # both answer columns were on the page before the click
    assert "xs teacher" in page["cards"][0] and "tiny student" in page["cards"][1]
    assert "parameters" in page["cards"][0]
    for role in ("teacher", "student"):
        assert page[f"{role}_answer"], f"no {role} answer appeared"
        assert "verdict" in page[f"{role}_stats"] and "tokens" in page[f"{role}_stats"]
    assert (tmp_path / "demo.png").read_bytes()[:4] == b"\x89PNG"


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
