"""Multi-process training: the accelerate configs load, and 2 processes compute what 1 process computes.

The 2-process test runs `tests/distributed_worker.py` twice from the same warmed-up base model:
once as a plain process with the whole global batch (4 prompts x 4 completions a step), once under
`accelerate launch --config_file configs/accelerate/cpu2.yaml` (2 processes over gloo, 2 prompts
each). Sampling is made split-invariant (see the worker's docstring), so both runs train on the same
completions and any difference comes from the distributed path itself: gathered rewards, advantages,
DDP's gradient all-reduce, the optimiser. Measured on 2 CPU cores: loss gaps <= 1e-7 and final
weights within ~1e-6 against an update of ~3e-4; the tolerances below leave an order of margin.
"""

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate.commands.config.config_args import load_config_from_file
from accelerate.utils import DistributedType

from labkit.models import load_model

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs" / "accelerate"
WORKER = Path(__file__).with_name("distributed_worker.py")
BIN = Path(sys.executable).parent

PROMPTS, GENERATIONS, STEPS = 4, 4, 3  # the global batch: 16 completions a step
LOSS_ABS, LOSS_REL = 1e-5, 1e-4  # |loss_1 - loss_2| <= LOSS_ABS + LOSS_REL * |loss_1|
GRAD_NORM_REL = 1e-4
WEIGHTS_ABS = 1e-5  # max |w_1 - w_2| over all parameters
MIN_UPDATE = 10 * WEIGHTS_ABS  # the weights must move much more than the tolerance, or the test proves nothing

# file: (distributed type, ZeRO stage or None, processes, machines)
EXPECTED = {
    "ddp.yaml": (DistributedType.MULTI_GPU, None, 8, 1),
    "zero2.yaml": (DistributedType.DEEPSPEED, 2, 8, 1),
    "zero3.yaml": (DistributedType.DEEPSPEED, 3, 8, 1),
    "multinode.yaml": (DistributedType.DEEPSPEED, 2, 16, 2),
    "cpu2.yaml": (DistributedType.MULTI_GPU, None, 2, 1),
}


def test_every_config_is_expected():
    assert sorted(p.name for p in CONFIGS.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_loads_with_accelerate(name):
    config = load_config_from_file(str(CONFIGS / name))
    kind, stage, processes, machines = EXPECTED[name]
    assert config.distributed_type == kind
    assert config.num_processes == processes
    assert config.num_machines == machines
    assert config.deepspeed_config.get("zero_stage") == stage
    if kind == DistributedType.DEEPSPEED:
        ds = config.deepspeed_config
        assert ds["offload_optimizer_device"] == ds["offload_param_device"] == "none"
        assert ds["gradient_clipping"] == 1.0  # TrainingArguments.max_grad_norm's default: they must agree
        assert "gradient_accumulation_steps" not in ds  # "auto": taken from the GRPOConfig
        assert config.mixed_precision == "bf16"
    if stage == 3:
        assert config.deepspeed_config["zero3_init_flag"] and config.deepspeed_config["zero3_save_16bit_model"]
    if machines > 1:
        assert config.machine_rank == 0 and config.main_process_ip and config.main_process_port
    if name == "cpu2.yaml":
        assert config.use_cpu and config.mixed_precision == "no"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def worker_env() -> dict:
    """No inherited rank variables (a stray WORLD_SIZE would make the 1-process run wait for peers),
    no GPU (both runs on the CPU, so they are comparable on any machine), one thread a process."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    env["PYTHONWARNINGS"] = "ignore"
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def run_worker(launcher: list[str], base: Path, out: Path) -> dict:
    args = ["--base", str(base), "--out", str(out), "--prompts", str(PROMPTS), "--generations", str(GENERATIONS)]
    args += ["--steps", str(STEPS), "--loss-type", "dapo"]
    proc = subprocess.run(
        launcher + [str(WORKER)] + args, cwd=ROOT, env=worker_env(), capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, f"{' '.join(launcher)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return torch.load(out / "result.pt", weights_only=False)


@pytest.fixture(scope="module")
def base(quick_run) -> Path:
    """The session's quick run's warmed-up teacher (~1M parameters): its completions mostly stop at EOS, so
    sampling is quick. Read only: both runs load it and write elsewhere."""
    result, out = quick_run
    assert result.returncode == 0, result.stderr[-2000:]
    return out / "teacher_base"


def test_two_processes_match_one(base, tmp_path):
    one = run_worker([str(BIN / "python")], base, tmp_path / "one")
    two = run_worker(
        [str(BIN / "accelerate"), "launch", "--config_file", str(CONFIGS / "cpu2.yaml"), "--main_process_port", str(free_port())],
        base,
        tmp_path / "two",
    )

    # The layout: really 2 processes, gloo, DDP, half the rows each, one set of weights at the end.
    half = PROMPTS * GENERATIONS // 2
    (solo,) = one["infos"]
    assert solo["num_processes"] == 1 and solo["rows_generated_per_step"] == [2 * half] * STEPS
    assert [info["rank"] for info in two["infos"]] == [0, 1]
    for info in two["infos"]:
        assert info["num_processes"] == 2
        assert info["distributed_type"].endswith("MULTI_CPU") and info["backend"] == "gloo"
        assert info["model_wrapper"] == "DistributedDataParallel"
        assert info["rows_generated_per_step"] == [half] * STEPS
    assert two["infos"][0]["weights_sha"] == two["infos"][1]["weights_sha"], "the ranks' weights drifted apart"

    # The same data: identical completions, step by step, in global row order.
    assert len(one["completions"]) == STEPS
    assert one["completions"] == two["completions"]

    # The same computation: per-step loss and gradient norm.
    assert [log["step"] for log in one["logs"]] == [log["step"] for log in two["logs"]] == list(range(1, STEPS + 1))
    for a, b in zip(one["logs"], two["logs"]):
        assert abs(a["loss"] - b["loss"]) <= LOSS_ABS + LOSS_REL * abs(a["loss"]), (a["step"], a["loss"], b["loss"])
        assert abs(a["grad_norm"] - b["grad_norm"]) <= GRAD_NORM_REL * abs(a["grad_norm"]), (
            a["step"],
            a["grad_norm"],
            b["grad_norm"],
        )

    # The same weights, after an update far larger than the tolerance.
    start = load_model(base)[0].state_dict()
    gap = max((one["state"][k] - two["state"][k]).abs().max().item() for k in start)
    moved = max((one["state"][k] - start[k]).abs().max().item() for k in start)
    loss_gap = max(abs(a["loss"] - b["loss"]) for a, b in zip(one["logs"], two["logs"]))
    print(f"max loss gap {loss_gap:.1e}; max |w_1p - w_2p| = {gap:.2e}, update max |w_1p - w_0| = {moved:.2e}")
    assert moved >= MIN_UPDATE, f"the weights barely moved ({moved:.2e}): the comparison could not fail"
    assert gap <= WEIGHTS_ABS, f"final weights differ by {gap:.2e}"
