"""The group explorer builds, resamples and colours advantages by sign."""

from labkit.course.widgets import GroupExplorer, group_table_html, score_group
from labkit.tasks import read_records


def test_score_group_and_table_colours():
    texts = ["<answer>172</answer>", "<answer>171</answer>", "junk", "<think>3+8+1=12 1+2+5+9=17</think><answer>172</answer>"]
    rewards, advantages = score_group(texts, "172")
    assert rewards["correct"] == [1.0, 0.0, 0.0, 1.0]
    assert rewards["format"] == [1.0, 1.0, 0.0, 1.0]
    assert advantages["group"][0] > 0 > advantages["group"][2]
    table = group_table_html(texts, rewards, advantages)
    assert "#2e7d32" in table and "#c62828" in table and "&lt;answer&gt;" in table


def test_explorer_resamples_with_its_controls(student):
    model, tokenizer = student
    explorer = GroupExplorer(model, tokenizer, read_records("test")[:5], max_new_tokens=6)
    explorer.group_size.value = 3  # triggers a resample through the observer
    assert explorer.table.value.count("<tr>") == 1 + 3
    explorer.problem.value = 2
    assert read_records("test")[2]["prompt"] in explorer.summary.value


def test_dashboard_as_a_labkit_callback(student):
    from labkit.course.widgets import TrainingDashboard
    from labkit.grpo_loop import GRPOLoopConfig, train_grpo

    model, tokenizer = student
    dashboard = TrainingDashboard(total_steps=4, every=2)
    config = GRPOLoopConfig(max_steps=4, prompts_per_step=2, num_generations=2, max_completion_length=6, eval_steps=2)
    train_grpo(
        model, tokenizer, read_records("train")[:20], config, callback=dashboard, eval_records=read_records("validation")[:3]
    )
    assert dashboard.progress.value == 4 and len(dashboard.history) == 4
    assert dashboard.image.value[:4] == b"\x89PNG"  # the curves, drawn in place
    assert "latest group" in dashboard.samples.value and "held-out" in dashboard.status.value
    figure = dashboard.figure()
    titles = [ax.get_title() for ax in figure.axes]
    assert "held-out accuracy" in titles and all(ax.lines for ax in figure.axes if ax.get_title() == "reward")


def test_dashboard_as_a_trl_callback(tmp_path):
    from labkit.course.widgets import TrainingDashboard
    from labkit.models import build_model
    from labkit.rewards import format_reward, length_heuristic_reward
    from labkit.trainers.grpo import grpo_trainer

    model, tokenizer = build_model("student")
    dashboard = TrainingDashboard(every=1)
    trainer = grpo_trainer(
        model,
        tokenizer,
        read_records("train")[:16],
        callbacks=[dashboard],
        reward_funcs=[format_reward, length_heuristic_reward],
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_generations=4,
        max_completion_length=6,
        max_steps=2,
    )
    trainer.train()
    assert [m["step"] for m in dashboard.history] == [1, 2]
    assert "rewards/length_heuristic_reward/mean" in dashboard.history[-1]
    assert dashboard.progress.value == 2 and dashboard.image.value[:4] == b"\x89PNG"


def test_distillation_dashboard_follows_sft_trainer_and_labkit_loops():
    from labkit.course.widgets import DISTILL_PANELS, TrainingDashboard
    from labkit.distill import DistillConfig, train_on_policy_kd
    from labkit.models import build_model
    from labkit.traces import ground_truth_traces
    from labkit.trainers.distill import sft_trainer, train_with

    config = DistillConfig(max_steps=4, batch_size=4, max_completion_length=8)
    student, tokenizer = build_model("student-tiny")
    sft_board = TrainingDashboard(total_steps=4, every=2, title="SFT", panels=DISTILL_PANELS)
    train_with(
        sft_trainer(
            student, tokenizer, ground_truth_traces(read_records("train"), 16), config, callbacks=[sft_board], logging_steps=2
        )
    )
    assert [m["step"] for m in sft_board.history] == [2, 4] and "loss" in sft_board.status.value
    assert "train_runtime" not in sft_board.history[-1]  # the run summary is not a point on the curves

    teacher, _ = build_model("student-xs")
    board = TrainingDashboard(total_steps=4, every=2, title="on-policy", panels=DISTILL_PANELS)
    train_on_policy_kd(student, teacher, tokenizer, read_records("train")[:16], config, callback=board, log_every=1)
    assert len(board.history) == 4 and "latest sample" in board.samples.value
    titles = [ax.get_title() for ax in board.figure().axes]
    assert titles[0] == "training loss" and all(ax.lines for ax in board.figure().axes if ax.get_title() == "training loss")


def test_dashboard_plots_loss_and_entropy_and_says_why_a_panel_is_flat():
    from labkit.course.widgets import TrainingDashboard

    board = TrainingDashboard(total_steps=3, every=10)
    for step in (1, 2, 3):
        board({"step": step, "reward": 0.5, "loss": 0.1 * step, "entropy": 1.0 / step, "kl": 0.0, "clip_ratio/region_mean": 0.0})
    axes = {ax.get_title(): ax for ax in board.figure().axes}
    assert axes["loss"].lines and axes["entropy"].lines
    assert any("beta = 0" in text.get_text() for text in axes["KL and clipping"].texts)
    assert not axes["loss"].texts  # a loss that moves needs no excuse

    board({"step": 4, "kl": 0.02, "clip_ratio/region_mean": 0.0})  # with beta > 0 the KL moves: no note
    assert not {ax.get_title(): ax for ax in board.figure().axes}["KL and clipping"].texts


def test_dashboard_draws_only_what_was_logged_and_says_why_the_rest_is_missing():
    from labkit.course.widgets import DISTILL_PANELS, TrainingDashboard

    # Sequence KD through SFTTrainer logs its loss and gradient norm, nothing sampled, no held-out evaluation.
    board = TrainingDashboard(total_steps=4, every=10, title="SFT", panels=DISTILL_PANELS)
    for step in (2, 4):
        board({"step": step, "loss": 1.0 / step, "grad_norm": 0.5})
    figure = board.figure()
    drawn = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert drawn == ["training loss", "gradient norm"] and all(ax.lines for ax in figure.axes if ax.get_visible())
    note = " ".join(text.get_text() for text in figure.texts).replace("\n", " ")
    assert "nothing logged in this run" in note
    for title in ("held-out accuracy", "student's own samples: correct", "length", "scratchpad share"):
        assert title in note
    assert "sequence KD and logit KD train on fixed traces" in note

    # While the run is going, a panel not drawn yet is "so far"; a run that logs everything has no note.
    live = TrainingDashboard(total_steps=10, every=10, panels=DISTILL_PANELS)
    live({"step": 1, "loss": 1.0})
    assert "so far" in " ".join(text.get_text() for text in live.figure().texts)
    full = TrainingDashboard(total_steps=1, every=10, panels=DISTILL_PANELS[:2])
    full({"step": 1, "loss": 1.0, "eval/accuracy": 0.5})
    assert not [text for text in full.figure().texts if "Not drawn" in text.get_text()]
