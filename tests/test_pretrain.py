"""The warm-up's loss: computed in length pieces, it is the whole batch's loss and gradient."""

import torch

from labkit.models import build_model
from labkit.pretrain import completion_loss, length_pieces, random_batches, tokenize_pairs, trim_padding, warmup_corpus
from labkit.tasks import read_records


def _one_piece_loss(model, ids, labels, pad):
    """The reference: every row padded to the widest, one forward pass, mean over labelled tokens."""
    ids, labels = trim_padding(ids, labels, pad)
    logits = model(input_ids=ids, attention_mask=(ids != pad).long()).logits
    return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1))


def test_a_mixed_batch_is_split_short_and_long_with_the_same_loss_and_gradient():
    model, tokenizer = build_model("student", seed=1)
    pad = tokenizer.pad_token_id
    ids, labels = tokenize_pairs(warmup_corpus(read_records("train")[:400], 0.2, seed=0), tokenizer)
    batch = random_batches(ids, labels, 64, pad)(torch.Generator().manual_seed(0))
    pieces = length_pieces(*batch, pad)
    assert len(pieces) == 2
    short, long = pieces
    assert short[0].shape[1] < long[0].shape[1] == batch[0].shape[1]
    assert short[0].shape[0] + long[0].shape[0] == 64
    computed = sum(p[0].numel() for p in pieces)
    assert computed <= 0.8 * batch[0].numel()  # what the split is for
    # The same rows: each row of the batch is in exactly one piece, its labels with it.
    rows = sorted(tuple(r.tolist()) + (0,) * (batch[0].shape[1] - len(r)) for p in pieces for r in p[0])
    assert rows == sorted(tuple(r.tolist()) for r in batch[0])

    loss = completion_loss(model, *batch, pad)
    loss.backward()
    split_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    reference = _one_piece_loss(model, *batch, pad)
    reference.backward()
    assert torch.allclose(loss, reference, atol=1e-6)
    for got, expected in zip(split_grads, (p.grad for p in model.parameters())):
        assert torch.allclose(got, expected, atol=1e-6, rtol=1e-4)


def test_a_model_too_small_to_pay_for_a_second_pass_keeps_its_batch_whole():
    _, tokenizer = build_model("student-tiny")
    pad = tokenizer.pad_token_id
    ids, labels = tokenize_pairs(warmup_corpus(read_records("train")[:400], 0.2, seed=0), tokenizer)
    batch = random_batches(ids, labels, 64, pad)(torch.Generator().manual_seed(0))
    assert len(length_pieces(*batch, pad, parameters=1_050_000)) == 2  # the teacher's size: split
    assert len(length_pieces(*batch, pad, parameters=96_000)) == 1  # the student's: one pass is cheaper


def test_rows_of_one_length_stay_one_piece():
    model, tokenizer = build_model("student-tiny")
    pad = tokenizer.pad_token_id
    ids, labels = tokenize_pairs([("11+22+33=", "<answer>66</answer>")] * 8, tokenizer)
    assert len(length_pieces(ids, labels, pad)) == 1
    assert len(length_pieces(ids[:1], labels[:1], pad)) == 1
    assert torch.allclose(completion_loss(model, ids, labels, pad), _one_piece_loss(model, ids, labels, pad))


def test_a_tokenizer_that_pads_with_its_eos_keeps_the_eos_label():
    """Hub tokenizers often pad with EOS: trimming must not cut the EOS a completion has to learn to write."""
    eos = pad = 0
    ids = torch.tensor([[5, 6, 7, eos, pad, pad], [5, 8, eos, pad, pad, pad]])
    labels = torch.tensor([[-100, -100, 7, eos, -100, -100], [-100, 8, eos, -100, -100, -100]])
    trimmed_ids, trimmed_labels = trim_padding(ids, labels, pad)
    assert trimmed_ids.shape[1] == 4 and trimmed_labels[0, -1] == eos  # the longest row's EOS label is kept
    assert (trimmed_labels != -100).sum() == (labels != -100).sum()  # no label lost anywhere


def test_an_eos_inside_a_row_is_attended_when_the_pad_is_the_eos():
    """A chat template ends the prompt's turn with EOS; a tokenizer that pads with EOS must not mask it out.

    The loss of the padded batch must equal each row's loss computed alone, with no padding at all."""
    from labkit.distill import DistillConfig, train_logit_kd
    from labkit.pretrain import attention_from_lengths, row_lengths

    model, tokenizer = build_model("student-tiny")
    eos = pad = tokenizer.eos_token_id
    word = tokenizer("12+34=", add_special_tokens=False)["input_ids"]
    # Row 0: prompt, EOS (end of turn), more prompt, then the completion and its EOS; row 1 shorter, padded.
    rows = [word + [eos] + word + word[:3] + [eos], word + word[:2] + [eos]]
    prompt_lengths = [2 * len(word) + 1, len(word)]
    width = max(len(r) for r in rows)
    ids = torch.full((2, width), pad)
    labels = torch.full((2, width), -100)
    for i, (row, cut) in enumerate(zip(rows, prompt_lengths)):
        ids[i, : len(row)] = torch.tensor(row)
        labels[i, cut : len(row)] = torch.tensor(row[cut:])
    assert row_lengths(ids, labels, pad).tolist() == [len(r) for r in rows]
    assert attention_from_lengths(ids, labels, pad)[0].all()  # the EOS inside row 0 is attended

    alone = []
    for i, row in enumerate(rows):
        logits = model(input_ids=ids[i : i + 1, : len(row)]).logits  # no mask: every token is real
        alone.append(
            torch.nn.functional.cross_entropy(logits[0, :-1], labels[i, 1 : len(row)], ignore_index=-100, reduction="sum")
        )
    expected = sum(alone) / (labels[:, 1:] != -100).sum()
    assert torch.allclose(completion_loss(model, ids, labels, pad), expected, atol=1e-5)

    # Logit KD builds its mask the same way: a step on these rows runs (teacher = a copy of the student).
    traces = [{"prompt": "12+34=", "completion": "<answer>46</answer>"}]
    import copy

    tokenizer.pad_token = tokenizer.eos_token
    summary = train_logit_kd(copy.deepcopy(model), model, tokenizer, traces, DistillConfig(max_steps=1, batch_size=2))
    assert summary["steps"] == 1
