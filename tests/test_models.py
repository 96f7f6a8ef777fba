"""Tiny models by name, save/load, and the three branches of load_model."""

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from labkit.models import (
    MODEL_CONFIGS,
    build_model,
    config_parameters,
    count_parameters,
    load_model,
    quantize_int8,
    save_model,
    size_on_disk,
)
from labkit.run.profiles import check_sizes
from labkit.runtime import LabkitError
from labkit.tokenizer import build_tokenizer


def test_named_sizes_and_the_one_tenth_rule():
    counts = {name: count_parameters(build_model(name)[0]) for name in MODEL_CONFIGS}
    assert 1.0e6 < counts["teacher"] < 1.1e6
    assert counts["student"] <= counts["teacher"] / 10
    assert counts["student-gpu"] <= counts["teacher-gpu"] / 10
    # The count the profiles check on weightless (meta-device) copies agrees with the built models'.
    for name in MODEL_CONFIGS:
        assert config_parameters(name) == counts[name]


def test_an_int8_copy_still_counts_its_quantised_weights():
    model = build_model("student")[0]
    quantised = quantize_int8(model)
    assert sum(p.numel() for p in quantised.parameters()) < count_parameters(model)  # what .parameters() hides
    # Every weight is counted; the int8 output layer no longer shares the float embedding, so that matrix counts twice.
    embedding = model.get_input_embeddings().weight.numel()
    assert count_parameters(quantised) == count_parameters(model) + embedding


def test_same_seed_same_weights_other_seed_other_weights():
    a, b, c = build_model("student", seed=1)[0], build_model("student", seed=1)[0], build_model("student", seed=2)[0]
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_save_and_load_give_identical_logits(tmp_path, student):
    model, tokenizer = student
    path = save_model(model, tokenizer, tmp_path / "m")
    assert (path / "model.safetensors").exists()
    assert size_on_disk(path) > 4 * count_parameters(model) * 0.95
    loaded, loaded_tokenizer = load_model(path)
    ids = torch.tensor([tokenizer("23+58+91=<think>3+8")["input_ids"]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, loaded(ids).logits)
    assert loaded_tokenizer.get_vocab() == tokenizer.get_vocab()


def test_load_model_by_name_builds_a_fresh_model():
    model, tokenizer = load_model("student", seed=3)
    reference = build_model("student", seed=3)[0]
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), reference.parameters()))
    assert tokenizer.padding_side == "left"


def test_load_model_reads_a_hub_architecture_saved_locally(tmp_path):
    """The from_pretrained branch a hub id takes, on a tiny Qwen2 saved to a folder."""
    tokenizer = build_tokenizer()
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    Qwen2ForCausalLM(config).save_pretrained(tmp_path / "qwen")
    tokenizer.save_pretrained(tmp_path / "qwen")
    model, loaded_tokenizer = load_model(str(tmp_path / "qwen"))
    assert type(model).__name__ == "Qwen2ForCausalLM"
    assert loaded_tokenizer.pad_token is not None


def test_hub_id_without_network_fails_with_one_line():
    with pytest.raises(LabkitError, match="could not load model 'no-such-org/no-such-model'") as info:
        load_model("no-such-org/no-such-model")
    assert "\n" not in str(info.value)


def test_folder_that_is_not_a_model_fails_clearly(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(LabkitError, match="not a saved model"):
        load_model(tmp_path)


def test_unknown_name_fails_clearly():
    with pytest.raises(LabkitError, match="neither a labkit model name"):
        load_model("teacher-xl")


def test_student_larger_than_teacher_fails_early():
    with pytest.raises(LabkitError, match="not smaller than the teacher"):
        check_sizes("teacher", "teacher-gpu")


def test_int8_copy_is_smaller_and_close_to_the_original(student):
    from labkit.models import quantize_int8, state_dict_bytes

    model, tokenizer = student
    quantised = quantize_int8(model)
    assert state_dict_bytes(quantised) < state_dict_bytes(model) / 2
    ids = tokenizer(["23+58+91="], return_tensors="pt").input_ids
    with torch.no_grad():
        original, approximate = model(ids).logits, quantised(ids).logits
    assert (original - approximate).abs().max() < 0.1 * original.abs().max()
    assert model.lm_head.__class__.__name__ == "Linear"  # the original is left as it was
