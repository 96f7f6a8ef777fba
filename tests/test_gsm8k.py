"""GSM8K, the real task: loading a local copy, reading a model's final number safely, the rewards."""

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.hub.chat import clipped_ratio
from labkit.runtime import LabkitError
from labkit.tasks.gsm8k import (
    chat_prompt,
    final_number,
    gsm8k_correctness_reward,
    gsm8k_format_reward,
    load_gsm8k,
    notes_add_up,
)
from labkit.tasks.gsm8k_sample import write_sample


def test_loader_reads_a_saved_dataset(tmp_path):
    from datasets import Dataset

    rows = [
        {"question": "Tom has 3 apples and buys 4. How many?", "answer": "3+4=7\n#### 7"},
        {"question": "A big number?", "answer": "work\n#### 1,200"},
    ]
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "gsm8k"))
    records = load_gsm8k(str(tmp_path / "gsm8k"))
    assert [r["answer"] for r in records] == ["7", "1200"]
    assert records[0]["prompt"].startswith("Tom") and records[0]["scratchpad"] == "3+4=7"


def test_loader_reads_gsm8k_format_jsonl_files_and_the_sample_is_made_byte_for_byte(tmp_path):
    from pathlib import Path

    write_sample(tmp_path)
    committed = Path(__file__).resolve().parent.parent / "data" / "gsm8k_sample"
    for split in ("train", "test"):
        assert (tmp_path / f"{split}.jsonl").read_bytes() == (committed / f"{split}.jsonl").read_bytes()
    records = load_gsm8k(str(committed), split="test")
    assert len(records) == 100
    for record in records:  # GSM8K's calculator notes <<a*b=c>> are right, and the last one is the answer
        notes = re.findall(r"<<(\d+)([-+*])(\d+)=(\d+)>>", record["scratchpad"])
        assert notes and all(
            int(c) == {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op] for a, op, b, c in notes
        )
        assert notes[-1][3] == record["answer"]


def test_loader_without_a_network_or_files_fails_with_one_clear_error():
    with pytest.raises(LabkitError, match="could not load GSM8K.*local copy"):
        load_gsm8k("no-such-org/no-such-dataset")


@pytest.mark.parametrize(
    "text, number",
    [
        ("so 3 + 4 = 7\n#### 7", "7"),
        ("#### 1,200", "1200"),
        ("#### $18.00 in total", "18"),
        ("#### -5", "-5"),
        ("#### 0.50", "0.5"),
        ("The answer is <answer>42</answer>", "42"),
        ("Therefore \\boxed{36}.", "36"),
        ("He pays 3 dollars, then 5, so 8 in all.", "8"),
        ("no number at all", None),
        ("the answer is 72, I think", "72"),
        ("so the total is 1000000000000000000000072", None),  # too long to be a number: not its last digits
        ("#### " + "8" * 10_000, None),  # the marker is past the tail that is read; the digits are no number
        ("#### seventy", None),
        ("", None),
        ("A: 2.3333333333333335", "2.3333333333333335"),  # a long decimal is read whole, never as its integer part
        ("#### 12.123456789", "12.123456789"),
        ("#### 72.", "72"),  # a full stop after the number
        ("the version is 1.2.3", None),  # no number: not 1.2, not 3
    ],
)
def test_final_number_reads_the_answer_the_way_graders_do(text, number):
    assert final_number(text) == number


def test_a_long_decimal_is_not_paid_as_its_integer_part():
    assert gsm8k_correctness_reward(["A: 2.3333333333333335"], answer=["2"]) == [0.0]
    assert gsm8k_correctness_reward(["#### 2.50"], answer=["2.5"]) == [1.0]


def test_rewards_take_chat_messages_and_grade_equal_values_as_equal():
    completions = [
        [{"role": "assistant", "content": "4*3=12\n#### 12"}],
        [{"role": "assistant", "content": "#### 12.0"}],
        "#### 13",
    ]
    assert gsm8k_correctness_reward(completions, answer=["12", "12", "12"]) == [1.0, 1.0, 0.0]
    assert gsm8k_format_reward(["work\n#### 12", "#### 12 apples", "12", "#### 12\n"]) == [1.0, 0.0, 0.0, 1.0]
    with pytest.raises(LabkitError, match="one entry per completion"):
        gsm8k_correctness_reward(["#### 1"], answer="1")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_rewards_never_crash_on_hostile_text(text):
    assert gsm8k_correctness_reward([text], answer=["7"])[0] in (0.0, 1.0)
    assert gsm8k_format_reward([text])[0] in (0.0, 1.0)


def test_rewards_return_quickly_on_adversarial_text():
    hostile = ["1," * 200_000, "#### " + "9" * 500_000, "\\boxed{" * 50_000, "<answer>" * 50_000 + "1", "1." * 200_000]
    start = time.process_time()
    rewards = gsm8k_correctness_reward(hostile, answer=["1"] * len(hostile)) + gsm8k_format_reward(hostile)
    assert time.process_time() - start < 2.0  # bounded by MAX_SCAN_CHARS, not by the input's size
    assert all(r in (0.0, 1.0) for r in rewards)


def test_prompt_and_clipped_ratio():
    messages = chat_prompt("What is 2+2?")
    assert [m["role"] for m in messages] == ["system", "user"] and "####" in messages[0]["content"]
    assert clipped_ratio([10, 256, 300, 5], 256) == 0.5


@pytest.mark.parametrize(
    "text, sound",
    [
        ("6*10 = <<6*10=60>>60, then 19+60 = <<19+60=79>>79\n#### 79", True),
        ("no notes at all\n#### 79", True),
        ("<<7/2=3.5>> and <<10-12=-2>>", True),
        ("6*12 = <<9*12=18>>56 pencils", False),  # a lucky final number over nonsense working
        ("<<2There are 7=588>>", False),  # malformed
        ("<<5/0=0>>", False),
        ("<<1+1=2>>" * 60, False),  # past MAX_NOTES
        # GSM8K's own notes: several operands, brackets, a leading dot, a sign, floor division
        ("<<2*3*4=24>> <<(12-2)*5=50>> <<1200*.2=240>> <<5-(-2)=7>> <<+30+46=76>> <<560//10=56>>", True),
        ("<<100/3=33.33>> and <<100/3=33>>", True),  # no exact decimal: rounded to the digits written
        ("<<100/3=33.4>>", False),  # not 100/3 to the digits it writes
        ("<<10/4=3>>", False),  # 2.5 has an exact decimal: a rounded result is a wrong one
        ("<<5/2=2>>", False),
        ("<<2+3*4=20>>", False),  # the order of operations holds
        ("<<2**3=8>>", False),  # not arithmetic this check reads: never eval'd
        ("<<(1+2=3>>", False),
        ("<<1+1>>", False),  # no result
    ],
)
def test_calculator_notes_are_checked_exactly(text, sound):
    assert notes_add_up(text) is sound


def test_notes_check_is_bounded_on_hostile_text():
    start = time.process_time()
    assert notes_add_up("<<" + "1" * 1_000_000 + "+1=2>>") is False
    assert notes_add_up("<<1+1=2>>" + "<" * 1_000_000) is False
    # Inside the note's length (160), so the parser itself meets them: within its tokens, and past them.
    assert notes_add_up("<<" + "(" * 39 + "1" + ")" * 39 + "=1>>") is False  # 79 tokens: past MAX_NOTE_TOKENS
    assert notes_add_up("<<" + "(-" * 9 + "1" + ")" * 9 + "=-1>>") is True  # nested minus signs, read exactly
    assert notes_add_up("<<" + "-" * 150 + "1=1>>") is False
    assert notes_add_up("<<" + "9" * 12 + "*9" * 19 + "=1>>") is False  # big products: exact, and quick
    assert time.process_time() - start < 2.0
