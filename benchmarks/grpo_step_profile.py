"""Where a GRPO step's time goes: labkit's loop and TRL's GRPOTrainer, split, beside their floors.

    .venv/bin/python benchmarks/grpo_step_profile.py [--model teacher] [--steps 6]

One `GRPOLoopConfig` (8 prompts x 8 generations, its completion cap) on the same fresh model for
both, in this process, one after the other. Each step is split into
    sampling   generating the completions (labkit: `generate_completions`; TRL: `_generate_single_turn`)
    scoring    rewards, advantages and, where needed, log-probs without gradients (TRL: the rest of
               `_generate_and_score_completions`)
    update     the forward and backward pass and the optimiser step (the rest of the step)
and set beside the floors measured on the same batch shape: the decode floor (one cached forward
pass a token at this batch, the model's own cost of sampling, nothing else), through HF's forward
(what `generate` and so TRL pay) and on `labkit.llama_decode`'s page (what labkit's sampler pays
for the lab's Llamas), and one forward and backward pass over the whole batch. The median over the steps after the first is shown. The last
line is the headline: each implementation's step, and what share of it is sampling.
"""

import argparse
import statistics
import time
import warnings

import torch

from labkit import llama_decode
from labkit.grpo import group_advantages
from labkit.grpo_loop import GRPOLoopConfig, grpo_update
from labkit.models import build_model
from labkit.rewards import correctness_reward, format_reward
from labkit.sampling import generate_completions
from labkit.tasks import read_records
from labkit.trl_grpo import grpo_trainer
from labkit.trl_setup import StepTimer

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--model", default="teacher")
parser.add_argument("--steps", type=int, default=6)
args = parser.parse_args()
config = GRPOLoopConfig(max_steps=args.steps)
records = read_records("train")
G, prompts_per_step = config.num_generations, config.prompts_per_step


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


# --- labkit's loop, piece by piece (the same calls as grpo_loop._grpo_step) -------------------------------
model, tokenizer = build_model(args.model)
optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
labkit = {"sampling": [], "scoring": [], "update": []}
lengths = []
for step in range(args.steps):
    batch = records[step * prompts_per_step : (step + 1) * prompts_per_step]
    answers = [r["answer"] for r in batch for _ in range(G)]
    start = time.perf_counter()
    generation = generate_completions(
        model, tokenizer, [r["prompt"] for r in batch], num_generations=G, temperature=config.temperature,
        max_new_tokens=config.max_completion_length,
    )  # fmt: skip
    sampled = time.perf_counter()
    rewards = torch.tensor(correctness_reward(generation.texts, answer=answers)) + torch.tensor(format_reward(generation.texts))
    advantages = group_advantages(rewards, G, scale=config.scale_rewards)
    scored = time.perf_counter()
    grpo_update(model, optimizer, generation, advantages, config)
    labkit["sampling"].append(sampled - start)
    labkit["scoring"].append(scored - sampled)
    labkit["update"].append(time.perf_counter() - scored)
    lengths.append(generation.completion_ids.shape[1])

# --- the floors, on the last batch's shape ------------------------------------------------------------------
prompt_ids, prompt_mask = generation.prompt_ids, generation.prompt_mask
width = max(lengths)


@torch.no_grad()
def decode_floor():
    out = model(input_ids=prompt_ids, attention_mask=prompt_mask, use_cache=True)
    token, mask = prompt_ids[:, -1:], prompt_mask
    for _ in range(width):
        mask = torch.cat([mask, torch.ones_like(token)], dim=1)
        out = model(input_ids=token, attention_mask=mask, past_key_values=out.past_key_values, use_cache=True)
        token = out.logits[:, -1:].argmax(-1)


def page_decode_floor():
    # Greedy, and with an EOS no token is (-1), so every row runs all `width` tokens, as the floor above does.
    llama_decode.decode(model, prompt_ids, prompt_mask, max_new_tokens=width, temperature=0.0, eos_token_id=-1, pad_token_id=0)


def forward_backward_floor():
    ids = torch.cat([prompt_ids, generation.completion_ids], dim=1)
    mask = torch.cat([prompt_mask, generation.completion_mask], dim=1)
    model(input_ids=ids, attention_mask=mask).logits.float().logsumexp(-1).mean().backward()
    model.zero_grad(set_to_none=True)


floors = {
    name: statistics.median(timed(fn)[1] for _ in range(3))
    for name, fn in (("decode", decode_floor), ("page", page_decode_floor), ("fwd+bwd", forward_backward_floor))
}

# --- TRL's GRPOTrainer, with its generation and scoring timed from the inside --------------------------------
model, tokenizer = build_model(args.model)
trainer = grpo_trainer(model, tokenizer, records, config=config, logging_steps=args.steps)
trl = {"sampling": [], "generate_and_score": []}
generate_single_turn, generate_and_score = trainer._generate_single_turn, trainer._generate_and_score_completions


def timed_single_turn(*a, **k):
    out, seconds = timed(lambda: generate_single_turn(*a, **k))
    trl["sampling"].append(seconds)
    return out


def timed_generate_and_score(*a, **k):
    out, seconds = timed(lambda: generate_and_score(*a, **k))
    trl["generate_and_score"].append(seconds)
    return out


trainer._generate_single_turn, trainer._generate_and_score_completions = timed_single_turn, timed_generate_and_score
timer = StepTimer()
trainer.add_callback(timer)
trainer.train()
steps = len(timer.seconds)
trl_split = {
    "sampling": trl["sampling"][:steps],
    "scoring": [a - b for a, b in zip(trl["generate_and_score"], trl["sampling"])][:steps],
    "update": [total - gs for total, gs in zip(timer.seconds, trl["generate_and_score"])],
}


def median(values):
    return statistics.median(values[1:] or values)  # the first step pays for set-up


labkit_total = {k: median(v) for k, v in labkit.items()}
trl_total = {k: median(v) for k, v in trl_split.items()}
n = prompts_per_step * G
print(
    f"model {args.model}, {n} completions a step (cap {config.max_completion_length} tokens, widest {width}), {args.steps} steps"
)
print(f"{'part':<10}{'labkit s':>10}{'TRL s':>10}   floor")
floor_of = {
    "sampling": f"decode {floors['decode']:.3f} s ({width} cached HF forwards at batch {n}), "
    f"{floors['page']:.3f} s on llama_decode's page",
    "update": f"fwd+bwd {floors['fwd+bwd']:.3f} s",
}
for part in ("sampling", "scoring", "update"):
    print(f"{part:<10}{labkit_total[part]:>10.3f}{trl_total[part]:>10.3f}   {floor_of.get(part, '')}")
labkit_step, trl_step = sum(labkit_total.values()), sum(trl_total.values())
print(f"{'step':<10}{labkit_step:>10.3f}{trl_step:>10.3f}")
print(
    f"labkit {labkit_step:.3f} s/step ({labkit_total['sampling'] / labkit_step:.0%} sampling), "
    f"TRL {trl_step:.3f} s/step ({trl_total['sampling'] / trl_step:.0%} sampling): labkit {trl_step / labkit_step:.2f}x TRL's steps/s"
)
