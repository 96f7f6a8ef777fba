"""A saved teacher or student as ONNX, and greedy decoding with ONNX Runtime: the model off PyTorch.

    export_onnx(model, out)      OUT/model.onnx (+ model.int8.onnx with `int8=True`), the tokenizer files,
                                 config.json and generation_config.json: one folder that runs without labkit
    OnnxGreedy(out)              greedy answers from that folder with ONNX Runtime (CPU), token by token

What is exported is the forward pass and nothing else:

    logits = model(input_ids (B, T), attention_mask (B, T))          (B, T, V), float32

with the batch and the length dynamic (TorchScript exporter, opset 17). No KV cache: each new token reruns
the whole sequence, which for the lab's answers (tens of tokens through a model of about 1M parameters)
costs little; `benchmarks/edge.py` measures what it costs. Decoding is the loop of `sampling`'s greedy
path written against the ONNX session: the argmax of the last position's logits, appended until EOS or
`max_new_tokens`, one problem at a time (no padding, so positions are 0, 1, 2, ... as in training).

int8 is ONNX Runtime's dynamic quantisation (`quantize_dynamic`): weights stored as 8-bit integers,
activations quantised on the fly, no calibration data. It may change a greedy token where two logits were
close; `benchmarks/edge.py` reports its accuracy beside fp32's.
"""

from __future__ import annotations

import contextlib
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from ..models import count_parameters, load_model
from ..runtime import LabkitError

OPSET = 17
MODEL_FILE, INT8_FILE = "model.onnx", "model.int8.onnx"
EXPORT_FILE = "export.json"  # what was exported: its source and parameters (the file stores a tied matrix twice)


class _LogitsOnly(torch.nn.Module):
    """The causal LM as a function of (input_ids, attention_mask) returning its logits: what ONNX holds."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits


@contextlib.contextmanager
def _one_line(model):
    """The exporter's failure on a model type it cannot trace, as one line that names the type."""
    try:
        yield
    except Exception as error:  # the TorchScript exporter raises many kinds, each with pages of trace
        first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        kind = getattr(model.config, "model_type", type(model).__name__)
        raise LabkitError(f"the ONNX exporter (TorchScript, opset {OPSET}) cannot take this {kind} model: {first}") from None


def export_onnx(model: str | Path | torch.nn.Module, out: str | Path, *, tokenizer: PreTrainedTokenizerBase | None = None,
                int8: bool = False) -> Path:  # fmt: skip
    """Write `model` (a saved folder, a labkit name, or a model with its `tokenizer`) to the folder `out` as ONNX,
    with its tokenizer files and configs; with `int8`, also ONNX Runtime's dynamically quantised copy.
    Returns `out`."""
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
    except ImportError:
        raise LabkitError("exporting needs onnx and onnxruntime: pip install onnx onnxruntime") from None
    if isinstance(model, torch.nn.Module):
        if tokenizer is None:
            raise LabkitError("export_onnx(model, ...) with a model object needs its tokenizer=")
    else:
        model, tokenizer = load_model(model)
    if not hasattr(model, "config") or not hasattr(model, "generation_config") or not hasattr(model, "get_output_embeddings"):
        raise LabkitError(
            f"a {type(model).__name__} is not a causal language model; the exporter takes a transformers model with a "
            "language-model head (AutoModelForCausalLM), as labkit's models and the hub's chat models are"
        )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = model.float().eval()
    example = tokenizer(["1+2="], return_tensors="pt", add_special_tokens=False)
    with warnings.catch_warnings(), torch.no_grad(), _one_line(model):
        warnings.simplefilter("ignore")  # the TorchScript exporter's tracer warnings about Python control flow
        torch.onnx.export(
            _LogitsOnly(model),
            (example["input_ids"], example["attention_mask"]),
            str(out / MODEL_FILE),
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={name: {0: "batch", 1: "sequence"} for name in ("input_ids", "attention_mask", "logits")},
            opset_version=OPSET,
            dynamo=False,
        )
    source = getattr(model, "name_or_path", "") or "a model object"
    (out / EXPORT_FILE).write_text(json.dumps({"source": str(source), "parameters": count_parameters(model), "opset": OPSET}))
    tokenizer.save_pretrained(out)
    model.config.save_pretrained(out)
    model.generation_config.save_pretrained(out)
    if int8:
        import logging

        from onnxruntime.quantization import QuantType, quantize_dynamic

        root = logging.getLogger()
        level, root.level = root.level, logging.ERROR  # its advice to pre-process is for vision models
        try:
            quantize_dynamic(str(out / MODEL_FILE), str(out / INT8_FILE), weight_type=QuantType.QInt8)
        finally:
            root.setLevel(level)
    return out


class OnnxGreedy:
    """Greedy answers from an exported folder with ONNX Runtime on the CPU (`int8`: the quantised copy)."""

    def __init__(self, folder: str | Path, *, int8: bool = False, threads: int | None = None):
        try:
            import onnxruntime as ort
        except ImportError:
            raise LabkitError("running an exported model needs onnxruntime: pip install onnx onnxruntime") from None
        from transformers import AutoTokenizer

        folder = Path(folder)
        path = folder / (INT8_FILE if int8 else MODEL_FILE)
        if not path.exists():
            raise LabkitError(
                f"no {path.name} in {folder}; run `labkit export MODEL --to {folder}`" + (" --int8" if int8 else "")
            )
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        generation = json.loads((folder / "generation_config.json").read_text())
        self.eos_token_id = generation.get("eos_token_id", self.tokenizer.eos_token_id)

    def answer_ids(self, prompt: str, max_new_tokens: int) -> list[int]:
        """The greedy completion of one prompt, as token ids (EOS not included)."""
        ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        new: list[int] = []
        for _ in range(max_new_tokens):
            sequence = np.asarray([ids + new], dtype=np.int64)
            logits = self.session.run(["logits"], {"input_ids": sequence, "attention_mask": np.ones_like(sequence)})[0]
            token = int(logits[0, -1].argmax())
            if token == self.eos_token_id:
                break
            new.append(token)
        return new

    def answers(self, prompts: list[str], max_new_tokens: int) -> tuple[list[str], dict]:
        """Greedy answers to `prompts`, and the timing: {tokens, seconds, tokens_per_s, latency_ms} (per answer)."""
        texts, tokens, start = [], 0, time.perf_counter()
        for prompt in prompts:
            new = self.answer_ids(prompt, max_new_tokens)
            tokens += len(new)
            texts.append(self.tokenizer.decode(new, skip_special_tokens=True))
        seconds = time.perf_counter() - start
        return texts, {
            "tokens": tokens,
            "seconds": seconds,
            "tokens_per_s": tokens / seconds if seconds > 0 else 0.0,
            "latency_ms": 1000 * seconds / max(1, len(prompts)),
        }


def agreement(folder: str | Path, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, prompts: list[str],
              max_new_tokens: int, *, int8: bool = False) -> dict:  # fmt: skip
    """Greedy answers of the exported copy (ONNX Runtime) against the PyTorch model's (`generate_completions`,
    greedy) on the same prompts: {same, problems, onnx_texts, torch_texts, timing}."""
    from ..sampling import generate_completions

    reference = generate_completions(model, tokenizer, prompts, temperature=0.0, max_new_tokens=max_new_tokens).texts
    texts, timing = OnnxGreedy(folder, int8=int8).answers(prompts, max_new_tokens)
    same = sum(a == b for a, b in zip(texts, reference))
    return {"same": same, "problems": len(prompts), "onnx_texts": texts, "torch_texts": reference, "timing": timing}
