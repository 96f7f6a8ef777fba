"""Seeds, devices, errors and memory: the few things every other module needs.

- `set_seed` is the one seed helper of the lab: Python, NumPy and torch (CPU and
  CUDA) from one integer, so the same seed gives the same data, weights and
  metrics on the CPU. Tests rely on it.
- `pick_device` chooses CUDA, then Apple's MPS, then the CPU, and says which.
- `LabkitError` is the error the CLI turns into one clear line instead of a
  traceback from deep inside a library.
"""

from __future__ import annotations

import os
import random
import sys

import numpy as np
import torch


class LabkitError(Exception):
    """A mistake the user can fix; the message says how."""


def set_seed(seed: int) -> None:
    """Seed every random number generator the lab uses."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds CUDA and MPS generators


def pick_device(preferred: str | None = None, *, verbose: bool = False) -> torch.device:
    """CUDA if present, then Apple's MPS, then the CPU (or `preferred` if given).

    `LABKIT_DEVICE=cpu` forces a device from the environment, which is how the
    CPU default of the lab is kept on a machine that happens to have a GPU.
    """
    choice = preferred or os.environ.get("LABKIT_DEVICE")
    if choice:
        if choice.startswith("cuda") and not torch.cuda.is_available():
            raise LabkitError(f"device {choice!r} was asked for but CUDA is not available; use 'cpu'")
        if choice == "mps" and not torch.backends.mps.is_available():
            raise LabkitError("device 'mps' was asked for but MPS is not available; use 'cpu'")
        device = torch.device(choice)
    elif torch.cuda.is_available():
        device = torch.device("cuda")
    elif torch.backends.mps.is_available():
        device = torch.device("mps")
    else:
        device = torch.device("cpu")
    if verbose:
        print(f"labkit: using device {describe_device(device)}")
    return device


def describe_device(device: torch.device) -> str:
    """A short human description, e.g. 'cpu (2 threads)' or 'cuda (NVIDIA H200)'."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        return f"cpu ({torch.get_num_threads()} threads)"
    return device.type


def describe_machine() -> str:
    """The machine a figure was measured on, in one line: CPU model, cores, memory, Python, OS."""
    import platform

    import psutil

    model = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo").read().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gb = psutil.virtual_memory().total / 2**30
    return f"{model}, {os.cpu_count()} cores, {memory_gb:.0f} GiB, Python {platform.python_version()}, {platform.system()}"


def jupyter_proxy_path(port: int) -> str | None:
    """Where a browser reaches `port` through jupyter-server-proxy on a JupyterHub such as Binder
    (`{JUPYTERHUB_SERVICE_PREFIX}proxy/PORT`), or None when not on one."""
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    return f"{prefix.rstrip('/')}/proxy/{port}" if prefix else None


def peak_gpu_memory_mb() -> float | None:
    """Peak GPU memory PyTorch allocated in this process, in MB; None without CUDA."""
    if not torch.cuda.is_available():
        return None
    return torch.cuda.max_memory_allocated() / 1e6


def reset_peak_gpu_memory() -> None:
    """Start the GPU peak over (before a stage whose own peak is wanted); nothing without CUDA."""
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mb() -> float:
    """Peak resident memory of this process so far, in MB (CPU RAM).

    On Linux this is VmHWM from /proc: `ru_maxrss` would do too, except that a
    child process inherits its parent's maximum, which makes a small child
    started from a large notebook kernel look as large as the kernel.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows: report the current size instead of the peak
        import psutil

        return psutil.Process().memory_info().rss / 1e6
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports kilobytes, macOS bytes.
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024
