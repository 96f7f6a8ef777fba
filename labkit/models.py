"""Tiny Llama models by name, and loading any model by name, folder or hub id.

The lab's models are ordinary `LlamaForCausalLM`s with tied embeddings and the
character tokenizer, so everything written for hub models (generate, TRL's
trainers, save_pretrained) works on them unchanged.

    name          d_model x layers, MLP     parameters   for
    teacher       128 x 4, 512             ~1.05M       the CPU default's teacher
    student       64 x 2, 160              ~96k         its student (~9% of the teacher)
    teacher-gpu   384 x 6, 1024            ~10.6M       the GPU profile's teacher
    student-gpu   128 x 4, 512             ~1.05M       its student (~10%)
    student-s     48 x 2, 128              ~57k         smaller students for the size curve
    student-xs    32 x 2, 96               ~28k           of notebook 04
    student-xxs   24 x 1, 64               ~7.6k
    student-tiny  16 x 1, 48               ~3.8k

Measured on one 2-core CPU (docs/design.md, "Measured"): a warm-up step of batch 128
took 1.17 s for the 10M model, about 6x the 1M model's, which is why it is GPU-only.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from .runtime import LabkitError, set_seed
from .tokenizer import build_tokenizer

MODEL_CONFIGS: dict[str, dict] = {
    "teacher": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512),
    "student": dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=160),
    "teacher-gpu": dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=6, intermediate_size=1024),
    "student-gpu": dict(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, intermediate_size=512),
    # Smaller students, for the "how small can it go" curve of notebook 04.
    "student-s": dict(hidden_size=48, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128),
    "student-xs": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96),
    "student-xxs": dict(hidden_size=24, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64),
    "student-tiny": dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=1, intermediate_size=48),
}


def llama_config(tokenizer: PreTrainedTokenizerBase, sizes: dict, max_position_embeddings: int = 256) -> LlamaConfig:
    """A `LlamaConfig` of `sizes` (hidden_size, num_hidden_layers, ...) for this tokenizer: tied embeddings, its pad and EOS."""
    return LlamaConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=None,
        **sizes,
    )


def tiny_config(name: str, tokenizer: PreTrainedTokenizerBase) -> LlamaConfig:
    """The `LlamaConfig` of a named tiny model for this tokenizer."""
    if name not in MODEL_CONFIGS:
        raise LabkitError(f"unknown model name {name!r}; choose one of {', '.join(MODEL_CONFIGS)}")
    return llama_config(tokenizer, MODEL_CONFIGS[name])


def new_model(config: LlamaConfig, tokenizer: PreTrainedTokenizerBase, seed: int = 0) -> LlamaForCausalLM:
    """A freshly initialised model of `config` (same seed, same weights) that generates with the tokenizer's pad and EOS."""
    set_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def build_model(name: str, seed: int = 0) -> tuple[LlamaForCausalLM, PreTrainedTokenizerBase]:
    """A freshly initialised tiny model (same seed, same weights) and its tokenizer."""
    tokenizer = build_tokenizer()
    return new_model(tiny_config(name, tokenizer), tokenizer, seed), tokenizer


def _is_hub_id(name: str) -> bool:
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "/", "~"))


def load_model(
    name_or_path: str | os.PathLike,
    *,
    device: torch.device | str | None = None,
    seed: int = 0,
    dtype: torch.dtype | str | None = None,
) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    """Load (model, tokenizer) from a tiny-config name, a local folder or a hub id.

    - a name in `MODEL_CONFIGS` builds a fresh tiny model (no files);
    - an existing folder is loaded with `from_pretrained` (what `save_model` wrote,
      or any saved transformers model);
    - `org/name` is a hub id, loaded with the same `from_pretrained` code, which
      needs a network the first time (then the local cache).
    The tokenizer is set to pad on the left, as batched generation needs.
    """
    name = str(name_or_path)
    path = Path(name).expanduser()
    if name in MODEL_CONFIGS and not path.exists():
        model, tokenizer = build_model(name, seed=seed)
    elif path.exists():
        if not path.is_dir() or not (path / "config.json").exists():
            raise LabkitError(f"{path} is not a saved model (no config.json in it); pass a model folder or a name")
        model, tokenizer = _from_pretrained(str(path), dtype)
    elif _is_hub_id(name):
        model, tokenizer = _from_pretrained(name, dtype)
    else:
        raise LabkitError(
            f"{name!r} is neither a labkit model name ({', '.join(MODEL_CONFIGS)}), "
            "an existing folder, nor a hub id like 'Qwen/Qwen2.5-0.5B-Instruct'"
        )
    if device is not None:
        model.to(device)
    return model, tokenizer


def _from_pretrained(name: str, dtype: torch.dtype | str | None) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    try:
        with _no_progress_bars():
            tokenizer = AutoTokenizer.from_pretrained(name, padding_side="left")
            model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype or "auto")
    except (OSError, ValueError) as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LabkitError(f"could not load model {name!r}: {first_line}") from None
    if tokenizer.pad_token is None:
        # Many base models have no pad token; EOS is the usual stand-in.
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer


def save_model(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, path: str | os.PathLike) -> Path:
    """Save model (safetensors) and tokenizer to a folder `load_model` can read."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    with _no_progress_bars():
        model.save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path


@contextlib.contextmanager
def _no_progress_bars():
    """transformers draws a bar for every load and save; a notebook does dozens of each, for tiny models."""
    from transformers.utils import logging as transformers_logging

    was_on = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            transformers_logging.enable_progress_bar()


def count_parameters(model: torch.nn.Module) -> int:
    """Distinct parameters (tied embeddings counted once), as transformers' `num_parameters()`
    counts them, plus the weights an int8 copy (`quantize_int8`) no longer lists as parameters."""
    total = model.num_parameters() if hasattr(model, "num_parameters") else sum(p.numel() for p in model.parameters())
    for module in model.modules():
        if isinstance(module, torch.ao.nn.quantized.dynamic.Linear):
            bias = module.bias()
            total += module.weight().numel() + (bias.numel() if bias is not None else 0)
    return total


def config_parameters(name: str) -> int:
    """Parameters of a named tiny model, counted on a weightless copy (the meta device): nothing is allocated."""
    config = tiny_config(name, build_tokenizer())
    with torch.device("meta"):
        return count_parameters(LlamaForCausalLM(config))


def size_on_disk(path: str | os.PathLike) -> int:
    """Bytes of the weight files in a saved model folder."""
    path = Path(path)
    return sum(f.stat().st_size for f in path.glob("*.safetensors"))


def state_dict_bytes(model: torch.nn.Module) -> int:
    """Bytes of the model's state dict as `torch.save` writes it (works for quantised models too)."""
    import io

    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    return buffer.tell()


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """A copy with every `Linear` stored as int8 (PyTorch dynamic quantisation, CPU only).

    Weights become 8-bit integers; activations are quantised on the fly, so no
    retraining or calibration data is needed. `count_parameters` counts the
    quantised weights too; the copy's output layer no longer shares the
    embedding's weights (one is int8, the other float), so it holds that matrix twice.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
