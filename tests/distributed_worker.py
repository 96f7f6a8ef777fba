"""One GRPOTrainer run, in 1 process (`python tests/distributed_worker.py ...`) or in N processes
(`accelerate launch --config_file configs/accelerate/cpu2.yaml tests/distributed_worker.py ...`).
`tests/test_distributed.py` runs it both ways and compares the two runs.

The GLOBAL batch is fixed: `--prompts` prompts x `--generations` completions a step. Each of the
N processes gets `prompts / N` of the prompts (TRL's `per_device_train_batch_size` is per process).

Why sampling is patched (`row_seeded_generation`): TRL seeds each process with `seed + rank`, so
a 1-process run and a 2-process run sample DIFFERENT completions from the same model, and their
losses and weights then differ for a reason that has nothing to do with distributed training; no
tolerance would make such a comparison meaningful. The patch samples every completion alone, with
torch's RNG seeded by (global step, global row), so the completions no longer depend on how the
batch is split across processes. It touches only sampling: everything the test measures (the
rewards gathered across processes, the group advantages computed over them, the loss, DDP's
gradient all-reduce, clipping and the optimiser step) is TRL's and accelerate's own code.

A dense reward (`length_heuristic_reward`) is added to correctness and format so that every
group has a reward spread and every step has a non-zero gradient.

The main process writes `<out>/result.pt`: what each rank saw, the log lines, the completions
of every step in global row order, and the final weights.
"""

from __future__ import annotations

import argparse
import hashlib
import os

import torch
from trl import GRPOTrainer
from trl.models import unwrap_model_for_generation

from labkit.grpo_loop import GRPOLoopConfig
from labkit.models import load_model
from labkit.rewards import correctness_reward, format_reward, length_heuristic_reward
from labkit.tasks import read_records
from labkit.trainers.grpo import grpo_trainer


def row_seeded_generation(seed: int):
    """A replacement for `GRPOTrainer._generate_single_turn` that is invariant to the process split.

    Each row is sampled alone (no padding) with `torch.manual_seed(f(step, global row))`. The
    processes hold consecutive slices of the generation batch, so rank r's row i is global row
    `r * n + i`.
    """

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        assert not self.use_vllm, "the row-seeded sampler replaces transformers generation only"
        rank, n = self.accelerator.process_index, len(prompt_ids)
        eos = set(self.eos_token_ids)
        out = []
        with unwrap_model_for_generation(self.model_wrapped, self.accelerator) as model, torch.no_grad():
            for i, ids in enumerate(prompt_ids):
                torch.manual_seed(1_000_003 * (self.state.global_step + 1) + rank * n + i + seed)
                x = torch.tensor([ids], device=self.accelerator.device)
                full = model.generate(input_ids=x, attention_mask=torch.ones_like(x), generation_config=self.generation_config)
                c = full[0, x.size(1) :].tolist()
                cut = next((j for j, t in enumerate(c) if t in eos), None)
                out.append(c if cut is None else c[: cut + 1])
        return out, None

    return _generate_single_turn


def record_generation(seen: dict) -> None:
    """Wrap TRL's sampling to record how many prompt rows each step sampled here, and the completions."""
    single_turn, generate = GRPOTrainer._generate_single_turn, GRPOTrainer._generate

    def _single_turn(self, *args, **kwargs):
        completion_ids, logprobs = single_turn(self, *args, **kwargs)
        seen["completion_ids"].append([list(c) for c in completion_ids])
        return completion_ids, logprobs

    def _generate(self, prompts):
        seen["prompt_rows"].append(len(prompts))
        return generate(self, prompts)

    GRPOTrainer._generate_single_turn = _single_turn
    GRPOTrainer._generate = _generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="a labkit checkpoint folder (e.g. teacher_base/)")
    parser.add_argument("--out", required=True, help="the main process writes OUT/result.pt")
    parser.add_argument("--prompts", type=int, default=4, help="prompts a step, over all processes")
    parser.add_argument("--generations", type=int, default=4, help="completions per prompt")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss-type", default="dapo")
    args = parser.parse_args()

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if args.prompts % world:
        parser.error(f"--prompts {args.prompts} does not split evenly over {world} processes")

    GRPOTrainer._generate_single_turn = row_seeded_generation(args.seed)
    seen: dict = {"prompt_rows": [], "completion_ids": []}
    record_generation(seen)

    model, tokenizer = load_model(args.base)
    config = GRPOLoopConfig(
        max_steps=args.steps,
        prompts_per_step=args.prompts // world,  # per process: the global batch stays the same
        num_generations=args.generations,
        seed=args.seed,
        loss_type=args.loss_type,
    )
    rewards = [correctness_reward, format_reward, length_heuristic_reward]
    trainer = grpo_trainer(model, tokenizer, read_records("train"), config=config, reward_funcs=rewards)
    acc = trainer.accelerator
    trainer.train()

    state = {k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()}
    info = {
        "rank": acc.process_index,
        "num_processes": acc.num_processes,
        "distributed_type": str(acc.distributed_type),
        "backend": acc.state.backend,
        "model_wrapper": type(trainer.model_wrapped).__name__,
        "per_device_train_batch_size": trainer.args.per_device_train_batch_size,
        "rows_generated_per_step": seen["prompt_rows"],
        "weights_sha": hashlib.sha256(b"".join(v.numpy().tobytes() for v in state.values())).hexdigest()[:16],
    }
    if acc.num_processes > 1:
        infos, completions = [None] * acc.num_processes, [None] * acc.num_processes
        torch.distributed.all_gather_object(infos, info)
        torch.distributed.all_gather_object(completions, seen["completion_ids"])
    else:
        infos, completions = [info], [seen["completion_ids"]]
    if acc.is_main_process:
        os.makedirs(args.out, exist_ok=True)
        # every step's completions in global row order (rank 0's rows first)
        steps = [sum((c[s] for c in completions), []) for s in range(len(completions[0]))]
        logs = [log for log in trainer.state.log_history if "loss" in log]
        result = {"infos": infos, "logs": logs, "state": state, "completions": steps}
        torch.save(result, os.path.join(args.out, "result.pt"))
    acc.wait_for_everyone()
    if torch.distributed.is_initialized():
        # Torn down here, not by the interpreter's exit: left to exit, gloo's threads can abort a rank
        # ("terminate called without an active exception", seen once in five clean-clone CI runs).
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
