"""30 people at an instructor's demo: latency of the Compare tab under concurrent requests.

    .venv/bin/python benchmarks/demo_load.py [--run runs/default] [--users 30] [--rounds 3]

Serves a finished run's teacher and student with `labkit.app.demo` (default stream settings,
127.0.0.1), sends `--users` Compare requests at the same moment through `gradio_client`
(one held-out problem each, greedy, 48 new tokens), and measures the wall time of each
request, twice, side by side in one run:

    one at a time   `build_app(batch_users=1)`: each request decodes alone, the rest wait in
                    the queue (the demo before it batched)
    batched         the default: waiting requests join one batched decode per model
    no model        gradio's own floor: an app with the same endpoint whose handler answers at
                    once (two updates, no model), served and called the same way

Each setting is measured `--rounds` times, alternating, and the latencies pooled. Also
printed: how many answers came back, how many were right, and whether every batched
answer equals the one-at-a-time answer to the same problem. The last line is the headline:
the batched p95 beside the one-at-a-time p95 and gradio's own. The clients run in this
process, on the server's cores: in a room they would be on the learners' machines.
"""

import argparse
import statistics
import time
import warnings
from concurrent.futures import ThreadPoolExecutor

import gradio as gr
from gradio_client import Client

from labkit.app.batching import DecodeBatcher
from labkit.app.demo import build_app, launch, load_run
from labkit.rewards import is_correct
from labkit.run.pipeline import default_runs_dir
from labkit.tasks import read_records

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--run", default=str(default_runs_dir() / "default"))
parser.add_argument("--users", type=int, default=30)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--stream-interval", type=float, default=None, help="seconds between streamed updates (default: the app's)")
args = parser.parse_args()

teacher, student, tokenizer, (teacher_name, student_name) = load_run(args.run)
records = read_records("test")[: args.users]
SETTINGS = {"one at a time": 1, "batched": 64, "no model": None}


def no_model_app() -> gr.Blocks:
    """The Compare endpoint's shape with nothing behind it: what serving 30 users costs by itself."""

    def compare(prompt, temperature, max_new_tokens, k, seed):
        yield prompt, prompt, "generating...", "generating..."
        yield prompt, prompt, "done", "done"

    with gr.Blocks() as app:
        inputs = [gr.Textbox(), gr.Number(), gr.Number(), gr.Number(), gr.Number()]
        outputs = [gr.Textbox() for _ in range(4)]
        inputs[0].submit(compare, inputs, outputs, api_name="compare", concurrency_limit=64)
    return app.queue(default_concurrency_limit=1, max_size=256)


def burst(batch_users: int | None) -> tuple[list[float], list[tuple], float]:
    """All users at once against a fresh app: each request's seconds, its answers, and the burst's wall time."""
    streaming = {} if args.stream_interval is None else {"stream_interval": args.stream_interval}
    if batch_users is None:
        app = no_model_app()
    else:
        app = build_app(
            teacher,
            student,
            tokenizer,
            teacher_name=teacher_name,
            student_name=student_name,
            batch_users=batch_users,
            **streaming,
        )
    launch(app, prevent_thread_lock=True, quiet=True)
    client = Client(app.local_url, verbose=False)

    def ask(record: dict) -> tuple[float, tuple]:
        start = time.perf_counter()
        result = client.submit(record["prompt"], 0.0, 48, 1, 0, api_name="/compare").result(timeout=600)
        return time.perf_counter() - start, result

    try:
        ask(records[0])  # warm up the server and the models
        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=len(records)) as pool:
            answered = list(pool.map(ask, records))
        total = time.perf_counter() - began
    finally:
        client.close()
        app.close(verbose=False)
    return [seconds for seconds, _ in answered], [result for _, result in answered], total


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


latencies = {name: [] for name in SETTINGS}
answers, totals = {}, {name: [] for name in SETTINGS}
for _ in range(args.rounds):
    for name, batch_users in SETTINGS.items():
        seconds, results, total = burst(batch_users)
        latencies[name] += seconds
        totals[name].append(total)
        answers[name] = results

print(f"{teacher_name} vs {student_name}: {len(records)} concurrent Compare requests, {args.rounds} rounds each")
print(f"{'setting':<15}{'median s':>10}{'p95 s':>8}{'max s':>8}{'burst s':>9}   right ({teacher_name}, {student_name})")
for name in ("one at a time", "batched"):
    right = [sum(is_correct(result[i], r["answer"]) for result, r in zip(answers[name], records)) for i in (0, 1)]
    values = latencies[name]
    print(
        f"{name:<15}{statistics.median(values):>10.2f}{p95(values):>8.2f}{max(values):>8.2f}"
        f"{statistics.median(totals[name]):>9.2f}   {right[0]}, {right[1]} of {len(records)}"
    )
# The models' share: the same 30 prompts straight into a DecodeBatcher, no server, no client.
batcher = DecodeBatcher([teacher.eval(), student.eval()], tokenizer)
direct = []
for _ in range(args.rounds):
    began = time.perf_counter()
    requests = [batcher.submit(tokenizer(r["prompt"], add_special_tokens=False).input_ids, max_new_tokens=48) for r in records]
    for request in requests:
        while not request.wait(1.0):
            pass
    direct.append(time.perf_counter() - began)
print(f"the models alone: all {len(records)} requests through the batcher in {statistics.median(direct):.2f} s (median)")
values = latencies["no model"]
print(
    f"{'no model':<15}{statistics.median(values):>10.2f}{p95(values):>8.2f}{max(values):>8.2f}{statistics.median(totals['no model']):>9.2f}"
)
same = sum(a[:2] == b[:2] for a, b in zip(answers["batched"], answers["one at a time"]))
print(f"batched answers equal to one-at-a-time answers: {same} of {len(records)}")
print(
    f"{args.users} users, p95 latency: batched {p95(latencies['batched']):.2f} s vs one at a time "
    f"{p95(latencies['one at a time']):.2f} s ({p95(latencies['one at a time']) / p95(latencies['batched']):.1f}x lower); "
    f"gradio alone {p95(latencies['no model']):.2f} s"
)
