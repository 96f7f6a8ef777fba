"""Evaluation metrics, checked on mock models whose answers we choose."""

import pytest
import torch

from labkit.evaluate import evaluate, majority_answer
from labkit.tasks import completion, read_records
from labkit.tokenizer import build_tokenizer


class ScriptedModel(torch.nn.Module):
    """A stand-in with `generate`: answers each prompt with a completion we choose.

    `script(prompt, sample_index, greedy)` returns the completion text; the
    mock turns it into tokens followed by EOS, as a model would.
    """

    def __init__(self, tokenizer, script):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.tokenizer, self.script, self.calls = tokenizer, script, {}

    def generate(self, input_ids, attention_mask, max_new_tokens, do_sample, **kwargs):
        rows = []
        for ids, mask in zip(input_ids, attention_mask):
            prompt = self.tokenizer.decode(ids[mask.bool()])
            index = self.calls.get((prompt, do_sample), 0)
            self.calls[(prompt, do_sample)] = index + 1
            text = self.script(prompt, index, not do_sample)
            rows.append(
                ids.tolist() + self.tokenizer(text, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
            )
        width = max(len(r) for r in rows)
        return torch.tensor([r + [self.tokenizer.pad_token_id] * (width - len(r)) for r in rows])


RECORDS = read_records("test")[:20]
BY_PROMPT = {r["prompt"]: r for r in RECORDS}


def _record(prompt):
    return BY_PROMPT[prompt.removesuffix("<think>").removesuffix("<answer>")]


def test_an_oracle_scores_perfectly_and_its_groups_have_zero_variance():
    tokenizer = build_tokenizer()
    model = ScriptedModel(tokenizer, lambda p, i, greedy: completion(_record(p), scratchpad=False))
    metrics = evaluate(model, tokenizer, RECORDS, k=4, forced=False)
    assert metrics["accuracy"] == metrics["pass@4"] == metrics["maj@4"] == metrics["sampled_accuracy"] == 1.0
    assert metrics["frac_zero_std"] == metrics["frac_all_correct"] == 1.0
    assert metrics["frac_all_wrong"] == 0.0
    assert metrics["scratchpad_share"] == 0.0
    # <answer>, 3 digits, </answer>, EOS (a few sums have 2 digits).
    assert 5.0 <= metrics["mean_length"] <= 6.0


def test_one_right_sample_in_four_gives_pass_but_not_majority_and_mixed_groups():
    tokenizer = build_tokenizer()

    def script(prompt, index, greedy):
        record = _record(prompt)
        if greedy or index % 4 == 0:
            return completion(record, scratchpad=True)
        return f"<answer>{int(record['answer']) + 1}</answer>"

    metrics = evaluate(ScriptedModel(tokenizer, script), tokenizer, RECORDS, k=4, forced=False)
    assert metrics["accuracy"] == 1.0 and metrics["scratchpad_share"] == 1.0
    assert metrics["pass@4"] == 1.0
    assert metrics["maj@4"] == 0.0  # three equal wrong answers outvote the right one
    assert metrics["sampled_accuracy"] == pytest.approx(0.25)
    assert metrics["sampled_scratchpad_share"] == pytest.approx(0.25)
    assert metrics["frac_zero_std"] == 0.0


def test_forced_prefixes_measure_each_mode_separately():
    tokenizer = build_tokenizer()

    def script(prompt, index, greedy):
        record = _record(prompt)
        if prompt.endswith("<think>"):  # right whenever it thinks
            return completion(record, scratchpad=True).removeprefix("<think>")
        if prompt.endswith("<answer>"):  # always wrong when answering directly
            return "0</answer>"
        return completion(record, scratchpad=False)

    metrics = evaluate(ScriptedModel(tokenizer, script), tokenizer, RECORDS, k=0, forced=True)
    assert metrics["forced_think_accuracy"] == 1.0
    assert metrics["forced_direct_accuracy"] == 0.0
    assert "pass@0" not in metrics


def test_majority_answer_normalises_and_ignores_unparseable():
    assert majority_answer(["<answer>012</answer>", "<answer>12</answer>", "<answer>13</answer>", "junk"]) == "12"
    assert majority_answer(["junk", "<answer>x</answer>"]) is None


def test_real_model_metrics_are_in_range_and_reproducible(student):
    model, tokenizer = student
    a = evaluate(model, tokenizer, RECORDS[:8], k=2, max_new_tokens=8, seed=3)
    b = evaluate(model, tokenizer, RECORDS[:8], k=2, max_new_tokens=8, seed=3)
    for key in ("accuracy", "pass@2", "maj@2", "sampled_accuracy", "frac_zero_std", "scratchpad_share"):
        assert 0.0 <= a[key] <= 1.0
        assert a[key] == b[key]
    assert a["tokens_per_s"] > 0
