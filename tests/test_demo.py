"""The Gradio demo: every endpoint driven through `gradio_client`, the reward explanations,
the limits that keep a shared server up, `load_run`, `labkit demo`, and 30 users at once.

The models are fresh tiny ones (their accuracy is about 0, which is fine): the tests
check what the app reports about an answer, not how good the answer is. A scripted
model that always says the right thing checks the "correct" side of the verdicts.
"""

import json
import random
import re
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import gradio as gr
import pytest
import torch
from gradio_client import Client
from gradio_client.exceptions import AppError
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit import cli
from labkit.app.demo import build_app, launch, load_run
from labkit.app.explain import ABOUT, describe_answers, explain_rewards, verdict
from labkit.app.handlers import canonical_prompt, check_prompt
from labkit.app.streaming import AnswerStream
from labkit.evaluate import evaluate
from labkit.models import build_model, save_model
from labkit.rewards import correctness_reward, format_reward, is_correct, steps_add_up
from labkit.runtime import LabkitError
from labkit.sampling import generate_completions
from labkit.tasks import read_records

RIGHT = "<think>3+8+1=12 1+2+5+9=17</think><answer>172</answer>"
WRONG_STEP = "<think>3+8+1=13 1+2+5+9=17</think><answer>172</answer>"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _serve(app: gr.Blocks) -> Client:
    launch(app, port=_free_port(), prevent_thread_lock=True, quiet=True)
    return Client(app.local_url, verbose=False)


def _handler(app: gr.Blocks, api_name: str):
    """The function behind an endpoint, to call directly: no server, no client."""
    return next(fn.fn for fn in app.fns.values() if fn.api_name == api_name)


def _updates(handler, *args) -> tuple[list, Exception | None]:
    """What a generator handler yields, and the error it ends with (None if it finishes)."""
    updates = []
    try:
        for update in handler(*args):
            updates.append(update)
    except Exception as error:  # noqa: BLE001 - the caller checks which
        return updates, error
    return updates, None


def _component(app: gr.Blocks, **props) -> dict:
    """The props of the one component whose props include `props`."""
    (found,) = [c["props"] for c in app.config["components"] if props.items() <= c["props"].items()]
    return found


def _verdict(stats: str) -> str:
    found = re.search(r"verdict: (\w+)", stats)
    assert found, f"no verdict in {stats!r}"
    return found.group(1)


@pytest.fixture(scope="module")
def served():
    """A running app: student-xs as the teacher, student-tiny as the student, the test split as records."""
    teacher, tokenizer = build_model("student-xs")
    student, _ = build_model("student-tiny")
    records = read_records("test")
    # stream_interval=0: an update as soon as there are new tokens, so the test can watch the answers grow.
    app = build_app(teacher, student, tokenizer, records=records, teacher_name="xs", student_name="tiny", stream_interval=0)
    client = _serve(app)
    yield SimpleNamespace(app=app, client=client, records=records, teacher=teacher, student=student, tokenizer=tokenizer)
    client.close()
    app.close(verbose=False)


# --- Compare -----------------------------------------------------------------------------------------


def _tokens(update) -> int:
    """Tokens written so far by both columns, from their "generating... N tokens" lines."""
    return sum(int(m) for m in re.findall(r"generating\.\.\. (\d+) tokens?", f"{update[2]} {update[3]}"))


def test_compare_streams_both_columns_and_reports_each_answer(served):
    record = served.records[0]
    job = served.client.submit(record["prompt"], 0.0, 16, 1, 0, api_name="/compare")
    teacher_text, student_text, teacher_stats, student_stats = job.result(timeout=60)
    updates = job.outputs()
    # Updates while the answers grow (new tokens in each: these fresh models never say EOS, so 16 each; the
    # batcher does not wait for the page, so one update may bring several), then the final one with the stats.
    assert 3 <= len(updates) <= 17
    for earlier, later in zip(updates, updates[1:-1]):  # each answer only grows, and every update brings news
        assert later[0].startswith(earlier[0]) and later[1].startswith(earlier[1])
        # News is a longer answer or, for a token that prints nothing (a fresh model's pad or special token), a higher count.
        assert len(later[0]) + len(later[1]) > len(earlier[0]) + len(earlier[1]) or _tokens(later) > _tokens(earlier)
    assert re.fullmatch(r"generating\.\.\. \d+ tokens?", updates[0][2])
    assert teacher_text and student_text
    # Greedy streaming with the KV cache says exactly what batched `generate` says.
    for model, text in ((served.teacher, teacher_text), (served.student, student_text)):
        assert (
            text == generate_completions(model, served.tokenizer, [record["prompt"]], temperature=0.0, max_new_tokens=16).texts[0]
        )
    for text, stats in ((teacher_text, teacher_stats), (student_text, student_stats)):
        assert _verdict(stats) == ("correct" if is_correct(text, record["answer"]) else "wrong")
        assert f"reference {record['answer']}" in stats
        assert "correctness" in stats and "format" in stats and "steps" in stats
        assert re.search(r"\d+ tokens · \d+ ms · \d+ tokens/s", stats)
        assert int(re.search(r"(\d+) tokens ·", stats).group(1)) <= 16


def test_compare_a_problem_with_no_known_answer_has_an_unknown_verdict(served):
    _, _, teacher_stats, student_stats = served.client.predict("1234=", 0.0, 4, 1, 0, api_name="/compare")
    assert _verdict(teacher_stats) == _verdict(student_stats) == "unknown"
    # A sum that is not in the records still has a known answer: it is computed.
    _, _, teacher_stats, _ = served.client.predict("12+34+56=", 0.0, 4, 1, 0, api_name="/compare")
    assert "reference 102" in teacher_stats


def test_sample_k_shows_k_answers_and_their_agreement_reproducibly(served):
    prompt = served.records[1]["prompt"]
    first = served.client.predict(prompt, 1.0, 8, 4, 7, api_name="/compare")
    again = served.client.predict(prompt, 1.0, 8, 4, 7, api_name="/compare")
    assert first[:2] == again[:2], "the same seed gives the same samples"
    for text, stats in zip(first[:2], first[2:]):
        assert [line.split(". ")[0] for line in text.splitlines()] == ["1", "2", "3", "4"]
        assert re.search(r"verdict: \d of 4 correct", stats)
        assert re.search(r"majority answer \S+ with \d of 4 votes \(agreement \d+%\)|no majority: ", stats)


def test_the_sliders_refuse_values_beyond_their_caps(served):
    prompt = served.records[2]["prompt"]
    with pytest.raises(AppError, match="maximum value 64"):
        served.client.predict(prompt, 0.0, 10_000, 1, 0, api_name="/compare")
    with pytest.raises(AppError, match="maximum value 1.5"):
        served.client.predict(prompt, 9.0, 8, 1, 0, api_name="/compare")
    with pytest.raises(AppError, match="maximum value 8"):
        served.client.predict(prompt, 1.0, 8, 100, 0, api_name="/compare")
    with pytest.raises(AppError, match="maximum value 200"):
        served.client.predict(10_000, 0, api_name="/arena")


def test_random_problem_is_a_test_problem(served):
    prompts = {r["prompt"] for r in served.records}
    assert {served.client.predict(api_name="/random_problem") for _ in range(3)} <= prompts


# --- Limits: a clear message, not a crash ---------------------------------------------------------


def test_a_too_long_prompt_gets_a_clear_error_and_the_server_stays_up(served):
    with pytest.raises(gr.Error, match="limit is 64"):
        check_prompt("1+" * 40 + "1=", served.tokenizer, 64)
    with pytest.raises(AppError, match="limit is 64"):
        served.client.predict("1+" * 40 + "1=", 0.0, 8, 1, 0, api_name="/compare")
    with pytest.raises(AppError, match="Type a problem"):
        served.client.predict("   ", 0.0, 8, 1, 0, api_name="/compare")
    with pytest.raises(AppError, match="does not know"):
        served.client.predict("abc", 0.0, 8, 1, 0, api_name="/compare")
    teacher_text, *_ = served.client.predict(served.records[0]["prompt"], 0.0, 4, 1, 0, api_name="/compare")
    assert teacher_text


def test_check_prompt_adds_the_equals_sign():
    _, tokenizer = build_model("student-tiny")
    assert check_prompt(" 23+58+91 ", tokenizer, 64) == "23+58+91="


def test_the_app_refuses_limits_beyond_the_models_positions():
    model, tokenizer = build_model("student-tiny")  # 256 positions
    with pytest.raises(LabkitError, match="positions"):
        build_app(model, model, tokenizer, records=[{"prompt": "1+1=", "answer": "2"}], max_new_tokens_cap=250)


# --- A scripted model: the "correct" side of the verdicts -------------------------------------------


class ScriptedLM(torch.nn.Module):
    """Says `script` then EOS, whatever the prompt: logits are one-hot (scaled to 50) on the next token."""

    def __init__(self, tokenizer, script: str):
        super().__init__()
        self.ids = tokenizer(script, add_special_tokens=False).input_ids + [tokenizer.eos_token_id]
        self.vocab = len(tokenizer)
        self.weight = torch.nn.Parameter(torch.zeros(1))  # a device and a parameter count

    def forward(self, input_ids, attention_mask=None, position_ids=None, cache=None, use_cache=True):
        produced = cache or 0
        logits = torch.zeros(input_ids.shape[0], input_ids.shape[1], self.vocab)
        logits[:, -1, self.ids[min(produced, len(self.ids) - 1)]] = 50.0
        return SimpleNamespace(logits=logits, cache=produced + 1)


def test_verdicts_of_a_model_that_always_answers_172():
    _, tokenizer = build_model("student-tiny")
    scripted = ScriptedLM(tokenizer, RIGHT)
    records = [{"prompt": "23+58+91=", "answer": "172"}, {"prompt": "11+11+11=", "answer": "33"}]
    app = build_app(scripted, scripted, tokenizer, records=records)
    client = _serve(app)
    try:
        right = client.predict("23+58+91=", 0.0, 64, 1, 0, api_name="/compare")
        wrong = client.predict("11+11+11", 0.0, 64, 1, 0, api_name="/compare")
        computed = client.predict("1+2=", 0.0, 64, 1, 0, api_name="/compare")  # not a record, but a sum
        unknown = client.predict("12=", 0.0, 64, 1, 0, api_name="/compare")
        sampled = client.predict("23+58+91=", 1.0, 64, 3, 0, api_name="/compare")
    finally:
        client.close()
        app.close(verbose=False)
    assert right[0] == right[1] == RIGHT
    assert [_verdict(s) for s in (right[2], wrong[2], computed[2], unknown[2])] == ["correct", "wrong", "wrong", "unknown"]
    assert "reference 3" in computed[2]
    tokens = len(scripted.ids)  # the script and EOS: generation stops at EOS
    assert f"{tokens} tokens" in right[2]
    assert "correctness 1 · format 1 · steps 1" in right[2]
    assert "verdict: 3 of 3 correct" in sampled[2]
    assert "majority answer 172 (right) with 3 of 3 votes (agreement 100%)" in sampled[2]


def test_the_demo_judges_the_task_it_is_given():
    """Countdown's records make a Countdown demo: its prompts, its verdicts, its Reward tab."""
    from labkit.tasks import Countdown

    _, tokenizer = build_model("student-tiny")
    plan = "<think>3*7=21 21+5=26</think><answer>3*7+5</answer>"
    scripted = ScriptedLM(tokenizer, plan)
    records = [Countdown().record(((3, 7, 5), 26)), Countdown().record(((3, 7, 5), 16))]
    app = build_app(scripted, scripted, tokenizer, records=records)
    client = _serve(app)
    try:
        right = client.predict("3 7 5>26", 0.0, 64, 1, 0, api_name="/compare")  # ':' added, as the task's prompts end
        wrong = client.predict("3 7 5>16:", 0.0, 64, 1, 0, api_name="/compare")
        typed = client.predict("2 4 6>48:", 0.0, 64, 1, 0, api_name="/compare")  # not a record, but solvable
        scored = client.predict(plan, "3 7 5>26:", api_name="/score")
        with pytest.raises(AppError, match="not a problem"):
            client.predict(plan, "26", api_name="/score")  # a bare answer is not a Countdown problem
    finally:
        client.close()
        app.close(verbose=False)
    assert [_verdict(s) for s in (right[2], wrong[2], typed[2])] == ["correct", "wrong", "wrong"]
    assert "Countdown" in app.config["components"][0]["props"]["value"] or any(
        "Countdown" in str(c.get("props", {}).get("value", "")) for c in app.config["components"]
    )
    rows = {row[0]: row[1] for row in scored["data"]}
    assert rows == {"correctness": 1.0, "format": 1.0, "steps": 1.0}


def test_answer_stream_stops_at_eos_and_counts_it():
    _, tokenizer = build_model("student-tiny")
    scripted = ScriptedLM(tokenizer, "<answer>7</answer>")
    prompt_ids = tokenizer("3+4=", add_special_tokens=False, return_tensors="pt").input_ids
    stream = AnswerStream(scripted, tokenizer, prompt_ids, k=2, max_new_tokens=48)
    while not stream.done:
        stream.step()
    assert stream.texts == ["<answer>7</answer>"] * 2
    assert stream.steps == 4 and stream.tokens == 8  # 3 tokens and EOS, twice
    assert verdict(stream.texts[0], "7") == "correct" and verdict(stream.texts[0], None) == "unknown"
    assert "verdict: 2 of 2 correct" in describe_answers(stream.texts, stream.tokens, stream.seconds, "7")


def test_seeded_sampling_ignores_the_global_seed_and_other_threads():
    model, tokenizer = build_model("student-tiny")
    prompt_ids = tokenizer("23+58+91=", add_special_tokens=False, return_tensors="pt").input_ids

    def sample(global_seed: int) -> list[str]:
        torch.manual_seed(global_seed)  # what another user's code might do meanwhile
        stream = AnswerStream(model, tokenizer, prompt_ids, k=2, temperature=1.0, max_new_tokens=24, seed=5)
        while not stream.done:
            stream.step()
        return stream.texts

    alone = sample(0)
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(sample, range(8)))
    assert all(texts == alone for texts in together)


# --- What an instructor saw in front of a room: the handlers called directly ----------------------------


@pytest.fixture(scope="module")
def scripted_app():
    """An app (not served) whose two models always answer RIGHT, the answer to 23+58+91=."""
    _, tokenizer = build_model("student-tiny")
    scripted = ScriptedLM(tokenizer, RIGHT)
    records = [{"prompt": "23+58+91=", "answer": "172"}, {"prompt": "11+11+11=", "answer": "33"}]
    app = build_app(scripted, scripted, tokenizer, records=records, teacher_name="xs", student_name="tiny")
    yield app
    app.close(verbose=False)


@pytest.fixture(scope="module")
def tiny_app():
    """An app (not served) over a fresh student-tiny, which samples differently for different seeds."""
    model, tokenizer = build_model("student-tiny")
    app = build_app(model, model, tokenizer, records=read_records("test")[:40])
    yield app
    app.close(verbose=False)


def test_any_whole_number_is_a_seed(tiny_app):
    compare = _handler(tiny_app, "compare")
    huge = 99999999999999999999  # past torch's manual_seed, which takes 0 to 2**64 - 1
    sampled, error = _updates(compare, "23+58+91=", 1.0, 8, 2, huge)
    assert error is None and sampled[-1][0]
    # Reduced into torch's range, as torch itself reduces a negative seed: the seeds it took keep their samples.
    assert sampled[-1][:2] == _updates(compare, "23+58+91=", 1.0, 8, 2, huge % 2**64)[0][-1][:2]
    assert (
        _updates(compare, "23+58+91=", 1.0, 8, 2, -1)[0][-1][:2]
        == _updates(compare, "23+58+91=", 1.0, 8, 2, 2**64 - 1)[0][-1][:2]
    )
    for handler, args in ((compare, ("23+58+91=", 1.0, 8, 2)), (_handler(tiny_app, "arena"), (2,))):
        _, error = _updates(handler, *args, float("inf"))
        assert isinstance(error, gr.Error) and "whole number, for example 0" in error.message


def test_a_spaced_problem_is_the_tasks_prompt(scripted_app):
    from labkit.tasks import Countdown

    _, tokenizer = build_model("student-tiny")
    known = {"23+58+91=": {}}
    assert check_prompt("23 + 58 + 91 =", tokenizer, 64, known=known) == "23+58+91="
    assert check_prompt("12 + 345", tokenizer, 64, known=known) == "12+345="  # not in the records: the task makes it
    assert check_prompt("12 34 =", tokenizer, 64, known=known) == "1234="  # no sum, but the sums' prompts have no spaces
    assert canonical_prompt("3 7 5 > 26 :", Countdown()) == "3 7 5>26:"  # Countdown keeps its spaces between numbers
    assert canonical_prompt("hello", Countdown()) is None
    updates, error = _updates(_handler(scripted_app, "compare"), "23 + 58 + 91 =", 0.0, 64, 1, 0)
    assert error is None
    for stats in updates[-1][2:]:
        assert _verdict(stats) == "correct" and "reference 172" in stats
    (table,), _ = _updates(_handler(scripted_app, "score"), RIGHT, " 23 + 58 + 91 ")
    assert dict(zip(table["reward"], table["value"])) == {"correctness": 1.0, "format": 1.0, "steps": 1.0}


def test_an_error_replaces_the_last_verdict(scripted_app):
    compare = _handler(scripted_app, "compare")
    updates, error = _updates(compare, "1+" * 40 + "1=", 0.0, 64, 1, 0)
    assert isinstance(error, gr.Error) and "limit is 64" in error.message
    # One update before the error: no answers, and the message where the last verdict was.
    ((teacher_text, student_text, teacher_stats, student_stats),) = updates
    assert teacher_text == student_text == ""
    assert teacher_stats == student_stats == f"**not answered:** {error.message}"
    (table,), error = _updates(_handler(scripted_app, "score"), RIGHT, "")
    assert isinstance(error, gr.Error) and table.empty and list(table.columns) == ["reward", "value", "why"]
    ((table, plot, wrong),), error = _updates(_handler(scripted_app, "arena"), 2, float("nan"))
    assert isinstance(error, gr.Error) and table.empty and "accuracy" in table.columns and plot is None
    assert wrong.empty and "reference" in wrong.columns


def test_empty_tables_show_their_column_headers(scripted_app):
    arena = _component(scripted_app, label="greedy, batched, held-out problems")
    assert arena["value"]["headers"][:3] == ["model", "parameters", "accuracy"] and "tokens/s" in arena["value"]["headers"]
    assert _component(scripted_app, label="rule rewards and why")["value"]["headers"] == ["reward", "value", "why"]
    assert _component(scripted_app, label="problems a model got wrong (greedy)")["value"]["headers"][:2] == [
        "problem",
        "reference",
    ]


@pytest.mark.parametrize(
    "answers,line",
    [
        (list(range(8)), "no majority: 8 different answers have 1 of 8 votes each"),
        ([17, 17, 18, 18], "no majority: 17 and 18 have 2 of 4 votes each"),
        ([17, 18, 19, 20], "no majority: 4 different answers have 1 of 4 votes each"),
        ([17, 18, 19, 19, 18, 17], "no majority: 17, 18 and 19 have 2 of 6 votes each"),
        ([18, 17, 17, 19], "majority answer 17 (right) with 2 of 4 votes (agreement 50%)"),
        ([18, 18, 18, 17], "majority answer 18 (wrong) with 3 of 4 votes (agreement 75%)"),
        ([None, None, 3], "majority answer 3 (wrong) with 1 of 3 votes (agreement 33%)"),
        ([None, None], "no majority: none of the 2 has an answer to agree on"),
    ],
)
def test_a_majority_needs_more_votes_than_any_other_answer(answers, line):
    texts = ["I do not know" if a is None else f"<answer>{a}</answer>" for a in answers]
    stats = describe_answers(texts, 10, 0.1, "17")
    assert line in stats
    assert ("majority answer" in stats) == line.startswith("majority answer")


def test_a_long_prompt_is_refused_in_the_page_not_cut_short(scripted_app):
    box = _component(scripted_app, elem_id="prompt")
    # A browser cuts a pasted prompt at max_length without a word: the handler must see it to say why.
    assert box.get("max_length") is None and "up to 64 characters" in box["label"]
    (update,), error = _updates(_handler(scripted_app, "compare"), "1+" * 40 + "1=", 0.0, 64, 1, 0)
    assert "The prompt is 82 characters long; the limit is 64" in update[2]


@pytest.mark.parametrize(
    "texts,steps",
    [
        (["<answer>172</answer>"], "steps – (no steps to check)"),
        (["<answer>172</answer>"] * 3, "steps – (no steps to check)"),
        ([RIGHT, "<answer>172</answer>"], "steps 1 (1 of 2 show steps)"),
        ([WRONG_STEP, "<answer>172</answer>", RIGHT], "steps 0.5 (2 of 3 show steps)"),
        (["<think>3+8+1=12", "<answer>172</answer>"], "steps 0 (1 of 2 show steps)"),  # a broken scratchpad shows steps
        ([RIGHT], "steps 1"),
    ],
)
def test_an_answer_without_a_scratchpad_has_no_steps_to_check(texts, steps):
    stats = describe_answers(texts, 10, 0.1, "172")
    assert steps in stats
    assert ("mean of" in stats) == (len(texts) > 1)


def test_an_answer_of_a_task_without_a_process_check_has_no_steps_to_check():
    from labkit.tasks import Task

    class Echo(Task):
        name = "echo"

    assert "steps – (echo has no process check)" in describe_answers([RIGHT], 10, 0.1, "172", Echo())


def test_the_arena_shows_its_numbers_formatted_and_returns_them_as_numbers(tiny_app):
    ((styled, _, _),), error = _updates(_handler(tiny_app, "arena"), 2, 0)
    assert error is None
    shown = _component(tiny_app, label="greedy, batched, held-out problems")
    table = next(b for b in tiny_app.blocks.values() if getattr(b, "label", None) == shown["label"]).postprocess(styled)
    rows = [dict(zip(table.headers, row)) for row in table.data]
    pages = [dict(zip(table.headers, row)) for row in table.metadata["display_value"]]
    for row, page in zip(rows, pages):
        assert isinstance(row["parameters"], int) and page["parameters"] == f"{row['parameters']:,}"  # 3,808
        assert re.fullmatch(r"\d{1,3}(,\d{3})*", page["tokens/s"]), page["tokens/s"]  # no 5009.451
        assert re.fullmatch(r"\d{1,3}(,\d{3})*\.\d", page["latency ms"]) and re.fullmatch(r"\d+\.\d", page["mean length"])
        for share in ("accuracy", "format", "scratchpad"):
            assert page[share] == f"{row[share]:.1%}"


def test_every_output_has_a_name_in_the_api(scripted_app):
    endpoints = scripted_app.get_api_info()["named_endpoints"]
    assert [r["label"] for r in endpoints["/compare"]["returns"]] == ["xs answers", "tiny answers", "xs verdict", "tiny verdict"]
    for name, endpoint in endpoints.items():
        for value in (*endpoint["parameters"], *endpoint["returns"]):
            assert not value["label"].startswith("value_"), f"{name}: {value['label']}"


def test_the_app_explains_think_the_rewards_and_distillation_without_figures(scripted_app):
    assert _component(scripted_app, value=ABOUT.strip())  # gradio strips a Markdown value
    for words in ("<think>", "correctness", "format", "steps", "no steps to check", "rejection sampling", "right ones"):
        assert words in ABOUT
    # No measured figure (a share, a decimal, a count): the app serves any run, and a figure fits few.
    assert not re.search(r"\d\s*%|\d\.\d|\d{2,}", ABOUT)


# --- Arena -----------------------------------------------------------------------------------------------


def test_arena_reports_both_models_as_evaluate_would(served):
    table, plot, wrong = served.client.predict(6, 3, api_name="/arena")
    assert table["headers"][:3] == ["model", "parameters", "accuracy"] and "tokens/s" in table["headers"]
    rows = [dict(zip(table["headers"], row)) for row in table["data"]]
    assert [row["model"] for row in rows] == ["xs", "tiny"]
    chosen = random.Random(3).sample(served.records, 6)
    for row, model in zip(rows, (served.teacher, served.student)):
        expected = evaluate(model, served.tokenizer, chosen, k=0, forced=False, max_new_tokens=64)
        assert row["accuracy"] == pytest.approx(expected["accuracy"], abs=1e-3)
        assert row["mean length"] == pytest.approx(expected["mean_length"], abs=1e-3)
        assert 0 <= row["format"] <= 1 and row["tokens/s"] > 0
    assert plot is not None
    # The list of wrong answers: every problem one of them got wrong, with what each said, and nothing else.
    said = [generate_completions(m, served.tokenizer, [r["prompt"] for r in chosen], temperature=0.0, max_new_tokens=64).texts
            for m in (served.teacher, served.student)]  # fmt: skip
    expected = []
    for i, record in enumerate(chosen):
        right = [is_correct(s[i], record["answer"]) for s in said]
        if not all(right):
            who = "both" if not any(right) else ("xs" if not right[0] else "tiny")
            expected.append([record["prompt"], record["answer"], said[0][i][:80], said[1][i][:80], who])
    assert wrong["headers"] == ["problem", "reference", "xs said", "tiny said", "wrong"]
    assert wrong["data"] == expected


# --- Reward ---------------------------------------------------------------------------------------------


def test_score_endpoint_explains_each_reward(served):
    right = served.client.predict(RIGHT, "172", api_name="/score")
    values = {row[0]: row[1] for row in right["data"]}
    assert values == {"correctness": 1.0, "format": 1.0, "steps": 1.0}
    wrong = served.client.predict(WRONG_STEP, "172", api_name="/score")
    why = {row[0]: row[2] for row in wrong["data"]}
    assert "3+8+1=13" in why["steps"] and "does not add up" in why["steps"]
    with pytest.raises(AppError, match="problem too"):
        served.client.predict(RIGHT, "", api_name="/score")


@pytest.mark.parametrize(
    "completion,reference,reward,why",
    [
        (RIGHT, "172", "correctness", "answer 172 == 172"),
        ("<think>3+8+1=12 1+2+5+9=17</think><answer>171</answer>", "172", "correctness", "answer 171 != 172"),
        ("the answer is 172", "172", "correctness", "no <answer> tag"),
        ("<answer>172", "172", "correctness", "<answer> is never closed"),
        ("172</answer>", "172", "correctness", "</answer> without an <answer> before it"),
        ("<answer>seven</answer>", "7", "correctness", "answer 'seven' is not a number"),
        ("<answer>0172</answer>", " 172 ", "correctness", "answer 172 == 172"),
        (RIGHT, "172", "format", "well formed"),
        ("<think>3+8+1=12", "172", "format", "<think> is never closed"),
        ("<answer>172</answer> and more", "172", "format", "text after </answer>"),
        ("so <answer>172</answer>", "172", "format", "text before <answer>"),
        ("<answer>1</answer><answer>2</answer>", "2", "format", "more than one answer"),
        ("<think><answer>1</answer></think><answer>1</answer>", "1", "format", "a tag inside the scratchpad"),
        (RIGHT, "172", "steps", "all 2 steps add up"),
        ("<answer>172</answer>", "172", "steps", "no scratchpad"),
        (WRONG_STEP, "172", "steps", "step 1: 3+8+1=13 does not add up (3+8+1 is 12)"),
        ("<think>3+8+1=12 1+2+5+9=18</think><answer>182</answer>", "182", "steps", "step 2: 1+2+5+9=18 does not add up"),
        ("<think>3+8+1=12 carry 1</think><answer>172</answer>", "172", "steps", "step 2: 'carry' is not a short sum"),
        ("<think>²+1=3</think><answer>3</answer>", "3", "steps", "step 1: '²+1=3' is not a short sum"),
        ("<think></think><answer>172</answer>", "172", "steps", "the scratchpad is empty"),
        ("<think>3+8+1=12", "172", "steps", "never closed"),
    ],
)
def test_reward_explanations(completion, reference, reward, why):
    explained = {name: (value, reason) for name, value, reason in explain_rewards(completion, reference)}
    assert why in explained[reward][1]


@pytest.mark.parametrize(
    "completion",
    [
        RIGHT,
        WRONG_STEP,
        "",
        "<think>",
        "</answer><answer>",
        "<think>1+1=2</think>x<answer>2</answer>",
        "<answer>2</answer>\n",
        "1+1=2",
    ],
)
def test_explained_values_are_the_library_rewards(completion):
    _check_explanation(completion)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "1", "7", "+", "=", " ", "²", "x"]), max_size=30)
)
def test_explanations_hold_for_any_text(pieces):
    _check_explanation("".join(pieces))


def _check_explanation(completion: str) -> None:
    explained = {name: (value, reason) for name, value, reason in explain_rewards(completion, "2")}
    assert explained["correctness"][0] == correctness_reward([completion], answer=["2"])[0]
    assert explained["format"][0] == format_reward([completion])[0]
    assert explained["steps"][0] == (1.0 if steps_add_up(completion) else 0.0)
    # The reason never contradicts the value.
    assert ("well formed" in explained["format"][1]) == (explained["format"][0] == 1.0)
    assert bool(re.fullmatch(r"answer \S+ == \S+", explained["correctness"][1])) == (explained["correctness"][0] == 1.0)
    steps_fine = explained["steps"][1].startswith(("no scratchpad", "all "))
    assert steps_fine == (explained["steps"][0] == 1.0)


# --- load_run and `labkit demo` ------------------------------------------------------------------------


def _finished(run_dir, folder: str, stage: str, name: str) -> None:
    model, tokenizer = build_model(name)
    save_model(model, tokenizer, run_dir / folder)
    (run_dir / "stages").mkdir(exist_ok=True)
    (run_dir / "stages" / f"{stage}.json").write_text(json.dumps({"checkpoint": str(run_dir / folder)}))


def test_load_run_on_a_missing_folder_says_what_to_run(tmp_path):
    with pytest.raises(LabkitError, match=r"labkit run --profile quick"):
        load_run(tmp_path / "nowhere")


def test_load_run_on_an_incomplete_folder_names_what_is_missing(tmp_path):
    _finished(tmp_path, "teacher_base", "warmup_teacher", "student-xs")
    with pytest.raises(LabkitError, match=r"no finished student .*student_base/.*labkit run --profile quick"):
        load_run(tmp_path)


def test_load_run_prefers_grpo_and_sequence_kd_and_skips_unfinished_stages(tmp_path):
    _finished(tmp_path, "teacher_base", "warmup_teacher", "student-xs")
    _finished(tmp_path, "teacher_grpo", "grpo_teacher", "student-xs")
    _finished(tmp_path, "student_base", "warmup_student", "student-tiny")
    model, tokenizer = build_model("student-tiny")
    save_model(model, tokenizer, tmp_path / "student_sequence_kd")  # weights without a finished stage: stale
    teacher, student, tokenizer, names = load_run(tmp_path, device="cpu")
    assert names == ("teacher after GRPO", "student base")
    assert teacher.config.hidden_size == 32 and student.config.hidden_size == 16
    (tmp_path / "stages" / "student_sequence_kd.json").write_text("{}")
    assert load_run(tmp_path, device="cpu")[3] == ("teacher after GRPO", "student: sequence KD")


def test_labkit_demo_on_a_missing_run_is_one_error_line(capsys):
    assert cli.main(["demo", "--run", "/nonexistent"]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("labkit: error:") and "\n" not in error
    assert "labkit run --profile quick" in error


# --- 30 users at once ------------------------------------------------------------------------------------


def test_thirty_concurrent_compares_all_answer_with_honest_verdicts(served):
    """The app with its default queue and stream settings, 30 users at the same moment."""
    records = served.records[:30]
    app = build_app(served.teacher, served.student, served.tokenizer, records=served.records)
    client = _serve(app)

    def ask(record: dict) -> tuple[float, tuple]:
        start = time.perf_counter()
        result = client.submit(record["prompt"], 0.0, 48, 1, 0, api_name="/compare").result(timeout=300)
        return time.perf_counter() - start, result

    try:
        with ThreadPoolExecutor(max_workers=len(records)) as pool:
            answered = list(pool.map(ask, records))
    finally:
        client.close()
        app.close(verbose=False)
    for record, (_, (teacher_text, student_text, teacher_stats, student_stats)) in zip(records, answered):
        # Each user got the answer to their own problem: what each model says to it alone, greedy.
        prompt_ids = served.tokenizer(record["prompt"], add_special_tokens=False, return_tensors="pt").input_ids
        for model, text, stats in ((served.teacher, teacher_text, teacher_stats), (served.student, student_text, student_stats)):
            alone = AnswerStream(model, served.tokenizer, prompt_ids, max_new_tokens=48)
            while not alone.done:
                alone.step()
            assert text == alone.texts[0]
            assert _verdict(stats) == ("correct" if is_correct(text, record["answer"]) else "wrong")
    latencies = sorted(seconds for seconds, _ in answered)
    p95 = latencies[min(len(latencies) - 1, round(0.95 * (len(latencies) - 1)))]
    print(f"\n30 concurrent compare requests: median {statistics.median(latencies):.2f} s, p95 {p95:.2f} s")


# --- The port ------------------------------------------------------------------------------------------


@pytest.fixture
def busy_port():
    """A port something is already listening on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def _demo_error(capsys, *args: str) -> str:
    # The run folder does not exist: the port is checked first, before any model loads.
    assert cli.main(["demo", "--run", "/nonexistent", *args]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("labkit: error:") and "\n" not in error
    assert "labkit run --profile quick" not in error, "the port must be checked before the run folder"
    return error


def test_labkit_demo_with_a_port_out_of_range_is_one_error_line(capsys):
    error = _demo_error(capsys, "--port", "99999")
    assert "port 99999 is not a whole number between 1 and 65535" in error and "--port" in error


def test_labkit_demo_on_a_port_in_use_is_one_error_line(capsys, busy_port):
    error = _demo_error(capsys, "--port", str(busy_port))
    assert f"port {busy_port} on 127.0.0.1 is already in use" in error and "--port" in error


def _blank_app() -> gr.Blocks:
    with gr.Blocks() as app:
        gr.Markdown("labkit")
    return app


@pytest.mark.parametrize("port", [0, 99999, -1])
def test_launch_refuses_a_port_out_of_range(port):
    app = _blank_app()
    try:
        with pytest.raises(LabkitError, match=r"between 1 and 65535; pass --port"):
            launch(app, port=port, prevent_thread_lock=True, quiet=True)
    finally:
        app.close(verbose=False)


def test_launch_refuses_a_port_in_use(busy_port):
    app = _blank_app()
    try:
        with pytest.raises(LabkitError, match=rf"port {busy_port} on 127.0.0.1 is already in use"):
            launch(app, port=busy_port, prevent_thread_lock=True, quiet=True)
    finally:
        app.close(verbose=False)


def test_a_run_folder_says_which_task_the_demo_serves(tmp_path):
    import json

    from labkit.app.demo import run_task

    assert run_task(tmp_path).name == "sums"  # a folder from before tasks had names
    (tmp_path / "config.json").write_text(json.dumps({"task": "countdown", "task_spec": "countdown", "seed": 0}))
    assert run_task(tmp_path).name == "countdown"
    (tmp_path / "config.json").write_text(json.dumps({"task": "dates", "task_spec": "__main__:DaysLater", "seed": 0}))
    with pytest.raises(LabkitError, match="build_app"):
        run_task(tmp_path)


def test_when_the_models_fail_the_page_says_so_where_the_verdicts_were():
    _, tokenizer = build_model("student-tiny")

    class Failing(ScriptedLM):
        def forward(self, *args, **kwargs):
            raise RuntimeError("CUDA out of memory")

    app = build_app(Failing(tokenizer, RIGHT), Failing(tokenizer, RIGHT), tokenizer, records=[{"prompt": "1+2=", "answer": "3"}])
    updates, error = _updates(_handler(app, "compare"), "1+2=", 0.0, 8, 1, 0)
    assert isinstance(error, gr.Error) and "CUDA out of memory" in error.message
    assert updates[-1][2] == updates[-1][3] == f"**not answered:** {error.message}"
    # The next request is served by the same app (its batcher's worker lived on), and fails the same clear way.
    _, again = _updates(_handler(app, "compare"), "1+2=", 0.0, 8, 1, 0)
    assert isinstance(again, gr.Error)


def test_the_handlers_are_plain_functions_of_the_state_with_no_page():
    """`app.handlers` needs no gradio `Blocks`: a state built once, then each tab's handler called as a function;
    and the page's endpoints are those same functions, bound to the app's state."""
    from labkit.app import handlers

    teacher, tokenizer = build_model("student-xs")
    student, _ = build_model("student-tiny")
    records = read_records("test")[:6]
    state = handlers.DemoState.build(teacher, student, tokenizer, records=records, teacher_name="xs", student_name="tiny")
    assert state.max_prompt_chars == 64 and state.max_new_tokens_cap == 64 and state.example == records[0]["prompt"]
    (table,) = list(handlers.score(state, RIGHT, "3 + 8 + 1 ="))  # typed with spaces: the task's record of 3+8+1=
    assert list(table["reward"]) == ["correctness", "format", "steps"] and list(table["value"]) == [
        0.0,
        1.0,
        1.0,
    ]  # its steps add up
    updates, error = _updates(handlers.score, state, RIGHT, "")
    assert isinstance(error, gr.Error) and list(updates[0].columns) == handlers.SCORE_COLUMNS  # no stale table
    assert handlers.random_problem(state) in {r["prompt"] for r in records}
    answers = list(handlers.compare(state, records[0]["prompt"], 0.0, 4, 1, 0, stream_interval=0))[-1]
    assert len(answers) == 4 and all(_verdict(stats) in ("correct", "wrong") for stats in answers[2:])
    app = build_app(teacher, student, tokenizer, records=records)
    bound = _handler(app, "score")
    assert bound.func is handlers.score and bound.args == (app.labkit_state,)
    app.close(verbose=False)
