"""The lab's own decode loop says exactly what `model.generate` says, token for token and draw for draw."""

import pytest
import torch

from labkit import llama_decode
from labkit.models import build_model, llama_config, new_model, quantize_int8
from labkit.sampling import generate_completions
from labkit.tasks import read_records

PROMPTS = [r["prompt"] for r in read_records("train")[:40]] + ["1+2=", "12+34+56+78=", "9="]


def _generate(model, tokenizer, batch, temperature: float, max_new_tokens: int) -> torch.Tensor:
    sampling = dict(do_sample=True, temperature=temperature, top_k=0, top_p=1.0) if temperature > 0 else dict(do_sample=False)
    out = model.generate(
        **batch,
        max_new_tokens=max_new_tokens,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        **sampling,
    )
    return out[:, batch["input_ids"].shape[1] :]


def _decode(model, tokenizer, batch, temperature: float, max_new_tokens: int) -> torch.Tensor:
    return llama_decode.decode(
        model,
        batch["input_ids"],
        batch["attention_mask"],
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def _models():
    teacher, tokenizer = build_model("teacher", seed=3)
    student, _ = build_model("student", seed=4)
    # Grouped-query attention (2 key heads for 4 query heads), as in many hub Llamas.
    sizes = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=96)
    grouped = new_model(llama_config(tokenizer, sizes), tokenizer, seed=5)
    # A separate output matrix, another RoPE base and norm epsilon: what the page must read from the config.
    config = llama_config(tokenizer, dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=96))
    config.tie_word_embeddings, config.rope_theta, config.rms_norm_eps = False, 123.0, 1e-2
    if getattr(config, "rope_parameters", None):
        config.rope_parameters["rope_theta"] = 123.0
    untied = new_model(config, tokenizer, seed=6)
    assert untied.lm_head.weight.data_ptr() != untied.model.embed_tokens.weight.data_ptr()
    return {"teacher": teacher, "student": student, "grouped": grouped, "untied": untied}, tokenizer


MODELS, TOKENIZER = _models()


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("temperature", [0.0, 1.0, 0.7])
def test_the_same_tokens_as_generate_and_the_same_draws_after(name, temperature):
    """Fresh random weights (flat distributions, the hardest case for exactness), prompts of many lengths."""
    model = MODELS[name].eval()
    batch = TOKENIZER(PROMPTS, return_tensors="pt", padding=True, add_special_tokens=False)
    assert llama_decode.supports(model)
    torch.manual_seed(11)
    expected = _generate(model, TOKENIZER, batch, temperature, 40)
    after_generate = torch.rand(4)
    torch.manual_seed(11)
    got = _decode(model, TOKENIZER, batch, temperature, 40)
    assert torch.equal(got, expected)
    assert torch.equal(torch.rand(4), after_generate)  # the global generator was used exactly as generate uses it


def test_rows_stop_at_eos_then_pad_and_the_loop_stops_when_all_have(monkeypatch):
    """A forward pass that says 7 until EOS: row 0 at its 2nd token, row 1 at its 4th."""
    eos, pad, calls = TOKENIZER.eos_token_id, TOKENIZER.pad_token_id, []

    def scripted(w, ids, *args):
        calls.append(ids.shape)
        logits = torch.zeros(2, len(TOKENIZER))
        step = len(calls)
        for row, stop in ((0, 2), (1, 4)):
            logits[row, eos if step == stop else 7] = 1.0
        return logits

    monkeypatch.setattr(llama_decode, "_forward", scripted)
    batch = TOKENIZER(["1+2=", "11+22+33="], return_tensors="pt", padding=True, add_special_tokens=False)
    got = _decode(MODELS["student"], TOKENIZER, batch, 0.0, 40)
    assert got.tolist() == [[7, eos, pad, pad], [7, 7, 7, eos]]
    assert len(calls) == 4 and calls[0] == batch["input_ids"].shape and calls[1] == (2, 1)


def test_generate_completions_uses_it_for_the_labs_models_and_generate_for_the_rest():
    model = MODELS["teacher"]
    assert llama_decode.supports(model)
    assert not llama_decode.supports(model.to(torch.bfloat16)) and llama_decode.supports(model.float())
    assert not llama_decode.supports(torch.nn.Linear(2, 2))
    assert not llama_decode.supports(quantize_int8(build_model("student-tiny")[0]))  # its layers are not nn.Linear
    # In bfloat16 the fallback (`generate`) runs, and the result has the same layout.
    half = build_model("student-tiny")[0].to(torch.bfloat16)
    out = generate_completions(half, TOKENIZER, ["1+2="], num_generations=2, temperature=1.0, max_new_tokens=5)
    assert out.completion_ids.shape[0] == 2 and out.completion_ids.shape[1] <= 5


def test_one_new_token_and_bad_calls():
    model = MODELS["student"].eval()
    batch = TOKENIZER(PROMPTS[:5], return_tensors="pt", padding=True, add_special_tokens=False)
    assert torch.equal(_decode(model, TOKENIZER, batch, 0.0, 1), _generate(model, TOKENIZER, batch, 0.0, 1))
    with pytest.raises(ValueError, match="at least 1"):
        _decode(model, TOKENIZER, batch, 0.0, 0)
    decoder = llama_decode.Decoder(model, batch["input_ids"], batch["attention_mask"], max_new_tokens=2)
    decoder.logits()
    with pytest.raises(ValueError, match="already read"):
        decoder.logits()


def test_a_generation_config_that_asks_for_more_keeps_generate():
    model = build_model("student-tiny")[0]
    model.generation_config.min_p = 0.1  # generate would apply it; this page would not
    assert not llama_decode.supports(model)


@pytest.mark.parametrize("name", list(MODELS))
def test_the_same_logits_as_the_models_forward(name):
    """Tokens can agree while the numbers drift (a transformers upgrade that rounds otherwise): the page's
    logits at every step equal HF's forward on the same sequence within 1e-4 (a different order of float32
    sums differs by about 1e-6 here), with positions counted from each row's first real token, as generate does."""
    model = MODELS[name]
    batch = TOKENIZER(PROMPTS[:8] + PROMPTS[-3:], return_tensors="pt", padding=True, add_special_tokens=False)
    steps = 4
    decoder = llama_decode.Decoder(model, batch["input_ids"], batch["attention_mask"], max_new_tokens=steps)
    logits = [decoder.logits()]
    chosen = []
    for _ in range(steps - 1):
        chosen.append(logits[-1].argmax(dim=-1))
        logits.append(decoder.logits(chosen[-1]))
    ids = torch.cat([batch["input_ids"], torch.stack(chosen, dim=1)], dim=1)
    mask = torch.cat([batch["attention_mask"], torch.ones(len(ids), steps - 1, dtype=batch["attention_mask"].dtype)], dim=1)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    with torch.no_grad():
        reference = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    prompt_length = batch["input_ids"].shape[1]
    for t, page in enumerate(logits):
        forward = reference[:, prompt_length - 1 + t]
        assert torch.allclose(page, forward, atol=1e-4), f"{name}, step {t}: off by {(page - forward).abs().max():.2e}"
