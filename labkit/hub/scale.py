"""GRPO past one machine: TRL's GRPOTrainer under `accelerate launch` (docs/scale.md).

    python -m labkit.hub.scale --task gsm8k --model Qwen/Qwen2.5-0.5B-Instruct            # one GPU
    accelerate launch --config_file configs/accelerate/zero2.yaml -m labkit.hub.scale \\
        --task gsm8k --model Qwen/Qwen2.5-0.5B-Instruct [--use-vllm] [--vllm-mode colocate|server] [--lora]
    python -m labkit.hub.scale --task sums --max-steps 20      # the lab's own task, CPU: runs/default's warmed-up teacher

labkit schedules nothing itself: accelerate starts the processes (DDP or DeepSpeed, from
the config file), each process samples (with vLLM when asked) and trains on its own batch. This module
only builds the trainer from the lab's pieces: `hub.chat.gsm8k_grpo_trainer` for GSM8K (a hub
model, its chat template, the GSM8K rule rewards) and `trainers.grpo.grpo_trainer` for the sums.
Batch sizes are per process: the global batch is `--prompts-per-step` x processes.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
import typing
from pathlib import Path

import torch

from ..runtime import LabkitError


def _grpo_flags():
    """`GRPOLoopConfig`'s fields that TRL takes (every one but labkit's own evaluation and checkpointing), as a
    dataclass whose defaults are None (not given: the setting's, or the config's, value stays)."""
    from ..grpo_loop import NOT_PASSED_TO_TRL, GRPOLoopConfig

    hints = typing.get_type_hints(GRPOLoopConfig)
    fields = [
        (f.name, hints[f.name] | None, dataclasses.field(default=None, metadata=f.metadata))
        for f in dataclasses.fields(GRPOLoopConfig)
        if f.name not in NOT_PASSED_TO_TRL
    ]
    return dataclasses.make_dataclass("GRPOFlags", fields)


GRPO_FLAGS = tuple(f.name for f in dataclasses.fields(_grpo_flags()))


def _parser() -> argparse.ArgumentParser:
    """The command line. GRPO's flags are made from `GRPOLoopConfig` by transformers' `HfArgumentParser`
    (its field names, types, choices and help, each as `--max_steps` and `--max-steps`); the rest say what to
    train and where."""
    from transformers import HfArgumentParser

    from .chat import LORA_LEARNING_RATE

    parser = HfArgumentParser(
        _grpo_flags(),
        prog="python -m labkit.hub.scale",
        description="GRPO with TRL, on one process or many. GRPO settings not given keep the hub setting's (gsm8k) "
        "or GRPOLoopConfig's (sums).",
    )
    parser.add_argument("--task", choices=("gsm8k", "sums"), default="gsm8k")
    parser.add_argument(
        "--model", default=None,
        help="hub id or folder (gsm8k); for sums a saved folder (default: runs/default/teacher_base, after `labkit run`)",
    )  # fmt: skip
    parser.add_argument("--setting", default="real", help="hub setting for gsm8k: offline | real | t4 (labkit.hub.chat)")
    parser.add_argument("--data", default=None, help="GSM8K hub id or local folder (default: the setting's)")
    parser.add_argument(
        "--lora", action="store_true", help=f"gsm8k: train a LoRA adapter (peft; learning rate {LORA_LEARNING_RATE:g} by default)"
    )
    parser.add_argument(
        "--use-vllm", action=argparse.BooleanOptionalAction, default=None,
        help="sample with vLLM (needs vLLM and a GPU); default for gsm8k: when installed; --no-use-vllm: never",
    )  # fmt: skip
    parser.add_argument(
        "--vllm-mode", choices=("colocate", "server"), default="colocate", help="server: `trl vllm-serve` runs apart"
    )
    parser.add_argument("--output-dir", default="runs/scale")
    return parser


def _given(settings, changes: dict):
    """`settings` with the fields the command line gave (None: not given) replaced."""
    return dataclasses.replace(settings, **{k: v for k, v in changes.items() if v is not None})


def build_trainer(args: argparse.Namespace):
    """The GRPOTrainer these arguments describe (nothing trained yet)."""
    from ..models import load_model

    overrides = {"output_dir": args.output_dir}
    if args.task == "sums":
        from ..grpo_loop import GRPOLoopConfig
        from ..tasks import read_records
        from ..trainers.grpo import grpo_trainer

        if args.lora:
            raise LabkitError("--lora is for --task gsm8k: the lab's tiny models train every weight")

        config = _given(GRPOLoopConfig(), {name: getattr(args, name) for name in GRPO_FLAGS})
        name = _sums_model(args.model)
        if args.use_vllm and not (Path(name) / "config.json").exists():  # vLLM loads the model from its folder
            raise LabkitError("--use-vllm needs --model to be a saved model folder (vLLM loads it from there)")
        model, tokenizer = load_model(name)
        if args.use_vllm:
            _require_vllm()
            overrides.update(use_vllm=True, vllm_mode=args.vllm_mode)
        return grpo_trainer(model, tokenizer, read_records("train"), config=config, **overrides)

    from ..run.pipeline import default_runs_dir
    from ..tasks.gsm8k import load_gsm8k
    from .chat import gsm8k_grpo_trainer, prepare_models

    setting = gsm8k_setting(args)
    if args.use_vllm:
        _require_vllm()
    if setting.made_here and args.model is None:  # the stand-in chat models, made once
        setting = dataclasses.replace(setting, teacher=prepare_models(setting, default_runs_dir() / f"hub-{setting.name}")[0])
    # float32 weights, mixed precision in the trainer: in bf16 weights an update of 1e-6 rounds away.
    model, tokenizer = load_model(setting.teacher, dtype=torch.float32)
    records = load_gsm8k(setting.data, split="train")  # TRL draws each step's prompts from all of them
    overrides["vllm_mode"] = args.vllm_mode
    return gsm8k_grpo_trainer(model, tokenizer, records, setting, **overrides)


def gsm8k_setting(args: argparse.Namespace):
    """The hub setting (`labkit.hub.chat.HUB_SETTINGS`) with what the command line gave. `--lora` on a setting
    that trains every weight also takes the LoRA learning rate, unless `--learning-rate` is given: at full
    fine-tuning's 1e-6 an adapter, which starts at zero, barely moves."""
    from .chat import LORA_LEARNING_RATE, get_hub_setting

    setting = get_hub_setting(args.setting)
    lora_rate = LORA_LEARNING_RATE if args.lora and not setting.lora else None
    grpo = _given(setting.grpo, {name: getattr(args, name) for name in GRPO_FLAGS})
    if lora_rate is not None and args.learning_rate is None:
        grpo = dataclasses.replace(grpo, learning_rate=lora_rate)
    changes = {"teacher": args.model, "data": args.data, "grpo": grpo, "lora": args.lora or None, "use_vllm": args.use_vllm}
    return _given(setting, changes)


def _sums_model(name: str | None) -> str:
    """The model GRPO starts from on the sums: a saved folder, by default the lab's warmed-up teacher. A bare
    size (`teacher`) is a new, untrained model: every reward in every group is 0 and GRPO learns nothing (the
    cold start of notebook 03b), so it is taken only when asked for, with a warning."""
    from ..models import MODEL_CONFIGS
    from ..run.pipeline import default_run_dir

    if name is None:
        warmed = default_run_dir("default") / "teacher_base"
        if not (warmed / "config.json").exists():
            raise LabkitError(f"no warmed-up teacher at {warmed}; run `labkit run` first, or pass --model FOLDER")
        return str(warmed)
    if name in MODEL_CONFIGS and not Path(name).exists():
        print(f"labkit.hub.scale: warning: {name!r} is a new, untrained model; its rewards will all be 0 (notebook 03b)")
    return name


def _require_vllm() -> None:
    from .chat import vllm_available

    if not vllm_available():
        raise LabkitError(
            "--use-vllm needs vLLM and a CUDA GPU (pip install 'trl[vllm]'); or leave it out to sample with transformers"
        )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        trainer = build_trainer(args)
    except LabkitError as error:
        print(f"labkit.hub.scale: error: {error}", file=sys.stderr)
        return 2
    state = trainer.accelerator.state
    if trainer.accelerator.is_main_process:
        print(
            f"labkit.hub.scale: {args.task}, {state.num_processes} process(es), {state.distributed_type}, "
            f"{trainer.args.per_device_train_batch_size} completions a step per process"
        )
    start = time.perf_counter()
    trainer.train()
    trainer.save_model(args.output_dir)  # with LoRA: the adapter only (peft's merge_and_unload makes a plain model)
    if trainer.accelerator.is_main_process:
        logs = [log for log in trainer.state.log_history if "reward" in log]
        last = logs[-1] if logs else {}
        what = "the LoRA adapter" if hasattr(trainer.model, "peft_config") else "the model"
        print(
            f"labkit.hub.scale: {trainer.state.global_step} steps in {time.perf_counter() - start:.1f}s, "
            f"last reward {last.get('reward', float('nan')):.3f}, {what} saved to {args.output_dir}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
