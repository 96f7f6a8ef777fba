"""Rule rewards: hand-written cases, hostile inputs, and hypothesis properties (range, no exception, time)."""

import time
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from labkit.rewards import (
    correctness_reward,
    extract_answer,
    format_reward,
    length_heuristic_reward,
    normalize_answer,
    steps_add_up,
    steps_reward,
)
from labkit.tasks.countdown import UnsafeExpression, countdown_reward, evaluate_expression


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


# --- Countdown verifier ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expression,target,expected",
    [
        ("3*7+5", 26, 1.0),
        ("(3*7)+5", 26, 1.0),
        ("5+7*3", 26, 1.0),
        ("3*(7+5)", 26, 0.0),  # 36
        ("3*7+5+0", 26, 0.0),  # 0 is not one of the numbers
        ("3*7", 21, 0.0),  # 5 unused
        ("3*7+5+5", 31, 0.0),  # 5 used twice
        ("(7-3)/2*5", 10, 0.0),  # 2 is not one of the numbers
    ],
)
def test_countdown_reward_cases(expression, target, expected):
    completion = f"<answer>{expression}</answer>"
    assert countdown_reward([completion], numbers=[[3, 7, 5]], target=[target]) == [expected]


def test_countdown_division_is_exact():
    assert countdown_reward(["<answer>(7+5)/3</answer>"], numbers=[[7, 5, 3]], target=[4]) == [1.0]
    assert countdown_reward(["<answer>7/2+5</answer>"], numbers=[[7, 2, 5]], target=[8]) == [0.0]  # 8.5
    assert evaluate_expression("7/2*2")[0] == Fraction(7)


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "9**9**9",
        "2**10",
        "7//2",
        "-3+5",
        "1.5*2",
        "1e3",
        "x+1",
        "[1]",
        "1;2",
        "(" * 60 + "1" + ")" * 60,
        "9" * 13,
        "999999*999999*999999",
        "1/0",
        "",
        "   ",
        "1 +",
        "１+２",
    ],
)
def test_unsafe_or_invalid_expressions_are_refused(expression):
    with pytest.raises(UnsafeExpression):
        evaluate_expression(expression)


# --- Every reward, any input: range, no exception, bounded time --------------------------------

HOSTILE = [
    "",
    "\x00\xff\ud7ff" * 1000,
    "<answer>" * 10_000,
    "</answer>" * 10_000 + "<answer>",
    "<answer>" + "9" * 2_000_000 + "</answer>",
    "<answer>" + " " * 2_000_000 + "1</answer>",
    "<answer>١٧٢</answer>",
    "<answer>１７２</answer>",
    "<think><think><answer>1</answer></think></think><answer>2</answer>",
    "<answer><answer>172</answer></answer>",
    "<answer>9**9**9**9</answer>",
    "<answer>" + "(" * 100_000 + "</answer>",
    "<answer>" + "1+" * 500_000 + "1</answer>",
    "<answer>__import__('os').system('echo pwned')</answer>",
    "<answer>1e308*1e308</answer>",
    "🙂" * 100_000,
    "<think>" + "x" * 3_000_000,
]


def all_rewards(text):
    return (
        correctness_reward([text], answer=["172"])
        + format_reward([text])
        + countdown_reward([text], numbers=[[3, 7, 5]], target=[26])
        + correctness_reward([[{"role": "assistant", "content": text}]], answer=["172"])
        + steps_reward([text])
    )


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_inputs_give_a_reward_in_range_quickly(text):
    start = time.perf_counter()
    values = all_rewards(text)
    # A generous bound: these scans are linear; a regex or eval would take far longer or crash.
    assert time.perf_counter() - start < 5.0
    assert all(isinstance(v, float) and 0.0 <= v <= 1.0 for v in values)


def test_rewards_accept_odd_completion_shapes():
    odd = [None, 172, [], [{"role": "assistant"}], [{"role": "assistant", "content": None}], [1, 2]]
    assert correctness_reward(odd, answer=["172"] * len(odd)) == [0.0] * len(odd)
    assert format_reward(odd) == [0.0] * len(odd)


text_with_tags = st.lists(
    st.one_of(
        st.sampled_from(["<think>", "</think>", "<answer>", "</answer>", "+", "*", "/", "(", ")", " "]), st.text(max_size=8)
    ),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=2000), st.binary(max_size=500).map(lambda b: b.decode("latin-1")), text_with_tags))
def test_any_text_gets_a_reward_in_range(text):
    assert all(0.0 <= v <= 1.0 for v in all_rewards(text))


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_every_spelling_of_the_right_number_is_correct(n):
    for spelling in (str(n), f" {n} ", f"0{n}", f"{n}.0"):
        assert correctness_reward([f"<answer>{spelling}</answer>"], answer=[str(n)]) == [1.0]
    assert correctness_reward([f"<answer>{n + 1}</answer>"], answer=[str(n)]) == [0.0]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=100), min_size=2, max_size=4), st.data())
def test_countdown_accepts_any_true_expression_over_the_numbers(numbers, data):
    """Build a random expression over the numbers, compute its value ourselves, check the verifier agrees."""
    order = data.draw(st.permutations(numbers))
    expression, value = str(order[0]), Fraction(order[0])
    for n in order[1:]:
        op = data.draw(st.sampled_from("+-*"))
        expression = f"({expression}){op}{n}"
        value = {"+": value + n, "-": value - n, "*": value * n}[op]
    target = int(value)
    assert countdown_reward([f"<answer>{expression}</answer>"], numbers=[numbers], target=[target]) == [1.0]


def test_thousands_separators_and_newlines_in_expressions():
    assert correctness_reward(["<answer>1,000</answer>", "<answer>1,00</answer>"], answer=["1000", "100"]) == [1.0, 0.0]
    assert countdown_reward(["<answer>\n(1+2)*3\n</answer>"], numbers=[[1, 2, 3]], target=[9]) == [1.0]


def test_misshapen_data_columns_fail_clearly():
    from labkit.runtime import LabkitError

    with pytest.raises(LabkitError, match="one entry per completion"):
        correctness_reward(["<answer>172</answer>"], answer="172")
    with pytest.raises(LabkitError, match="2 completions but 1"):
        correctness_reward(["a", "b"], answer=["1"])
    with pytest.raises(LabkitError, match="max_chars"):
        length_heuristic_reward(["abc"], max_chars=0)


def test_random_reward_control_ignores_the_text_and_keeps_its_mean():
    from labkit.rewards import make_random_reward

    reward = make_random_reward(0.3, seed=1)
    values = reward(["<answer>1</answer>"] * 5000)
    assert abs(sum(values) / 5000 - 0.3) < 0.03
    assert make_random_reward(0.3, seed=1)(["x"] * 50) == make_random_reward(0.3, seed=1)(["y"] * 50)
    with pytest.raises(Exception, match="probability"):
        make_random_reward(1.5)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<think>3+8+1=12 1+2+5+9=17</think><answer>172</answer>", True),
        ("<answer>172</answer>", True),  # no scratchpad, nothing to check
        ("<think>3+8+1=13 1+2+5+9=17</think><answer>172</answer>", False),  # right answer, wrong step
        ("<think>3+8+1=12 1+2+5+9=17", False),  # cut off
        ("<think></think><answer>1</answer>", False),
        ("<think>3+8+1=12 then carry</think><answer>1</answer>", False),
        ("<think>3+8+1=12 1+2+5+9=1e1</think><answer>1</answer>", False),
        ("<think>" + "1+" * 5000 + "1=5001</think>", False),  # beyond the caps
    ],
)
def test_steps_add_up_is_a_process_check(text, expected):
    assert steps_add_up(text) is expected
    assert steps_reward([text]) == [float(expected)]
