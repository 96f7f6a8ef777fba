"""The tasks: the sums' generator and scratchpads, multiplication, and what every task promises (data/TASK/)."""

import filecmp
import random

import pytest

from labkit.rewards import is_correct, is_well_formed
from labkit.runtime import LabkitError
from labkit.tasks import (
    DATA_DIR,
    SPLIT_SIZES,
    TASKS,
    ColumnSums,
    Multiply,
    completion,
    get_task,
    load_split,
    make_splits,
    read_records,
    write_splits,
)


def test_worked_example_from_the_docstring():
    task = ColumnSums()
    assert task.prompt((23, 58, 91)) == "23+58+91="
    assert task.answer((23, 58, 91)) == "172"
    assert task.scratchpad((23, 58, 91)) == "3+8+1=12 1+2+5+9=17"


def answer_from_scratchpad(scratchpad: str) -> str:
    """Read the answer off a column scratchpad: last total, then earlier units, last to first."""
    totals = [step.split("=")[1] for step in scratchpad.split()]
    return totals[-1] + "".join(t[-1] for t in reversed(totals[:-1]))


@pytest.mark.parametrize("digits,operands", [(1, 2), (2, 3), (3, 3), (3, 4), (4, 5)])
def test_scratchpad_always_reaches_the_sum(digits, operands):
    task = ColumnSums(digits=digits, num_operands=operands)
    rng = random.Random(0)
    for _ in range(300):
        numbers = task.sample_problem(rng)
        assert all(len(str(n)) == digits for n in numbers if digits > 1)
        assert int(answer_from_scratchpad(task.scratchpad(numbers))) == sum(numbers)


def test_reference_completions_are_correct_and_well_formed():
    for record in read_records("validation")[:200]:
        for scratchpad in (True, False):
            text = completion(record, scratchpad=scratchpad)
            assert is_correct(text, record["answer"])
            assert is_well_formed(text)


def test_bad_difficulty_knobs_fail_clearly():
    with pytest.raises(LabkitError, match="digits"):
        ColumnSums(digits=0)
    with pytest.raises(LabkitError, match="num_operands"):
        ColumnSums(num_operands=1)


def test_splits_have_fixed_sizes_and_are_disjoint_in_any_order():
    keys = {}
    for split, size in SPLIT_SIZES.items():
        records = read_records(split)
        assert len(records) == size
        keys[split] = {tuple(sorted(r["operands"])) for r in records}
        assert len(keys[split]) == size, f"duplicate problems in {split}"
    assert not keys["test"] & keys["train"]
    assert not keys["validation"] & keys["train"]
    assert not keys["test"] & keys["validation"]


def test_shipped_files_regenerate_byte_for_byte(tmp_path):
    for path in write_splits(tmp_path):
        assert filecmp.cmp(path, DATA_DIR / "sums" / path.name, shallow=False), f"{path.name} differs from the generator"


def test_generator_is_deterministic_and_seed_dependent():
    small = {"train": 50, "validation": 5, "test": 5}
    assert make_splits(sizes=small, seed=7) == make_splits(sizes=small, seed=7)
    assert make_splits(sizes=small, seed=7) != make_splits(sizes=small, seed=8)


def test_load_split_gives_a_dataset_with_trl_columns():
    data = load_split("test", limit=10)
    assert len(data) == 10
    assert {"prompt", "answer"} <= set(data.column_names)
    assert data[0]["prompt"].endswith("=")


def test_missing_data_folder_regenerates_in_memory(monkeypatch, tmp_path):
    import labkit.tasks as tasks

    monkeypatch.setattr(tasks, "DATA_DIR", tmp_path / "nowhere")
    assert tasks.read_records("validation") == read_records("validation")


def test_unknown_split_and_missing_explicit_folder_fail_clearly(tmp_path):
    with pytest.raises(LabkitError, match="unknown split"):
        read_records("dev")
    with pytest.raises(LabkitError, match="labkit data"):
        read_records("test", data_dir=tmp_path)


def test_too_many_problems_for_the_space_fails_clearly():
    with pytest.raises(LabkitError, match="unique"):
        make_splits(ColumnSums(digits=1, num_operands=2), sizes={"test": 10, "validation": 10, "train": 100})


# --- Every registered task keeps the interface's promises --------------------------------------


@pytest.mark.parametrize("name", sorted(TASKS))
def test_every_task_keeps_the_interface_promises(name, tmp_path):
    """Reference completions are right, well formed, pass the process check and fit the task's
    completion length; the splits are disjoint by problem key and regenerate byte for byte."""
    from labkit.tokenizer import build_tokenizer

    task, tokenizer = get_task(name), build_tokenizer()
    for record in read_records("validation", task)[:300]:
        assert record["task"] == name and record["prompt"].endswith(task.prompt_end)
        for scratchpad in (True, False):
            text = completion(record, scratchpad=scratchpad)
            assert task.is_correct(text, record) and is_well_formed(text) and task.check_steps(text, record).ok
            assert len(tokenizer(text, add_special_tokens=False).input_ids) + 1 <= task.max_completion_length
        assert task.is_correct(f"<answer>{task.answer_key(completion(record, scratchpad=False))}</answer>", record)
        assert not task.is_correct("<answer>0</answer><answer>x</answer>", record)
    keys = {split: {task.problem_key(_problem(task, r)) for r in read_records(split, task)} for split in SPLIT_NAMES}
    assert not keys["test"] & keys["train"] and not keys["validation"] & keys["train"]
    for path in write_splits(tmp_path, task=name):
        assert filecmp.cmp(path, DATA_DIR / name / path.name, shallow=False), f"{name}/{path.name} differs from the generator"


SPLIT_NAMES = ("train", "validation", "test")


def _problem(task, record):
    """A record's problem, as the task's generator made it."""
    if "numbers" in record:  # Countdown, 3 or 4 numbers
        return tuple(record["numbers"]), record["target"]
    return tuple(record["operands"])


def test_multiplication_worked_example_and_its_process_check():
    task = Multiply()
    assert task.prompt((347, 28)) == "347*28="
    assert task.scratchpad((347, 28)) == "347*8=2776 347*20=6940 2776+6940=9716"
    assert task.scratchpad((347, 20)) == "347*0=0 347*20=6940 0+6940=6940"  # every problem of a size has 3 steps
    assert "is wrong" in task.check_steps("<think>347*8=2777</think><answer>1</answer>").reason
    assert "not a product" in task.check_steps("<think>347*8=2776 carry</think><answer>1</answer>").reason
    assert task.record_of_prompt("12*3=")["answer"] == "36" and task.record_of_prompt("12+3=") is None


def test_the_sums_plain_rewards_are_the_task_rewards_on_model_like_text():
    """`rewards.correctness_reward`/`format_reward` (the functions notebooks 00-03 show) and the sums Task's
    rewards (what `labkit run` trains on) are one rule reached two ways: they agree on every text, hostile or not."""
    from labkit.rewards import correctness_reward, format_reward
    from labkit.tasks import get_task, read_records

    task, records = get_task("sums"), read_records("test")[:200]
    texts = [task.reference_completion(r, scratchpad=i % 2 == 0) for i, r in enumerate(records)]
    texts += ["<answer>1,000</answer>", "<think>1+2=3</think><answer>3", "<answer>" + "9" * 5000 + "</answer>", "", "3"]
    answers = [r["answer"] for r in records] + ["1000", "3", "9", "0", "3"]
    wrong = [str(int(a) + 1) if a.isdigit() else a for a in answers]
    for answer in (answers, wrong):
        assert task.correctness_reward(texts, answer=answer) == correctness_reward(texts, answer=answer)
    assert task.format_reward(texts) == format_reward(texts)
    assert sum(task.correctness_reward(texts, answer=answers)) >= len(records)  # the references are right
