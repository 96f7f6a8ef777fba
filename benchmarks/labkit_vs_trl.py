"""labkit's GRPO loop beside TRL's GRPOTrainer: seconds per step on the same model and batch.

    .venv/bin/python benchmarks/labkit_vs_trl.py [--model teacher] [--steps 20]

Same model (fresh, seed 0) and one `GRPOLoopConfig` for both (8 prompts x 8
generations, lr 1e-4, its completion length), correctness + format rewards, CPU.
Both run in this process, one after the other.
"""

import argparse
import time
import warnings

from labkit.grpo_loop import GRPOLoopConfig, train_grpo
from labkit.models import build_model
from labkit.tasks import read_records
from labkit.trl_grpo import grpo_trainer

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--model", default="teacher")
parser.add_argument("--steps", type=int, default=20)
args = parser.parse_args()
records = read_records("train")

config = GRPOLoopConfig(max_steps=args.steps)  # one config: TRL gets the same settings by name (trl_grpo_config)
model, tokenizer = build_model(args.model)
start = time.perf_counter()
train_grpo(model, tokenizer, records, config)
labkit_seconds = (time.perf_counter() - start) / args.steps

model, tokenizer = build_model(args.model)
trainer = grpo_trainer(model, tokenizer, records, config=config, logging_steps=args.steps)
start = time.perf_counter()
trainer.train()
trl_seconds = (time.perf_counter() - start) / args.steps

print(f"model {args.model}, 64 completions a step, {args.steps} steps each")
print(f"labkit loop      {labkit_seconds:.3f} s/step")
print(f"TRL GRPOTrainer  {trl_seconds:.3f} s/step")
print(f"labkit is {trl_seconds / labkit_seconds:.2f}x the steps/s of GRPOTrainer")
