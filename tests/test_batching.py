"""The demo's batcher: users joined into one decode get the answers they would get alone."""

import threading

import pytest
import torch

from labkit.app.batching import DecodeBatcher
from labkit.app.streaming import AnswerStream
from labkit.models import build_model
from labkit.tasks import read_records


@pytest.fixture(scope="module")
def pair():
    teacher, tokenizer = build_model("student-xs", seed=1)
    student, _ = build_model("student-tiny", seed=2)
    return teacher, student, tokenizer


def alone(model, tokenizer, prompt: str, **settings) -> list[list[int]]:
    stream = AnswerStream(
        model, tokenizer, tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids, **settings
    )
    while not stream.done:
        stream.step()
    return stream.group.answer_ids


def test_joined_requests_get_what_each_prompt_gets_alone(pair):
    """Prompts of different lengths, greedy and sampled, k of 1 and 3, different caps, all submitted at once."""
    teacher, student, tokenizer = pair
    prompts = [r["prompt"] for r in read_records("test")[:12]] + ["1+2=", "123+456+789="]
    settings = [
        dict(k=1 + 2 * (i % 2), temperature=0.0 if i % 3 else 1.0, max_new_tokens=8 + i, seed=100 + i)
        for i in range(len(prompts))
    ]
    batcher = DecodeBatcher([teacher, student], tokenizer)
    requests = [batcher.submit(tokenizer(p, add_special_tokens=False).input_ids, **s) for p, s in zip(prompts, settings)]
    for request in requests:
        while not request.wait(1.0):
            pass
    assert batcher.waves < len(requests)  # they were joined, not answered one by one
    for prompt, setting, request in zip(prompts, settings, requests):
        for model, group in zip((teacher, student), request.groups):
            assert group.answer_ids == alone(model, tokenizer, prompt, **setting)
            assert all(len(ids) <= setting["max_new_tokens"] for ids in group.answer_ids)
            assert group.seconds > 0


def test_a_request_arriving_mid_wave_does_not_wait_for_it_and_gets_its_own_answer(pair):
    teacher, student, tokenizer = pair
    batcher = DecodeBatcher([teacher, student], tokenizer)
    ids = tokenizer("23+58+91=", add_special_tokens=False).input_ids
    first = batcher.submit(ids, max_new_tokens=40, k=4, temperature=1.0, seed=3)
    first.wait(0.0)  # its first tokens are out: the wave is running
    second = batcher.submit(tokenizer("5+7=", add_special_tokens=False).input_ids, max_new_tokens=40)
    while not second.wait(1.0):
        pass
    assert batcher.waves == 2
    assert second.groups[0].answer_ids == alone(teacher, tokenizer, "5+7=", max_new_tokens=40)
    while not first.wait(1.0):
        pass
    assert first.groups[1].answer_ids == alone(student, tokenizer, "23+58+91=", max_new_tokens=40, k=4, temperature=1.0, seed=3)


class Broken(torch.nn.Module):
    """A model whose forward pass fails, as an out-of-memory or a bad checkpoint would."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, **inputs):
        raise RuntimeError("the forward pass failed")


def test_a_failing_model_fails_its_requests_with_its_error_and_the_batcher_serves_on(pair):
    teacher, _, tokenizer = pair
    broken_batcher = DecodeBatcher([teacher, Broken()], tokenizer)
    request = broken_batcher.submit(tokenizer("1+2=", add_special_tokens=False).input_ids)
    with pytest.raises(RuntimeError, match="the forward pass failed"):
        request.wait(5.0)
    batcher = DecodeBatcher([teacher], tokenizer)
    assert batcher.submit([5, 6], max_new_tokens=3).wait(10.0)
    assert broken_batcher._worker.is_alive()  # the worker outlived the error


def test_a_cancelled_request_stops_at_the_next_token_and_its_wave_ends(pair):
    teacher, student, tokenizer = pair
    batcher = DecodeBatcher([teacher, student], tokenizer)
    request = batcher.submit(tokenizer("23+58+91=", add_special_tokens=False).input_ids, k=4, temperature=1.0, max_new_tokens=60)
    request.wait(0.0)  # its first tokens are out: the wave runs
    request.cancel()
    at_cancel = [group.tokens for group in request.groups]
    assert request.wait(0.0) and request.done
    # The next request finds no wave left running: it forms the second wave, and is answered.
    later = batcher.submit(tokenizer("5+7=", add_special_tokens=False).input_ids, max_new_tokens=5)
    while not later.wait(1.0):
        pass
    # At most the step in flight when the user left added a token a row: no row ran on to its cap.
    assert all(g.tokens <= t + g.k for g, t in zip(request.groups, at_cancel))
    assert all(len(ids) < 60 for g in request.groups for ids in g.answer_ids)
    assert batcher.waves == 2


def test_a_wave_that_cannot_be_built_fails_its_requests_and_the_worker_serves_on(pair):
    teacher, _, tokenizer = pair

    class NoWeights(torch.nn.Module):
        """No parameters: AnswerBatch cannot even find its device (as a failed cache allocation would fail)."""

    batcher = DecodeBatcher([NoWeights()], tokenizer)
    with pytest.raises(StopIteration):
        batcher.submit([5, 6], max_new_tokens=3).wait(5.0)
    batcher.models = [teacher]  # the same worker, now with a model that works
    assert batcher.submit([5, 6], max_new_tokens=3).wait(10.0)


def test_bad_settings_are_refused_in_the_callers_thread(pair):
    teacher, _, tokenizer = pair
    batcher = DecodeBatcher([teacher], tokenizer)
    for settings in (dict(k=0), dict(max_new_tokens=0)):
        with pytest.raises(ValueError, match="at least 1"):
            batcher.submit([5], **settings)
    assert batcher._worker is None  # nothing reached the worker


def test_more_rows_than_a_wave_holds_is_refused_in_one_line(pair):
    teacher, _, tokenizer = pair
    with pytest.raises(ValueError, match="lower k"):
        DecodeBatcher([teacher], tokenizer, max_rows=4).submit([5], k=8)


def test_waiting_handlers_wake_when_their_request_is_done(pair):
    teacher, student, tokenizer = pair
    batcher = DecodeBatcher([teacher, student], tokenizer)
    done = []

    def user(prompt: str) -> None:
        request = batcher.submit(tokenizer(prompt, add_special_tokens=False).input_ids, max_new_tokens=12)
        while not request.wait(0.01):
            pass
        done.append(request.groups[0].tokens)

    threads = [threading.Thread(target=user, args=(f"{i}+{i}=",)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(done) == 20 and all(0 < tokens <= 12 for tokens in done)


def test_the_demo_decodes_alike_on_the_labs_page_and_on_hfs_forward(pair, monkeypatch):
    """AnswerBatch on `llama_decode.Decoder` and on the model's own forward with HF's cache: the same answers."""
    from labkit import llama_decode
    from labkit.app.streaming import AnswerBatch, AnswerGroup

    teacher, _, tokenizer = pair

    def answers() -> list[list[list[int]]]:
        groups = [
            AnswerGroup(tokenizer(p, add_special_tokens=False).input_ids, k, t, cap, seed)
            for p, k, t, cap, seed in (("23+58+91=", 1, 0.0, 30, 0), ("1+2=", 3, 1.0, 12, 5), ("44+55+6=", 2, 0.7, 1, 9))
        ]
        batch = AnswerBatch(teacher, tokenizer, groups)
        while not batch.done:
            batch.step()
        return [g.answer_ids for g in groups]

    assert llama_decode.supports(teacher)
    on_the_page = answers()
    monkeypatch.setattr(llama_decode, "supports", lambda model: False)
    assert answers() == on_the_page
