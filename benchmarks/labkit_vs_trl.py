"""labkit's GRPO loop beside TRL's GRPOTrainer: seconds per step on the same model and batch.

    .venv/bin/python benchmarks/labkit_vs_trl.py [--model teacher] [--steps 20]

Same model (fresh, seed 0), 8 prompts x 8 generations, 40 new tokens, lr 1e-4,
correctness + format rewards, CPU. Both run in this process, one after the other.
"""

import argparse
import tempfile
import time
import warnings

from datasets import Dataset
from trl import GRPOConfig as TRLConfig
from trl import GRPOTrainer

from labkit.grpo_loop import GRPOConfig, train_grpo
from labkit.models import build_model
from labkit.rewards import correctness_reward, format_reward
from labkit.tasks import read_records

warnings.filterwarnings("ignore")
parser = argparse.ArgumentParser()
parser.add_argument("--model", default="teacher")
parser.add_argument("--steps", type=int, default=20)
args = parser.parse_args()
records = read_records("train")

model, tokenizer = build_model(args.model)
start = time.perf_counter()
train_grpo(model, tokenizer, records, GRPOConfig(steps=args.steps))
labkit_seconds = (time.perf_counter() - start) / args.steps

model, tokenizer = build_model(args.model)
data = Dataset.from_list([{"prompt": r["prompt"], "answer": r["answer"]} for r in records])
with tempfile.TemporaryDirectory() as out:
    config = TRLConfig(
        output_dir=out,
        per_device_train_batch_size=64,
        num_generations=8,
        max_completion_length=40,
        learning_rate=1e-4,
        max_steps=args.steps,
        bf16=False,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_steps=args.steps,
        disable_tqdm=True,
        beta=0.0,
    )
    trainer = GRPOTrainer(
        model=model, processing_class=tokenizer, reward_funcs=[correctness_reward, format_reward], args=config, train_dataset=data
    )
    start = time.perf_counter()
    trainer.train()
    trl_seconds = (time.perf_counter() - start) / args.steps

print(f"model {args.model}, 64 completions a step, {args.steps} steps each")
print(f"labkit loop      {labkit_seconds:.3f} s/step")
print(f"TRL GRPOTrainer  {trl_seconds:.3f} s/step")
print(f"labkit is {trl_seconds / labkit_seconds:.2f}x the steps/s of GRPOTrainer")
