"""The findings `labkit run` prints under its table: each verdict read from the run's own numbers."""

from labkit.run.profiles import get_profile
from labkit.run.report import r1_findings


def _eval(accuracy, think, direct, length=6.0, scratchpad=0.0):
    return {
        "accuracy": accuracy,
        "forced_think_accuracy": think,
        "forced_direct_accuracy": direct,
        "mean_length": length,
        "scratchpad_share": scratchpad,
        "sampled_scratchpad_share": scratchpad,
        "problems": 500,
    }


def _results(teacher_think_after=0.84, distilled=0.85, rl=0.10, distilled_direct=0.0, truth=0.70):
    return {
        "eval_teacher_base": _eval(0.126, 0.834, 0.126),
        "eval_teacher_grpo": _eval(0.80, teacher_think_after, 0.10, length=26.7, scratchpad=1.0),
        "eval_student_base": _eval(0.08, 0.01, 0.08),
        "eval_student_sequence_kd": _eval(distilled, distilled, distilled_direct, length=26.6, scratchpad=1.0),
        "eval_student_grpo": _eval(rl, 0.0, rl),
        "eval_student_ground_truth": _eval(truth, truth, 0.0, length=26.6, scratchpad=1.0),
        "student_sequence_kd": {"seconds": 70.0, "train_flops": 2.6e12},
        "student_grpo": {"seconds": 55.0, "train_flops": 0.7e12},
    }


PROFILE = get_profile("default")


def test_each_finding_is_read_from_the_numbers():
    lines = "\n".join(r1_findings(_results(), PROFILE))
    assert "greedy accuracy 12.6% -> 80.0% (rose)" in lines
    assert "scratchpad 0% -> 100% greedy" in lines
    assert "stayed level" in lines and "83.4% before GRPO and 84.0% after" in lines
    assert "distillation (sequence KD) beat RL on the student (GRPO only) (85.0% vs 10.0%" in lines
    assert "made to answer directly: 0.0% (greedy 85.0%): its skill lives in the steps it writes" in lines
    assert "the teacher's traces beat the task's true traces" in lines
    assert "sequence KD 70 s, 2.60 TFLOP; GRPO only 55 s, 0.70 TFLOP" in lines


def test_the_verdicts_turn_with_the_numbers():
    fell = "\n".join(r1_findings(_results(teacher_think_after=0.70), PROFILE))
    assert "fell; GRPO chose the scratchpad more often, and what it writes inside got worse" in fell
    rose = "\n".join(r1_findings(_results(teacher_think_after=0.95), PROFILE))
    assert "rose; GRPO chose the scratchpad more often, and the reasoning itself got better" in rose
    tied = "\n".join(r1_findings(_results(distilled=0.12, rl=0.10, distilled_direct=0.11), PROFILE))
    assert "tied with RL on the student" in tied and "no worse without its steps" in tied
    lost = "\n".join(r1_findings(_results(distilled=0.10, rl=0.60), PROFILE))
    assert "lost to RL on the student" in lost


def test_whether_grpo_chose_the_scratchpad_is_read_not_assumed():
    # Notebook 07's dates task: the teacher thought less after GRPO (sampled 18% -> 5%), made to think it stayed level.
    results = _results()
    results["eval_teacher_base"] = _eval(0.896, 0.862, 0.896, scratchpad=0.18)
    results["eval_teacher_grpo"] = _eval(0.882, 0.858, 0.882, scratchpad=0.05)
    lines = "\n".join(r1_findings(results, PROFILE))
    assert "GRPO chose the scratchpad less often" in lines and "more often" not in lines


def test_a_run_that_stopped_early_prints_only_what_it_made():
    partial = {key: value for key, value in _results().items() if "student" not in key or key == "eval_student_base"}
    lines = r1_findings(partial, PROFILE)
    assert len(lines) == 2 and lines[0].startswith("R1-Zero on the teacher")
    assert r1_findings({}, PROFILE) == []
