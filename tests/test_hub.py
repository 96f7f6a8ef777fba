"""The real-model path, offline: a hub-format chat model saved here, GSM8K-format data, TRL doing the work."""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from labkit.grpo_loop import GRPOLoopConfig, train_grpo
from labkit.hub.chat import (
    HUB_SETTINGS,
    LORA_LEARNING_RATE,
    distill_student,
    evaluate_chat,
    get_hub_setting,
    grpo_config,
    gsm8k_grpo_trainer,
    keep_traces,
    precision,
    prepare_models,
)
from labkit.hub.standins import make_chat_model
from labkit.models import count_parameters, load_model
from labkit.runtime import LabkitError
from labkit.tasks import GSM8K
from labkit.tasks.gsm8k import chat_prompt, load_gsm8k
from labkit.trainers.setup import train_with

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "sample"


@pytest.fixture(scope="module")
def chat_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hub")
    records = load_gsm8k(SAMPLE, split="train")
    corpus = [r["prompt"] + "\n" + r["scratchpad"] for r in records]
    return make_chat_model("chat-teacher", folder / "teacher", corpus), make_chat_model(
        "chat-student", folder / "student", corpus
    )


def test_a_saved_chat_model_loads_with_from_pretrained_and_its_chat_template(chat_models):
    teacher_path, student_path = chat_models
    assert (teacher_path / "config.json").exists() and (teacher_path / "tokenizer_config.json").exists()
    teacher, tokenizer = load_model(teacher_path)
    student, _ = load_model(student_path)
    text = tokenizer.apply_chat_template(chat_prompt("Ava has 3 apples."), tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|im_start|>system\n") and text.endswith("<|im_start|>assistant\n")
    assert tokenizer.decode(tokenizer(text, add_special_tokens=False).input_ids) == text  # any text round-trips
    assert count_parameters(student) <= count_parameters(teacher) / 10
    # Shaped as the real pair: Qwen2.5's architecture (q/k/v biases, grouped key-value heads), SmolLM2's Llama.
    assert (type(teacher).__name__, type(student).__name__) == ("Qwen2ForCausalLM", "LlamaForCausalLM")
    assert teacher.config.num_key_value_heads < teacher.config.num_attention_heads


def test_grpo_on_chat_prompts_runs_and_logs_trls_clipped_ratio(chat_models):
    model, tokenizer = load_model(chat_models[0])
    offline = get_hub_setting("offline")
    setting = dataclasses.replace(offline, data=SAMPLE, grpo=dataclasses.replace(offline.grpo, max_steps=2))
    records = load_gsm8k(SAMPLE, split="train")[:8]
    trainer = gsm8k_grpo_trainer(model, tokenizer, records, setting)
    train_with(trainer)
    logs = [log for log in trainer.state.log_history if "reward" in log]
    assert len(logs) == 2 and all("completions/clipped_ratio" in log for log in logs)
    assert trainer.args.per_device_train_batch_size == setting.grpo.prompts_per_step * setting.grpo.num_generations
    assert all(f"rewards/{name}/mean" in logs[0] for name in ("correctness_reward", "format_reward"))
    metrics = evaluate_chat(model, tokenizer, load_gsm8k(SAMPLE, split="test")[:4], setting.grpo.max_completion_length)
    assert 0.0 <= metrics["accuracy"] <= 1.0 and 0.0 <= metrics["clipped_ratio"] <= 1.0


def test_labkits_own_grpo_loop_gives_a_chat_model_its_conversation_and_judges_by_gsm8k(chat_models):
    """labkit's loop (notebook 02's) on notebook 06's task: each prompt in the model's chat template, GSM8K's
    rewards and its notion of showing working; the lab's tasks keep reading the bare prompt."""
    model, tokenizer = load_model(chat_models[1])
    records = load_gsm8k(SAMPLE, split="train")[:4]
    config = GRPOLoopConfig(max_steps=2, prompts_per_step=1, num_generations=4, max_completion_length=8)
    history = train_grpo(model, tokenizer, records, config)
    task = GSM8K()
    for step in history:
        prompts = {sample["prompt"] for sample in step["samples"]}
        assert len(prompts) == 1 and prompts <= {task.model_text(r["prompt"], tokenizer) for r in records}
        assert next(iter(prompts)).endswith("<|im_start|>assistant\n")
        assert {"rewards/correctness_reward/mean", "rewards/format_reward/mean"} <= set(step)
        shown = [task.shows_working(sample["completion"]) for sample in step["samples"]]  # every completion: 1 prompt
        assert step["scratchpad_share"] == sum(shown) / len(shown)


def test_keep_traces_keeps_right_well_formed_distinct_samples_only():
    records = [{"prompt": "Q1", "answer": "7"}, {"prompt": "Q2", "answer": "9"}]
    texts = ["<<3+4=7>>\n#### 7", "<<3+4=7>>\n#### 7", "#### 8", "so 7", "#### 9", "<<4+5=9>>\n#### 9 ", "<<4+4=9>>\n#### 9"]
    traces = keep_traces(records, texts[:3] + texts[4:6] + texts[3:4], k=3)
    assert [t["completion"][0]["content"] for t in traces] == ["<<3+4=7>>\n#### 7", "#### 9", "<<4+5=9>>\n#### 9"]
    lucky = keep_traces(records[1:], texts[4:7], k=3)  # the last is right by luck: its note is wrong
    assert len(lucky) == 2 and len(keep_traces(records[1:], texts[4:7], k=3, check_notes=False)) == 3
    assert traces[0]["prompt"] == chat_prompt("Q1") and traces[1]["answer"] == "9"


def test_sequence_kd_into_the_student_moves_it(chat_models):
    student, tokenizer = load_model(chat_models[1])
    records = load_gsm8k(SAMPLE, split="train")[:16]
    traces = keep_traces(records, [f"{r['scratchpad']}\n#### {r['answer']}" for r in records], k=1)
    before = [p.detach().clone() for p in student.parameters()]
    setting = dataclasses.replace(get_hub_setting("offline"), sft_steps=3)
    summary = distill_student(student, tokenizer, traces, setting)
    assert summary["seconds_per_step"] > 0 and summary["peak_memory_mb"] > 0
    assert any(not (a == b).all() for a, b in zip(before, student.parameters()))
    with pytest.raises(LabkitError, match="no trace was kept"):
        distill_student(student, tokenizer, [], setting)


def test_settings_name_their_machine_and_unknown_ones_fail_in_one_line(monkeypatch):
    assert set(HUB_SETTINGS) == {"offline", "quick", "real", "t4"}
    assert HUB_SETTINGS["real"].teacher == "Qwen/Qwen2.5-0.5B-Instruct" and HUB_SETTINGS["t4"].lora
    assert all(setting.expects for setting in HUB_SETTINGS.values())
    monkeypatch.setenv("LABKIT_HUB", "offline")
    assert get_hub_setting().name == "offline"
    with pytest.raises(LabkitError, match="choose one of offline, quick, real, t4"):
        get_hub_setting("cloud")


def test_scale_runs_the_sums_task_and_fails_clearly_without_a_network(tmp_path):
    command = [sys.executable, "-m", "labkit.hub.scale", "--task", "sums", "--model", "teacher", "--max-steps", "2",
               "--prompts-per-step", "2", "--num-generations", "4", "--output-dir", str(tmp_path / "sums")]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "1 process(es)" in result.stdout and "2 steps" in result.stdout
    assert "'teacher' is a new, untrained model" in result.stdout  # asked for by name: run, with a warning
    assert (tmp_path / "sums" / "model.safetensors").exists()
    env_offline = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "labkit.hub.scale", "--task", "gsm8k", "--model", "no-such-org/no-such-model", "--data", SAMPLE],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env_offline,
    )  # fmt: skip
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert result.stderr.startswith("labkit.hub.scale: error: could not load model 'no-such-org/no-such-model'")


def test_lora_trains_only_the_adapter_and_merges_back_into_a_plain_model(chat_models):
    model, tokenizer = load_model(chat_models[0])
    base = {name: p.detach().clone() for name, p in model.named_parameters()}
    offline = get_hub_setting("offline")
    setting = dataclasses.replace(offline, data=SAMPLE, grpo=dataclasses.replace(offline.grpo, max_steps=1), lora=True, lora_r=4)
    trainer = gsm8k_grpo_trainer(model, tokenizer, load_gsm8k(SAMPLE, split="train")[:4], setting)
    trainable = [name for name, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    train_with(trainer)
    merged = trainer.model.merge_and_unload()
    assert type(merged).__name__ == "Qwen2ForCausalLM" and set(dict(merged.named_parameters())) == set(base)


def test_scale_fails_early_on_settings_that_cannot_work_and_gives_lora_its_own_learning_rate(tmp_path, monkeypatch):
    from labkit.hub.scale import _parser, build_trainer, gsm8k_setting

    def error(*argv: str) -> str:
        with pytest.raises(LabkitError) as raised:
            build_trainer(_parser().parse_args(list(argv)))
        return str(raised.value)

    assert "--lora is for --task gsm8k" in error("--task", "sums", "--lora")
    assert "needs --model to be a saved model folder" in error("--task", "sums", "--model", "teacher", "--use-vllm")
    monkeypatch.setenv("LABKIT_RUNS", str(tmp_path))  # no `labkit run` made here: no warmed-up teacher
    assert "run `labkit run` first, or pass --model FOLDER" in error("--task", "sums")

    def setting(*argv: str):
        return gsm8k_setting(_parser().parse_args(["--task", "gsm8k", *argv]))

    assert setting().grpo.learning_rate == HUB_SETTINGS["real"].grpo.learning_rate and not setting().lora
    assert setting("--lora").lora and setting("--lora").grpo.learning_rate == LORA_LEARNING_RATE
    assert setting("--lora", "--learning-rate", "3e-6").grpo.learning_rate == 3e-6  # what was asked for wins
    assert setting("--setting", "t4").grpo.learning_rate == LORA_LEARNING_RATE


def test_gpu_precision_never_fp16_and_lora_under_zero3_gets_reentrant_checkpointing(monkeypatch):
    import torch

    assert precision() == {"bf16": False, "fp16": False}  # a CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    assert precision() == {"bf16": False, "fp16": False}  # a T4: float32, since Qwen2.5 overflows in fp16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    assert precision() == {"bf16": True, "fp16": False}
    monkeypatch.undo()

    lora = dataclasses.replace(get_hub_setting("offline"), lora=True)
    monkeypatch.setenv("ACCELERATE_DEEPSPEED_ZERO_STAGE", "3")
    assert grpo_config(lora).activation_checkpointing_kwargs == {"use_reentrant": True}
    assert not grpo_config(get_hub_setting("offline")).activation_checkpointing_kwargs  # full fine-tuning: TRL's default
    assert not HUB_SETTINGS["t4"].use_vllm  # vLLM would run Qwen2.5 in fp16 on a T4


def test_lora_with_reentrant_checkpointing_still_gives_the_adapter_gradients(chat_models):
    """What `grpo_config` asks for under ZeRO-3 with LoRA (reentrant activation checkpointing), on the CPU:
    every adapter matrix still gets a gradient through the checkpointed layers of the Qwen2 stand-in."""

    model, tokenizer = load_model(chat_models[0])
    offline = get_hub_setting("offline")
    setting = dataclasses.replace(offline, data=SAMPLE, grpo=dataclasses.replace(offline.grpo, max_steps=1), lora=True, lora_r=4)
    checkpointing = {"activation_checkpointing": True, "activation_checkpointing_kwargs": {"use_reentrant": True}}
    trainer = gsm8k_grpo_trainer(model, tokenizer, load_gsm8k(SAMPLE, split="train")[:4], setting, **checkpointing)
    peft_model = trainer.model
    peft_model.gradient_checkpointing_enable(gradient_checkpointing_kwargs=trainer.args.activation_checkpointing_kwargs)
    peft_model.train()
    ids = tokenizer(["Ava has 3 apples and buys 5 more."], return_tensors="pt")
    peft_model(**ids).logits.float().pow(2).mean().backward()
    adapter = [p for name, p in peft_model.named_parameters() if "lora_B" in name]
    assert adapter and all(p.grad is not None and p.grad.abs().sum() > 0 for p in adapter)


def test_offline_stand_ins_are_made_once_and_remade_when_a_folder_holds_another_architecture(tmp_path):
    setting = dataclasses.replace(get_hub_setting("offline"), instruct_sft_steps=1)
    stale = tmp_path / "chat-teacher"
    stale.mkdir()
    (stale / "config.json").write_text('{"model_type": "llama"}')  # made before the teacher became Qwen2-shaped
    teacher, student = prepare_models(setting, tmp_path)
    assert type(load_model(teacher)[0]).__name__ == "Qwen2ForCausalLM"
    made = {path: Path(path, "config.json").stat().st_mtime_ns for path in (teacher, student)}
    assert prepare_models(setting, tmp_path) == (teacher, student)
    assert {path: Path(path, "config.json").stat().st_mtime_ns for path in (teacher, student)} == made  # reused


def test_lora_learning_rates_trains_three_fresh_copies_and_measures_how_far_each_moved(chat_models, monkeypatch):
    import labkit.hub.chat as hub

    # A reward with a spread in every group (the length), so that every step has a gradient to follow.
    def correctness_reward(self, completions, **columns):
        return [len(c[0]["content"]) / 100 for c in completions]

    monkeypatch.setattr(GSM8K, "correctness_reward", correctness_reward)
    setting = dataclasses.replace(get_hub_setting("offline"), data=SAMPLE)
    saved = (chat_models[0] / "model.safetensors").read_bytes()
    rows = hub.lora_learning_rates(str(chat_models[0]), load_gsm8k(SAMPLE, split="train")[:8], setting, steps=2)
    full, lora, lora_ten = rows
    rate = setting.grpo.learning_rate
    assert [r["learning_rate"] for r in rows] == [rate, rate, 10 * rate]
    assert full["trainable share"] == 1.0 and 0 < lora["trainable share"] < 0.2 and lora["trainable"] == lora_ten["trainable"]
    assert all(r["moved"] > 0 for r in rows) and lora_ten["moved"] > lora["moved"]  # the same seed: only the rate differs
    assert (chat_models[0] / "model.safetensors").read_bytes() == saved  # each run trained a copy, none was saved
    assert hub.lora_reading(rows).startswith("at full training's rate LoRA moved the weights")
    assert "no run moved" in hub.lora_reading([{**row, "moved": 0.0} for row in rows])  # no spread, no division by 0


def test_scales_grpo_flags_are_made_from_the_config_fields_with_their_help(capsys):
    """`labkit.hub.scale` spells no GRPO flag itself: each is a `GRPOLoopConfig` field (TRL's name, type, choices and
    help), and what is not given keeps the setting's value."""
    from labkit.grpo_loop import NOT_PASSED_TO_TRL
    from labkit.hub.scale import _parser, gsm8k_setting, main

    parser = _parser()
    text = " ".join(parser.format_help().split())
    for f in dataclasses.fields(GRPOLoopConfig):
        if f.name in NOT_PASSED_TO_TRL:  # labkit's own evaluation and checkpointing: TRL's trainer here does neither
            assert f"--{f.name}" not in text
        else:
            assert f"--{f.name}" in text and f"--{f.name.replace('_', '-')}" in text
            assert " ".join(f.metadata["help"].replace("%%", "%").split()) in text
    args = parser.parse_args(["--loss-type", "dr_grpo", "--beta", "0.04", "--warmup_steps", "0.1", "--epsilon-high", "0.28"])
    grpo = gsm8k_setting(args).grpo
    real = HUB_SETTINGS["real"].grpo
    assert (grpo.loss_type, grpo.beta, grpo.warmup_steps, grpo.epsilon_high) == ("dr_grpo", 0.04, 0.1, 0.28)
    assert (grpo.learning_rate, grpo.max_steps, grpo.num_generations) == (
        real.learning_rate,
        real.max_steps,
        real.num_generations,
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--loss-type", "nonsense"])  # the config's choices, checked by argparse
    capsys.readouterr()
    assert main(["--task", "sums", "--temperature", "0"]) == 2  # the config's own check, in one line
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("labkit.hub.scale: error: temperature must be > 0")
