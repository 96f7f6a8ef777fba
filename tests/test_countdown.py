"""Countdown as a task: generator, solver, process check, splits, and the Task interface's seams."""

import filecmp
import itertools
import random
from fractions import Fraction

import pytest

from labkit.rewards import format_reward
from labkit.runtime import LabkitError
from labkit.tasks import DATA_DIR, Countdown, Task, completion, get_task, make_splits, read_records, task_of, write_splits
from labkit.tasks.countdown import check_plan_steps, evaluate_expression, plans, reachable

TASK = Countdown()


def test_worked_example_from_the_docstring():
    record = TASK.record(((3, 7, 5), 26))
    assert record["prompt"] == "3 7 5>26:"
    assert record["numbers"] == [3, 7, 5] and record["target"] == 26
    text = completion(record, scratchpad=True)
    assert TASK.check_answer(text, record).ok
    assert TASK.check_steps(text, record).ok
    assert TASK.check_answer("<think>3*7=21 21+5=26</think><answer>3*7+5</answer>", record).ok
    assert "3*7+5" in TASK.solutions(record) or "5+3*7" in TASK.solutions(record)


def brute_force_values(numbers):
    """Every value of every bracketing and order of `numbers` with + - * / (exact), each once."""
    if len(numbers) == 1:
        return {Fraction(numbers[0])}
    values = set()
    for order in itertools.permutations(numbers):
        for split in range(1, len(order)):
            for a in brute_force_values(order[:split]):
                for b in brute_force_values(order[split:]):
                    values |= {a + b, a - b, a * b} | ({a / b} if b else set())
    return values


@pytest.mark.parametrize("seed", range(5))
def test_every_plan_is_right_and_reaches_only_what_brute_force_reaches(seed):
    rng = random.Random(seed)
    for _ in range(40):
        numbers = tuple(rng.randint(1, 15) for _ in range(3))
        found = plans(numbers)
        for plan in found:
            value, used = evaluate_expression(plan.expression)
            assert value == plan.value and sorted(used) == sorted(numbers)
            steps = f"<think>{' '.join(plan.steps)}</think><answer>{plan.expression}</answer>"
            assert check_plan_steps(steps, list(numbers)).ok, steps
        # Whole positive steps reach a subset of all values (the sum and product always among them).
        assert sum(numbers) in {p.value for p in found}
        assert numbers[0] * numbers[1] * numbers[2] in {p.value for p in found}
        assert {Fraction(p.value) for p in found} <= brute_force_values(numbers)


def test_records_are_solvable_and_their_reference_completions_pass_every_check():
    for record in read_records("validation", "countdown")[:200]:
        assert 1 <= record["target"] <= TASK.max_target
        for scratchpad in (True, False):
            text = completion(record, scratchpad=scratchpad)
            assert TASK.is_correct(text, record) and format_reward([text]) == [1.0]
            assert TASK.check_steps(text, record).ok
        assert record["answer"] in TASK.solutions(record)
        assert all(TASK.is_correct(f"<answer>{s}</answer>", record) for s in TASK.solutions(record))


@pytest.mark.parametrize(
    "thought,reason",
    [
        ("3*7=22 22+5=27", "wrong"),
        ("3*7=21 21+9=30", "not on the table"),  # 9 was never given
        ("3*7=21 21+3=24", "not on the table"),  # 3 used twice
        ("3*7", "not one operation"),
        ("", "empty"),
        ("7-9=0", "wrong"),  # a negative step is not a whole positive step
    ],
)
def test_process_check_names_the_bad_step(thought, reason):
    verdict = TASK.check_steps(f"<think>{thought}</think><answer>1</answer>", {"numbers": [3, 7, 5]})
    assert not verdict.ok and reason in verdict.reason


def test_verdicts_say_why_an_answer_is_wrong():
    record = {"numbers": [3, 7, 5], "target": 26}
    assert "not 26" in TASK.check_answer("<answer>3+7+5</answer>", record).reason
    assert "not each of" in TASK.check_answer("<answer>3*7</answer>", record).reason
    assert "not allowed" in TASK.check_answer("<answer>__import__('os')</answer>", record).reason
    assert "no <answer>" in TASK.check_answer("26", record).reason


def test_correctness_reward_takes_trl_columns_and_extras():
    records = read_records("test", "countdown")[:3]
    texts = [completion(r, scratchpad=False) for r in records]
    columns = {key: [r[key] for r in records] for key in records[0] if key != "prompt"}
    extras = {"prompts": [r["prompt"] for r in records], "completion_ids": [[1]] * 3, "trainer_state": None}
    assert TASK.correctness_reward(texts, **columns, **extras) == [1.0, 1.0, 1.0]
    assert TASK.correctness_reward(["<answer>1+1</answer>"] * 3, **columns) == [0.0, 0.0, 0.0]
    with pytest.raises(LabkitError, match="values of target"):
        TASK.correctness_reward(texts, numbers=columns["numbers"], target=columns["target"][:2])


def test_splits_are_disjoint_and_regenerate_byte_for_byte(tmp_path):
    keys = {}
    for split, size in TASK.split_sizes.items():
        records = read_records(split, "countdown")
        keys[split] = {(*sorted(r["numbers"]), r["target"]) for r in records}
        assert len(records) == size == len(keys[split])
    assert not keys["test"] & keys["train"] and not keys["validation"] & keys["train"]
    for path in write_splits(tmp_path, task="countdown"):
        assert filecmp.cmp(path, DATA_DIR / "countdown" / path.name, shallow=False)


def test_majority_vote_counts_expressions_and_judges_them_by_the_rule():
    from labkit.evaluate import majority_answer, majority_right

    record = {"numbers": [3, 7, 5], "target": 26}
    votes = ["<answer>3*7+5</answer>", "<answer> 3*7+5 </answer>", "<answer>5+7*3</answer>"]
    assert majority_answer(votes, TASK) == "3*7+5"
    assert majority_right(votes, record, TASK)
    assert not majority_right(["<answer>3+7+5</answer>"] * 2, record, TASK)


def test_records_name_their_task_and_a_mismatch_is_an_error():
    sums, countdown = read_records("test")[:2], read_records("test", "countdown")[:2]
    assert task_of(sums).name == "sums" and task_of(countdown).name == "countdown"
    with pytest.raises(LabkitError, match="not 'sums'"):
        task_of(countdown, "sums")
    with pytest.raises(LabkitError, match="unknown task"):
        get_task("chess")
    with pytest.raises(LabkitError, match="count"):
        Countdown(count=7)


class Shout(Task):
    """A task the tiny tokenizer cannot spell: letters."""

    name = "shout"
    split_sizes = {"train": 5, "validation": 2, "test": 2}

    def sample_problem(self, rng):
        return rng.randint(0, 10**6)

    def prompt(self, n):
        return f"say {n}="

    def answer(self, n):
        return str(n)

    def scratchpad(self, n):
        return str(n)


def test_a_task_outside_the_alphabet_fails_early_in_one_line():
    with pytest.raises(LabkitError, match="cannot spell"):
        make_splits(Shout())
    with pytest.raises(LabkitError, match="folder"):
        get_task(type("Bad", (Shout,), {"name": "a/b"})())


@pytest.mark.parametrize("count", [2, 3, 4])
def test_reachable_values_are_exactly_the_values_of_the_plans(count):
    rng = random.Random(count)
    for _ in range(40 if count < 4 else 8):
        numbers = tuple(rng.randint(1, 15) for _ in range(count))
        assert reachable(numbers) == {plan.value for plan in plans(numbers)}, numbers


def test_countdown4_is_the_four_number_game_with_its_own_splits():
    task = get_task("countdown4")
    assert task.count == 4 and task.out_of_distribution() == {}
    records = read_records("test", task)
    assert len(records) == 1000 and all(len(r["numbers"]) == 4 and r["task"] == "countdown4" for r in records)
    assert all(task.is_correct(completion(r, scratchpad=True), r) for r in records[:50])
    assert task.max_completion_length > get_task("countdown").max_completion_length
    # the 3-number game's out-of-distribution variant is this game
    assert get_task("countdown").out_of_distribution()["4 numbers"].count == 4
