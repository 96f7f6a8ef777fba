"""30 people at an instructor's demo: latency of the Compare tab under concurrent requests.

    .venv/bin/python benchmarks/demo_load.py [--run runs/default] [--users 30]

Serves a finished run's teacher and student with `labkit.demo` (default queue and
stream settings, 127.0.0.1), sends `--users` Compare requests at the same moment
through `gradio_client` (one held-out problem each, greedy, 48 new tokens), and
prints the median and p95 wall time per request, how many answers came back, and
how many of them were right.
"""

import argparse
import statistics
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

from gradio_client import Client

from labkit.demo import build_app, launch, load_run
from labkit.pipeline import default_runs_dir
from labkit.rewards import is_correct
from labkit.tasks import read_records

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--run", default=str(default_runs_dir() / "default"))
parser.add_argument("--users", type=int, default=30)
args = parser.parse_args()

teacher, student, tokenizer, (teacher_name, student_name) = load_run(args.run)
records = read_records("test")[: args.users]
app = build_app(teacher, student, tokenizer, teacher_name=teacher_name, student_name=student_name)
launch(app, prevent_thread_lock=True, quiet=True)
client = Client(app.local_url, verbose=False)


def ask(record: dict) -> tuple[float, tuple]:
    start = time.perf_counter()
    result = client.submit(record["prompt"], 0.0, 48, 1, 0, api_name="/compare").result(timeout=600)
    return time.perf_counter() - start, result


try:
    began = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(records)) as pool:
        answered = list(pool.map(ask, records))
    total = time.perf_counter() - began
finally:
    client.close()
    app.close(verbose=False)

latencies = sorted(seconds for seconds, _ in answered)
p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
right = [sum(is_correct(result[i], r["answer"]) for (_, result), r in zip(answered, records)) for i in (0, 1)]
print(f"{teacher_name} vs {student_name}, {len(records)} concurrent Compare requests, all done in {total:.1f}s")
print(f"latency per request: median {statistics.median(latencies):.2f}s, p95 {p95:.2f}s, max {latencies[-1]:.2f}s")
print(f"answers returned: {len(answered)} of {len(records)}; right: {teacher_name} {right[0]}, {student_name} {right[1]}")
