"""Group generation: layout, masks, greedy determinism, left padding."""

import torch

from labkit.runtime import set_seed
from labkit.sampling import completion_mask_from_ids, generate_completions
from labkit.tasks import completion, read_records


def test_completion_mask_covers_tokens_up_to_and_including_eos():
    eos = 1
    ids = torch.tensor([[5, 6, eos, 0, 0], [5, eos, 0, 0, 0], [5, 6, 7, 8, 9]])
    expected = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 0, 0, 0], [1, 1, 1, 1, 1]])
    assert torch.equal(completion_mask_from_ids(ids, eos), expected)


def test_groups_are_laid_out_prompt_after_prompt(student):
    model, tokenizer = student
    prompts = ["11+22+33=", "44+55+66=", "1+2="]
    out = generate_completions(model, tokenizer, prompts, num_generations=4, temperature=1.0, max_new_tokens=6)
    assert out.prompts == [p for p in prompts for _ in range(4)]
    assert out.completion_ids.shape[0] == 12 and out.completion_ids.shape[1] <= 6
    assert out.completion_mask.shape == out.completion_ids.shape
    assert len(out.texts) == 12
    # Masked-out positions hold padding only.
    assert torch.all(out.completion_ids[out.completion_mask == 0] == tokenizer.pad_token_id)


def test_same_seed_same_samples(student):
    model, tokenizer = student
    set_seed(5)
    a = generate_completions(model, tokenizer, ["11+22+33="], num_generations=8, max_new_tokens=8)
    set_seed(5)
    b = generate_completions(model, tokenizer, ["11+22+33="], num_generations=8, max_new_tokens=8)
    assert torch.equal(a.completion_ids, b.completion_ids)


def test_greedy_is_deterministic_and_unaffected_by_left_padding_or_batching(student):
    model, tokenizer = student
    alone = generate_completions(model, tokenizer, ["1+2="], temperature=0.0, max_new_tokens=8)
    padded = generate_completions(model, tokenizer, ["1+2=", "11+22+33="], temperature=0.0, max_new_tokens=8)
    split = generate_completions(model, tokenizer, ["1+2=", "11+22+33="], temperature=0.0, max_new_tokens=8, batch_size=1)
    assert padded.texts[0] == alone.texts[0]
    assert split.texts == padded.texts


def test_logps_match_the_scores_generate_sampled_from(student):
    """Our forward-pass log-probs equal log softmax of generate's own (temperature-scaled) scores."""
    model, tokenizer = student
    prompts = ["1+2=", "11+22+33="]  # different lengths: left padding is exercised
    set_seed(0)
    out = generate_completions(model, tokenizer, prompts, num_generations=3, temperature=0.7, max_new_tokens=6, return_logps=True)
    set_seed(0)
    batch = tokenizer([p for p in prompts for _ in range(3)], return_tensors="pt", padding=True)
    raw = model.generate(
        **batch,
        max_new_tokens=6,
        do_sample=True,
        temperature=0.7,
        top_k=0,
        top_p=1.0,
        output_scores=True,
        return_dict_in_generate=True,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    scores = torch.stack(raw.scores, dim=1).log_softmax(-1)  # (N, C, V), already divided by T
    expected = scores.gather(-1, out.completion_ids.unsqueeze(-1)).squeeze(-1) * out.completion_mask
    assert torch.allclose(out.logps, expected, atol=1e-4)
    assert torch.all(out.logps[out.completion_mask == 0] == 0)
    assert torch.all(out.logps <= 0)


def test_logps_in_length_pieces_equal_the_whole_batch_and_keep_the_row_order(student, monkeypatch):
    """Direct answers and scratchpads of different problems in one batch: split in two pieces, the same
    log-probs, entropies and gradients come back, each in its own row."""
    import labkit.sampling as sampling

    model, tokenizer = student
    records = read_records("train")[:12]
    texts = [completion(r, scratchpad=i % 3 == 0) for i, r in enumerate(records)]
    prompt = tokenizer([r["prompt"] for r in records], return_tensors="pt", padding=True, add_special_tokens=False)
    completion_ids = [tokenizer(t, add_special_tokens=False).input_ids + [tokenizer.eos_token_id] for t in texts]
    width = max(len(ids) for ids in completion_ids)
    ids = torch.tensor([c + [tokenizer.pad_token_id] * (width - len(c)) for c in completion_ids])
    mask = torch.tensor([[1] * len(c) + [0] * (width - len(c)) for c in completion_ids])
    inputs = (prompt["input_ids"], prompt["attention_mask"], ids, mask)
    # However small the model, split this batch (the real threshold keeps a 96k model's batches whole).
    monkeypatch.setattr(sampling, "SPLIT_PAYS_ABOVE", 0)
    split, pieces = sampling.length_split, []
    monkeypatch.setattr(sampling, "length_split", lambda *a, **k: pieces.append(split(*a, **k)) or pieces[-1])

    def run() -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        model.zero_grad()
        logps, entropy = sampling.per_token_logps(model, *inputs, temperature=0.7, with_entropy=True)
        (logps.sum() + entropy.sum()).backward()
        return logps.detach(), entropy.detach(), [p.grad.clone() for p in model.parameters()]

    logps, entropy, grads = run()
    assert len(pieces[-1]) == 2 and sorted(torch.cat(pieces[-1]).tolist()) == list(range(12))
    monkeypatch.setattr(sampling, "length_split", lambda lengths, *a, **k: [torch.arange(len(lengths))])
    whole_logps, whole_entropy, whole_grads = run()
    assert torch.allclose(logps, whole_logps, atol=1e-5)
    assert torch.allclose(entropy, whole_entropy * mask, atol=1e-5)
    assert torch.all(logps[mask == 0] == 0) and torch.all(entropy[mask == 0] == 0)
    for got, expected in zip(grads, whole_grads):
        assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
    # Each row's numbers are its own: row 0 alone gives row 0's.
    alone, _ = sampling.per_token_logps(model, *(t[:1] for t in inputs), temperature=0.7)
    assert torch.allclose(alone[0], logps[0], atol=1e-5)


def test_entropy_is_a_diagnostic_without_a_graph_and_logps_keep_theirs():
    from labkit.models import build_model
    from labkit.sampling import generate_completions, per_token_logps

    model, tokenizer = build_model("student-tiny", seed=0)
    generation = generate_completions(model, tokenizer, ["12+34+56=", "7+8+9="], num_generations=2, max_new_tokens=6)
    inputs = (generation.prompt_ids, generation.prompt_mask, generation.completion_ids, generation.completion_mask)
    logps, entropy = per_token_logps(model, *inputs, with_entropy=True)
    assert logps.requires_grad and not entropy.requires_grad
    assert (entropy[generation.completion_mask.bool()] > 0).all()
