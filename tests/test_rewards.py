"""Rule rewards: the cases evaluation relies on (issue 3 adds the hostile-input properties)."""

import pytest

from labkit.rewards import correctness_reward, extract_answer, format_reward, normalize_answer


@pytest.mark.parametrize(
    "text,expected",
    [
        ("<answer>172</answer>", "172"),
        ("<think>1+1=2</think><answer> 172 </answer>", " 172 "),
        ("<answer>1</answer><answer>2</answer>", "2"),
        ("no tags", None),
        ("<answer>172", None),
        ("172</answer>", None),
    ],
)
def test_extract_answer_takes_the_last_complete_answer(text, expected):
    assert extract_answer(text) == expected


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("172", "172"),
        (" 0172 ", "172"),
        ("172.0", "172"),
        ("-0", "0"),
        ("+5", "5"),
        ("-12", "-12"),
        ("", None),
        ("1 7 2", "172"),
        ("١٧٢", None),
        ("1e3", None),
        ("12.5", None),
        ("9" * 100, None),
    ],
)
def test_normalize_answer(raw, expected):
    assert normalize_answer(raw) == expected


def test_correctness_reward_on_strings_and_chat_messages():
    completions = [
        "<answer>172</answer>",
        "<answer>171</answer>",
        [{"role": "assistant", "content": "<answer>0172</answer>"}],
        "junk",
    ]
    assert correctness_reward(completions, answer=["172"] * 4) == [1.0, 0.0, 1.0, 0.0]


def test_format_reward():
    good = ["<answer>1</answer>", "<think>1+2=3</think><answer>3</answer>", " <answer>3</answer>\n"]
    bad = [
        "<answer>1</answer>tail",
        "<think>1</think>",
        "<think><answer>1</answer>",
        "<answer>1</answer><answer>2</answer>",
        "<think>a<think>b</think><answer>1</answer>",
        "",
        "<answer>1<think></answer>",
    ]
    assert format_reward(good) == [1.0] * len(good)
    assert format_reward(bad) == [0.0] * len(bad)
