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
for the lab's Llamas); and one forward and backward pass over the whole batch, through HF's forward,
on the same kind of hand-written page (no module tree: what overhead is left to cut?), and as pure
arithmetic (6 FLOPs a parameter a token at this machine's measured matmul rate). The median over the steps after the first is shown. The last
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
from labkit.trainers.grpo import grpo_trainer
from labkit.trainers.setup import StepTimer

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


# --- labkit's loop, piece by piece (the same calls as grpo_loop._sample_and_score and _learn) -------------------------------
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


full_ids = torch.cat([prompt_ids, generation.completion_ids], dim=1)
full_mask = torch.cat([prompt_mask, generation.completion_mask], dim=1)


def forward_backward_floor():
    model(input_ids=full_ids, attention_mask=full_mask).logits.float().logsumexp(-1).mean().backward()
    model.zero_grad(set_to_none=True)


def page_logits(ids, mask):
    """The same Llama forward written out on `llama_decode`'s page (fused projections, no module tree, SDPA),
    differentiable: is the update's floor HF's per-module overhead, or the work itself?"""
    w, (rows, n) = llama_decode.LlamaWeights(model), ids.shape
    angles = ((mask.cumsum(1) - 1).clamp(min=0)[..., None].float() * w.inv_freq).repeat(1, 1, 2)[:, None]
    cos, sin = angles.cos(), angles.sin()
    allowed = (mask.bool()[:, None, :] & torch.ones(n, n, dtype=torch.bool).tril()) | torch.eye(n, dtype=torch.bool)
    bias = torch.zeros(allowed.shape).masked_fill(~allowed, float("-inf"))[:, None]
    q_size, kv_size = w.heads * w.head_dim, w.kv_heads * w.head_dim
    x = torch.nn.functional.embedding(ids, w.embed)
    for norm1, qkv, out, norm2, gate_up, down in w.layers:
        q, k, v = torch.nn.functional.linear(llama_decode.rms_norm(x, norm1, w.eps), qkv).split([q_size, kv_size, kv_size], -1)
        q = llama_decode.rotate(q.view(rows, n, w.heads, w.head_dim).transpose(1, 2), cos, sin)
        k = llama_decode.rotate(k.view(rows, n, w.kv_heads, w.head_dim).transpose(1, 2), cos, sin)
        v = v.view(rows, n, w.kv_heads, w.head_dim).transpose(1, 2)
        attended = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=bias, enable_gqa=w.kv_heads != w.heads)
        x = x + torch.nn.functional.linear(attended.transpose(1, 2).reshape(rows, n, q_size), out)
        gate, up = torch.nn.functional.linear(llama_decode.rms_norm(x, norm2, w.eps), gate_up).chunk(2, dim=-1)
        x = x + torch.nn.functional.linear(torch.nn.functional.silu(gate) * up, down)
    return torch.nn.functional.linear(llama_decode.rms_norm(x, w.norm, w.eps), w.lm_head)


def page_forward_backward_floor():
    page_logits(full_ids, full_mask).logsumexp(-1).mean().backward()
    model.zero_grad(set_to_none=True)


def matmul_rate():
    """This machine's float32 matmul rate (FLOP/s) on a large square product: the arithmetic floor's clock."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    return 2 * 2048**3 / statistics.median(timed(lambda: a @ b)[1] for _ in range(5))


with torch.no_grad():  # the page computes the model's own logits (checked here, where it is timed)
    reference = model(input_ids=full_ids, attention_mask=full_mask).logits
    assert torch.allclose(page_logits(full_ids, full_mask)[full_mask.bool()], reference[full_mask.bool()], atol=1e-4)
floors = {
    name: statistics.median(timed(fn)[1] for _ in range(3))
    for name, fn in (
        ("decode", decode_floor),
        ("page", page_decode_floor),
        ("fwd+bwd", forward_backward_floor),
        ("page fwd+bwd", page_forward_backward_floor),
    )
}
# A forward and backward pass is about 6 FLOPs per parameter per token (2 forward, 4 backward), attention aside.
arithmetic = 6 * sum(p.numel() for p in model.parameters()) * full_ids.numel() / matmul_rate()

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
    "update": f"fwd+bwd {floors['fwd+bwd']:.3f} s through HF, {floors['page fwd+bwd']:.3f} s on a hand-written page; "
    f"its arithmetic alone at this machine's matmul rate {arithmetic:.3f} s",
}
for part in ("sampling", "scoring", "update"):
    print(f"{part:<10}{labkit_total[part]:>10.3f}{trl_total[part]:>10.3f}   {floor_of.get(part, '')}")
labkit_step, trl_step = sum(labkit_total.values()), sum(trl_total.values())
print(f"{'step':<10}{labkit_step:>10.3f}{trl_step:>10.3f}")
print(
    f"labkit {labkit_step:.3f} s/step ({labkit_total['sampling'] / labkit_step:.0%} sampling), "
    f"TRL {trl_step:.3f} s/step ({trl_total['sampling'] / trl_step:.0%} sampling): labkit {trl_step / labkit_step:.2f}x TRL's steps/s"
)
