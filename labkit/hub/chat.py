"""The lab on real chat models: a hub model on GSM8K (notebook 06, `labkit.hub.scale`).

One setting names everything that differs between a laptop and a GPU:

    offline   CPU, a few minutes, no network: tiny chat models made here and saved in
              the hub's format (read back with `from_pretrained`, a chat template), given a
              short SFT on data/gsm8k_sample as their "instruct" training. Their numbers
              mean nothing; the code path is the real one.
    quick     the offline setting on a smaller budget: the same code path in about a minute (CI runs it)
    real      one GPU with 40 GB or more (an A100 or H100): Qwen2.5-0.5B-Instruct on GSM8K,
              distilled into SmolLM2-135M-Instruct. Downloads about 1.3 GB the first time.
    t4        a free Colab T4 (16 GB): the same models, GRPO through a LoRA adapter (peft)
              and fewer completions a step.

`LABKIT_HUB` picks it (default: offline). The recipe is R1's, with TRL doing the work:

    GRPO      TRL's GRPOTrainer on chat prompts, rewards `gsm8k_correctness_reward` +
              `gsm8k_format_reward`; vLLM generates when it is installed and a GPU is there
    traces    k samples of each training problem from the GRPO model, kept when right and
              well-formed (rejection sampling), as text: it crosses tokenizers
    student   TRL's SFTTrainer on those traces, in the student's own chat template
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import PreTrainedTokenizerBase

from ..grpo_loop import GRPOLoopConfig
from ..runtime import LabkitError, peak_gpu_memory_mb, peak_memory_mb
from ..tasks.gsm8k import GSM8K, SYSTEM_PROMPT, chat_prompt, gsm8k_correctness_reward, gsm8k_format_reward, load_gsm8k
from .standins import CHAT_ARCHITECTURES, CHAT_SIZES, make_chat_model, model_type


def clipped_ratio(lengths: list[int], max_completion_length: int) -> float:
    """Share of completions cut at the cap (TRL logs it as `completions/clipped_ratio`)."""
    return sum(length >= max_completion_length for length in lengths) / max(1, len(lengths))


@dataclass(frozen=True)
class HubSetting:
    """Everything that differs between a laptop and a GPU on the hub path. GRPO's own settings are labkit's
    `GRPOLoopConfig` (TRL's names), given to TRL by `trainers.grpo.trl_grpo_config` as for the lab's models."""

    name: str
    teacher: str  # hub id, or a tiny size made here (offline)
    student: str  # a smaller model: its own tokenizer and chat template are fine (text traces)
    data: str  # "openai/gsm8k", a local folder in GSM8K's format, or "sample" (tasks.gsm8k.sample_dir)
    expects: str  # the machine it is sized for, and what it costs
    grpo: GRPOLoopConfig = field(default_factory=lambda: HUB_GRPO)
    train_problems: int = 256  # problems sampled for traces (GRPO draws its prompts from the whole train split)
    eval_problems: int = 200  # held-out test problems, greedy
    lora: bool = False  # train a LoRA adapter (peft) instead of every weight
    lora_r: int = 16
    use_vllm: bool = True  # generate with vLLM (colocate mode) when it is installed and CUDA is there
    trace_samples: int = 4  # samples a training problem for rejection sampling
    sft_steps: int = 200  # the student's SFT steps on the kept traces
    sft_batch_size: int = 16
    sft_learning_rate: float = 2e-5
    instruct_sft_steps: int = 0  # offline only: SFT of the tiny models on the reference solutions

    @property
    def made_here(self) -> bool:
        """Are the models the tiny stand-ins made on this machine (`prepare_models`), not hub models?"""
        return self.teacher in CHAT_SIZES


# GRPO on a pretrained chat model: TRL's learning rate for pretrained LLMs, 512 tokens (at 256 most of a 0.5B
# model's GSM8K answers are cut), 8 prompts x 8 completions a step, 100 steps, no KL (TRL's default), a constant rate
# (GRPOLoopConfig's; TRL's own default would decay it linearly to 0).
HUB_GRPO = GRPOLoopConfig(max_steps=100, prompts_per_step=8, num_generations=8, max_completion_length=512, learning_rate=1e-6)
LORA_LEARNING_RATE = 1e-5  # an adapter starts at zero and has few weights: it needs a larger step than full fine-tuning

OFFLINE = HubSetting(
    name="offline",
    teacher="chat-teacher",
    student="chat-student",
    data="sample",
    expects="a CPU, a few minutes, most of them making the two tiny models (once); the numbers mean nothing",
    grpo=GRPOLoopConfig(max_steps=4, prompts_per_step=2, num_generations=4, max_completion_length=80, learning_rate=1e-4),
    train_problems=32,
    eval_problems=32,
    use_vllm=False,
    trace_samples=8,
    sft_steps=20,
    sft_batch_size=8,
    sft_learning_rate=1e-3,
    instruct_sft_steps=200,
)

HUB_SETTINGS: dict[str, HubSetting] = {
    "offline": OFFLINE,
    # The offline setting with a fifth of the stand-ins' instruct training and fewer problems: the same code path
    # in about a minute, which the notebooks' test runs (the offline one spends most of its time making the models).
    "quick": dataclasses.replace(
        OFFLINE,
        name="quick",
        expects="a CPU, about a minute: the offline setting's code path on a smaller budget, so the numbers mean nothing",
        grpo=dataclasses.replace(OFFLINE.grpo, max_steps=2),
        train_problems=16,
        eval_problems=16,
        trace_samples=4,
        sft_steps=10,
        instruct_sft_steps=40,
    ),
    "real": HubSetting(
        name="real",
        teacher="Qwen/Qwen2.5-0.5B-Instruct",
        student="HuggingFaceTB/SmolLM2-135M-Instruct",
        data="openai/gsm8k",
        expects="one GPU with 40 GB or more (A100, H100); first run downloads about 1.3 GB; time not yet measured",
    ),
    "t4": HubSetting(
        name="t4",
        teacher="Qwen/Qwen2.5-0.5B-Instruct",
        student="HuggingFaceTB/SmolLM2-135M-Instruct",
        data="openai/gsm8k",
        expects="a free Colab T4 (16 GB): LoRA, float32, 4 completions a prompt; time not yet measured",
        grpo=dataclasses.replace(HUB_GRPO, num_generations=4, prompts_per_step=4, learning_rate=LORA_LEARNING_RATE),
        lora=True,
        use_vllm=False,  # vLLM would run Qwen2.5 in fp16 on a T4 (no bf16 there), where it overflows (see `precision`)
    ),
}


def get_hub_setting(name: str | None = None) -> HubSetting:
    """A setting by name; `LABKIT_HUB` chooses when no name is given (notebook 06 uses it)."""
    name = name or os.environ.get("LABKIT_HUB", "offline")
    if name not in HUB_SETTINGS:
        raise LabkitError(f"unknown hub setting {name!r}; choose one of {', '.join(HUB_SETTINGS)}")
    return HUB_SETTINGS[name]


# --- Models ---------------------------------------------------------------------------------------------


def prepare_models(setting: HubSetting, folder: str | Path) -> tuple[str, str]:
    """(teacher, student) names `load_model` takes: hub ids as they are; offline, folders made here once.

    Offline, each tiny model gets `instruct_sft_steps` of SFT on the sample's reference
    solutions first: the stand-in for the instruct training a hub model comes with.
    """
    if not setting.made_here:
        return setting.teacher, setting.student
    from ..distill import DistillConfig
    from ..models import load_model, save_model
    from ..trainers.distill import sft_trainer, train_with

    records = load_gsm8k(setting.data, split="train")
    solutions = [
        {
            "prompt": chat_prompt(r["prompt"]),
            "completion": [{"role": "assistant", "content": GSM8K().reference_completion(r)}],
        }
        for r in records
    ]
    corpus = [SYSTEM_PROMPT, "system user assistant"] + [r["prompt"] + "\n" + r["scratchpad"] for r in records]
    names = []
    for size in (setting.teacher, setting.student):
        path = Path(folder) / size
        if model_type(path) != CHAT_ARCHITECTURES[size]:  # not made yet, or made before the stand-ins changed shape
            make_chat_model(size, path, corpus)
            model, tokenizer = load_model(path)
            budget = DistillConfig(max_steps=setting.instruct_sft_steps, batch_size=32, learning_rate=3e-3)
            train_with(sft_trainer(model, tokenizer, solutions, budget))
            save_model(model, tokenizer, path)
        names.append(str(path))
    return names[0], names[1]


# --- GRPO, evaluation, traces, the student --------------------------------------------------------------


def precision() -> dict:
    """Mixed precision for TRL's trainers: bf16 on a GPU that has it natively; none (float32) on a CPU or
    on a GPU without bf16 (a T4). Not fp16 there: Qwen2 and Qwen2.5 were trained in bf16, and in fp16 their
    activations overflow (NaN logits, answers of "!!!!": QwenLM/Qwen3 issues 761 and 868). The weights
    stay float32 in every case (load them so: `load_model(..., dtype=torch.float32)`): in bf16 weights an
    update of 1e-6 rounds away, and the run learns nothing."""
    native = torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    return {"bf16": native, "fp16": False}


def vllm_available() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("vllm") is not None


def hub_trl_settings(setting: HubSetting) -> dict:
    """What the hub path asks of TRL beyond the lab's `trl_grpo_config`: mixed precision (`precision`),
    activation checkpointing on a GPU (64 rows of 600 tokens through a 0.5B model's 24 layers), and vLLM
    colocated when it is there."""
    from trl import GRPOConfig

    from ..trainers.setup import checkpointing_field

    settings = {
        **precision(),
        checkpointing_field(GRPOConfig): torch.cuda.is_available(),
        "use_vllm": setting.use_vllm and vllm_available(),
        "vllm_mode": "colocate",
    }
    if setting.lora and os.environ.get("ACCELERATE_DEEPSPEED_ZERO_STAGE") == "3":
        # PEFT under ZeRO-3 needs reentrant checkpointing (trl issue 2514). TRL forces it by writing the old
        # field name, gradient_checkpointing_kwargs, after the config is built, which transformers 5 no
        # longer reads; so it is set here, under the name this TRL's config has.
        settings[f"{checkpointing_field(GRPOConfig)}_kwargs"] = {"use_reentrant": True}
    return settings


def grpo_config(setting: HubSetting, output_dir: str | None = None, **overrides):
    """TRL's `GRPOConfig` for the setting: the lab's `trl_grpo_config` of `setting.grpo`, with `hub_trl_settings`."""
    from ..trainers.grpo import trl_grpo_config

    return trl_grpo_config(setting.grpo, output_dir=output_dir, **{**hub_trl_settings(setting), **overrides})


def lora_config(setting: HubSetting):
    """peft's LoRA on the attention and MLP projections, or None when the setting trains every weight."""
    if not setting.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(r=setting.lora_r, lora_alpha=2 * setting.lora_r, target_modules="all-linear", task_type="CAUSAL_LM")


def gsm8k_grpo_trainer(model, tokenizer, records: list[dict], setting: HubSetting, *, callbacks=(), **overrides):
    """TRL's `GRPOTrainer` on GSM8K chat prompts with the task's two rule rewards: the lab's
    `trainers.grpo.grpo_trainer`, given `setting.grpo`, the hub's TRL settings and a LoRA adapter if asked."""
    from ..trainers.grpo import grpo_trainer

    return grpo_trainer(
        model,
        tokenizer,
        records,
        config=setting.grpo,
        callbacks=callbacks,
        task=GSM8K(),
        peft_config=lora_config(setting),
        **{**hub_trl_settings(setting), **overrides},
    )


def lora_learning_rates(name: str, records: list[dict], setting: HubSetting, *, steps: int = 4, device=None) -> list[dict]:
    """How far a few GRPO steps move the weights: every weight trained at full fine-tuning's rate r, then a
    LoRA adapter at r and at 10 r, each from a fresh copy of model `name`, same seed, same prompts.

        moved = ||W_after - W_before||_F / ||W_before||_F   over every weight (LoRA: after merging)

    Why LoRA asks for a larger rate: AdamW moves each trained number by about the rate a step, but a LoRA
    update of the weights is B A (times alpha / r) with B starting at zero, so the same rate moves the
    weights themselves less. r is the setting's rate, or TRL's 1e-6 when the setting already trains LoRA.
    Returns one row per run: {run, learning_rate, trainable, moved, reward (mean over the steps)}.
    """
    import gc

    from ..models import count_parameters, load_model
    from ..trainers.setup import train_with

    full_rate = HUB_GRPO.learning_rate if setting.lora else setting.grpo.learning_rate
    rows = []
    for label, lora, rate in (("full", False, full_rate), ("LoRA", True, full_rate), ("LoRA", True, 10 * full_rate)):
        model, tokenizer = load_model(name, device=device, dtype=torch.float32)
        before = {key: value.detach().clone() for key, value in model.state_dict().items()}
        total = count_parameters(model)  # before peft adds the adapter's
        grpo = dataclasses.replace(setting.grpo, learning_rate=rate, max_steps=steps)
        run = dataclasses.replace(setting, lora=lora, grpo=grpo, use_vllm=False)
        trainer = gsm8k_grpo_trainer(model, tokenizer, records, run)
        trainable = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
        train_with(trainer)
        after = (trainer.model.merge_and_unload() if lora else trainer.model).state_dict()
        moved = sum((after[key].float() - value.float()).pow(2).sum() for key, value in before.items()).sqrt()
        size = sum(value.float().pow(2).sum() for value in before.values()).sqrt()
        rewards = [log["reward"] for log in trainer.state.log_history if "reward" in log]
        rows.append(
            {
                "run": f"{label}, lr {rate:.0e}",
                "learning_rate": rate,
                "trainable": trainable,
                "trainable share": trainable / total,
                "moved": (moved / size).item(),
                "reward": sum(rewards) / max(1, len(rewards)),
            }
        )
        del trainer, model, before, after
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return rows


def lora_reading(rows: list[dict]) -> str:
    """What `lora_learning_rates`'s three rows say, in one line computed from them."""
    full, same, ten = rows
    if full["moved"] == 0:
        return "no step had a reward spread, so no run moved its weights: run more steps, or from a stronger model"
    return (
        f"at full training's rate LoRA moved the weights {same['moved'] / full['moved']:.2f}x as far as training every "
        f"weight did, at 10x the rate {ten['moved'] / full['moved']:.2f}x ({same['trainable share']:.1%} of the numbers trained)"
    )


def _chat_texts(tokenizer: PreTrainedTokenizerBase, records: list[dict]) -> list[str]:
    """What the model reads: each problem in its chat template (`Task.model_text`), the assistant's turn opened."""
    return [GSM8K().model_text(r["prompt"], tokenizer) for r in records]


def evaluate_chat(model, tokenizer, records: list[dict], max_completion_length: int, *, batch_size: int = 64) -> dict:
    """Greedy accuracy on GSM8K problems, the share in the asked format, the share cut at the cap, length, time."""
    from ..sampling import generate_completions

    start = time.perf_counter()
    generation = generate_completions(
        model,
        tokenizer,
        _chat_texts(tokenizer, records),
        temperature=0.0,
        max_new_tokens=max_completion_length,
        batch_size=batch_size,
    )
    answers = [r["answer"] for r in records]
    finished = (generation.completion_ids == tokenizer.eos_token_id).any(dim=1)
    lengths = [length if done else max_completion_length for length, done in zip(generation.lengths.tolist(), finished.tolist())]
    return {
        "accuracy": sum(gsm8k_correctness_reward(generation.texts, answer=answers)) / len(records),
        "format_share": sum(gsm8k_format_reward(generation.texts)) / len(records),
        "clipped_ratio": clipped_ratio(lengths, max_completion_length),
        "mean_length": sum(lengths) / len(lengths),
        "seconds": time.perf_counter() - start,
        "example": generation.texts[0],
    }


def sample_answers(model, tokenizer, records: list[dict], setting: HubSetting, *, temperature: float = 1.0) -> list[str]:
    """`trace_samples` sampled answers to each problem, problem by problem (k consecutive texts each)."""
    from ..sampling import generate_completions

    generation = generate_completions(
        model, tokenizer, _chat_texts(tokenizer, records), num_generations=setting.trace_samples, temperature=temperature,
        max_new_tokens=setting.grpo.max_completion_length, batch_size=64,
    )  # fmt: skip
    return generation.texts


def keep_traces(records: list[dict], texts: list[str], k: int, *, check_notes: bool = True) -> list[dict]:
    """Rejection sampling's filter: of the k samples of each problem (texts[i*k:(i+1)*k]) keep
    the right and well-formed ones whose calculator notes add up (`check_notes`), each distinct
    text once, as (chat prompt, assistant message). Each sample is judged by `traces.judge_trace`,
    the lab's own filter, with GSM8K's rules (`tasks.GSM8K`)."""
    from ..traces import judge_trace

    task, traces, seen = GSM8K(), [], {}
    for i, text in enumerate(texts):
        record = records[i // k]
        kept_texts = seen.setdefault(record["prompt"], set())
        if judge_trace(text.strip(), record, kept_texts, check_steps_too=check_notes, task=task).kept:
            traces.append(
                {
                    "prompt": task.messages(record["prompt"]),
                    "completion": [{"role": "assistant", "content": text.strip()}],
                    "answer": record["answer"],
                }
            )
    return traces


def distill_student(student, tokenizer, traces: list[dict], setting: HubSetting, *, callbacks=()) -> dict:
    """Sequence KD: TRL's SFTTrainer on the kept traces, in the student's chat template."""
    from ..distill import DistillConfig
    from ..trainers.distill import sft_trainer, train_with

    if not traces:
        raise LabkitError("no trace was kept (none right and well-formed): train the teacher longer, or sample more")
    budget = DistillConfig(
        max_steps=setting.sft_steps, batch_size=setting.sft_batch_size, learning_rate=setting.sft_learning_rate
    )
    trainer = sft_trainer(student, tokenizer, traces, budget, callbacks=list(callbacks), **precision())
    start = time.perf_counter()
    train_with(trainer)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "seconds_per_step": seconds / setting.sft_steps, **memory()}


def memory() -> dict:
    """Peak memory so far: RAM, and GPU memory when there is a GPU (MB)."""
    gpu = peak_gpu_memory_mb()
    return {"peak_memory_mb": peak_memory_mb(), **({"peak_gpu_memory_mb": gpu} if gpu is not None else {})}
