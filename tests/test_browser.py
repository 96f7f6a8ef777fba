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
