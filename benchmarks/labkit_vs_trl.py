"""labkit's GRPO loop beside TRL's GRPOTrainer: seconds per step on the same model and batch.

    .venv/bin/python benchmarks/labkit_vs_trl.py [--model teacher] [--steps 21]

Same model (fresh, seed 0) and one `GRPOLoopConfig` for both (8 prompts x 8
generations, lr 1e-4, its completion length), correctness + format rewards, CPU.
Both run in this process, one after the other. A step's time includes its
sampling; the first step of each pays for set-up and is dropped, and the median
of the others is compared, with their spread (max - min). The ratio is the last line.
"""

import argparse
import statistics
import warnings

from labkit.grpo_loop import GRPOLoopConfig, train_grpo
from labkit.models import build_model
from labkit.tasks import read_records
from labkit.trainers.grpo import grpo_trainer
from labkit.trainers.setup import StepTimer

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--model", default="teacher")
parser.add_argument("--steps", type=int, default=21)
args = parser.parse_args()
records = read_records("train")

config = GRPOLoopConfig(max_steps=args.steps)  # one config: TRL gets the same settings by name (trl_grpo_config)
model, tokenizer = build_model(args.model)
labkit_steps = [m["step_seconds"] for m in train_grpo(model, tokenizer, records, config)][1:]

model, tokenizer = build_model(args.model)
timer = StepTimer()
grpo_trainer(model, tokenizer, records, config=config, callbacks=[timer], logging_steps=args.steps).train()
trl_steps = timer.seconds[1:]

print(
    f"model {args.model}, {config.prompts_per_step * config.num_generations} completions a step, {len(labkit_steps)} warm steps each"
)
for name, steps in (("labkit loop", labkit_steps), ("TRL GRPOTrainer", trl_steps)):
    print(f"{name:<16} {statistics.median(steps):.3f} s/step (median; spread {max(steps) - min(steps):.3f} s)")
print(f"labkit is {statistics.median(trl_steps) / statistics.median(labkit_steps):.2f}x the steps/s of GRPOTrainer")
