"""Evaluation: how good is a model at the task, and how does it answer?

From one greedy pass and k samples per problem at temperature T:

    accuracy          greedy answers that are right
    pass@k            problems with at least one right answer among k samples
    maj@k             problems whose most common sampled answer is right
    sampled_accuracy  mean correctness of all samples (what GRPO's reward sees)
    frac_zero_std     groups of k samples that are all right or all wrong:
                      they carry no GRPO signal (advantages are all 0);
                      frac_all_correct + frac_all_wrong = frac_zero_std
    scratchpad_share  greedy answers that show their working first (`Task.shows_working`: open
                      with <think>; GSM8K's: working before the '####' line), and sampled_... of samples
    format_share      greedy answers in the task's format (`Task.check_format`)
    mean_length       greedy completion length in tokens, EOS included
    tokens_per_s      greedy generation throughput (batched: how fast a server answers many)

`model_row` is one row of every comparison table in the lab: these metrics, the
latency below, parameters and bytes, measured the same way everywhere.

Each prompt is what the model reads (`Task.model_text`): the prompt itself for the lab's
tiny models, the task's conversation in the model's chat template for a chat model (GSM8K).

`answer_latency` measures the other speed, the one a user waits for: one problem
at a time, batch 1, greedy (median and 95th percentile, in milliseconds).

and, to check the warm-up planted the right gap, accuracy when the completion is
forced to start with `<think>` (forced_think_accuracy) or with `<answer>`
(forced_direct_accuracy).
"""

from __future__ import annotations

import time
from collections import Counter

import torch
from transformers import PreTrainedTokenizerBase

from .runtime import LabkitError, set_seed
from .sampling import MAX_COMPLETION_LENGTH, generate_completions
from .tasks import Task, get_task, task_of


def answer_votes(texts: list[str], task: str | Task | None = None) -> Counter:
    """How many samples give each answer, as the task compares them (`Task.answer_key`: for the sums
    the normalised number); answers that do not parse get no vote. Ordered as first seen."""
    task = get_task(task)
    return Counter(key for key in map(task.answer_key, texts) if key is not None)


def majority_answer(texts: list[str], task: str | Task | None = None) -> str | None:
    """Most common answer among samples (`answer_votes`); first seen wins a tie; None if none parse."""
    votes = answer_votes(texts, task)
    return votes.most_common(1)[0][0] if votes else None


def majority_right(texts: list[str], record: dict, task: Task) -> bool:
    """Is the majority answer of `texts` right for `record`?"""
    key = majority_answer(texts, task)
    return key is not None and task.is_correct(f"<answer>{key}</answer>", record)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    *,
    k: int = 8,
    temperature: float = 1.0,
    max_new_tokens: int = MAX_COMPLETION_LENGTH,
    forced: bool = True,
    seed: int = 0,
    batch_size: int = 512,
    task: str | Task | None = None,
    keep_answers: bool = False,
) -> dict:
    """Metrics of `model` on `records` (a task's records; `task` defaults to the one they name).
    With `keep_answers`, `greedy_answers` holds the greedy completion of each record, in order."""
    task = task_of(records, task)
    set_seed(seed)
    prompts = [task.model_text(r["prompt"], tokenizer) for r in records]  # a chat task's in the model's template
    n = len(records)

    def correct(texts: list[str], per_record: int = 1) -> list[bool]:
        return [task.is_correct(text, records[i // per_record]) for i, text in enumerate(texts)]

    start = time.perf_counter()
    greedy = generate_completions(
        model, tokenizer, prompts, temperature=0.0, max_new_tokens=max_new_tokens, batch_size=batch_size
    )
    greedy_seconds = time.perf_counter() - start
    greedy_correct = correct(greedy.texts)

    metrics = {
        "problems": n,
        "accuracy": sum(greedy_correct) / n,
        "scratchpad_share": sum(task.shows_working(t) for t in greedy.texts) / n,
        "format_share": sum(task.check_format(t).ok for t in greedy.texts) / n,
        "mean_length": greedy.lengths.float().mean().item(),
        "tokens_per_s": greedy.lengths.sum().item() / greedy_seconds,
    }
    if keep_answers:
        metrics["greedy_answers"] = greedy.texts

    if k > 0:
        sampled = generate_completions(
            model,
            tokenizer,
            prompts,
            num_generations=k,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
        )
        sampled_correct = torch.tensor(correct(sampled.texts, k)).view(n, k)
        group_right = sampled_correct.sum(dim=1)
        majority = [majority_right(sampled.texts[i * k : (i + 1) * k], records[i], task) for i in range(n)]
        metrics.update(
            {
                f"pass@{k}": (group_right > 0).float().mean().item(),
                f"maj@{k}": sum(majority) / n,
                "sampled_accuracy": sampled_correct.float().mean().item(),
                "sampled_scratchpad_share": sum(task.shows_working(t) for t in sampled.texts) / len(sampled.texts),
                "sampled_mean_length": sampled.lengths.float().mean().item(),
                "frac_zero_std": ((group_right == 0) | (group_right == k)).float().mean().item(),
                "frac_all_correct": (group_right == k).float().mean().item(),
                "frac_all_wrong": (group_right == 0).float().mean().item(),
            }
        )

    if forced and not task.chat:  # the forced tags are the lab's answer format, not a chat task's
        for name, tag in (("forced_think_accuracy", "<think>"), ("forced_direct_accuracy", "<answer>")):
            metrics[name] = forced_accuracy(
                model, tokenizer, records, tag, task=task, max_new_tokens=max_new_tokens, batch_size=batch_size
            )
    return metrics


@torch.no_grad()
def forced_accuracy(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    tag: str,
    *,
    task: str | Task | None = None,
    max_new_tokens: int = MAX_COMPLETION_LENGTH,
    batch_size: int = 512,
) -> float:
    """Greedy accuracy with every completion forced to start with `tag` (`<think>` or `<answer>`):
    the prompt ends with the tag, the model goes on from there, and `tag + continuation` is judged."""
    if not records:
        raise LabkitError("forced_accuracy needs at least one record")
    task = task_of(records, task)
    run = generate_completions(
        model,
        tokenizer,
        [task.model_text(r["prompt"], tokenizer) + tag for r in records],
        temperature=0.0,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    return sum(task.is_correct(tag + text, r) for text, r in zip(run.texts, records)) / len(records)


@torch.no_grad()
def answer_latency(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    *,
    problems: int = 20,
    max_new_tokens: int = MAX_COMPLETION_LENGTH,
    task: str | Task | None = None,
) -> dict:
    """Wall time to answer one problem alone (batch 1, greedy): median and p95 in ms, and tokens/s at batch 1.

    The first call is a warm-up and is not counted (it pays for lazy initialisation).
    """
    chosen = records[: problems + 1]
    task = task_of(records, task)
    times, tokens = [], 0
    for i, record in enumerate(chosen):
        start = time.perf_counter()
        prompt = task.model_text(record["prompt"], tokenizer)
        generation = generate_completions(model, tokenizer, [prompt], temperature=0.0, max_new_tokens=max_new_tokens)
        if i > 0:
            times.append(time.perf_counter() - start)
            tokens += int(generation.lengths.sum())
    if not times:
        return {"latency_ms": float("nan"), "latency_p95_ms": float("nan"), "tokens_per_s_batch1": float("nan")}
    ordered = sorted(times)
    return {
        "latency_ms": 1000 * ordered[len(ordered) // 2],
        "latency_p95_ms": 1000 * ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
        "tokens_per_s_batch1": tokens / sum(times),
    }


def model_row(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    records: list[dict],
    *,
    k: int = 0,
    forced: bool = False,
    max_new_tokens: int = MAX_COMPLETION_LENGTH,
    seed: int = 0,
    latency_problems: int = 20,
    task: str | Task | None = None,
    keep_answers: bool = False,
) -> dict:
    """Everything one row of a comparison table says about a model, measured the same way everywhere
    (`labkit run`'s table, notebooks 04-05, the benchmarks, the demo's Arena):

    `evaluate` (accuracy, length, scratchpad use, tokens/s, and with k > 0 the
    sampled metrics), `answer_latency` (batch 1), `parameters` (`count_parameters`),
    `bytes` (the state dict as saved, int8 copies included) and `eval_seconds`; with `keep_answers`,
    `greedy_answers` too.
    """
    from .models import count_parameters, state_dict_bytes

    start = time.perf_counter()
    row = evaluate(
        model,
        tokenizer,
        records,
        k=k,
        forced=forced,
        max_new_tokens=max_new_tokens,
        seed=seed,
        task=task,
        keep_answers=keep_answers,
    )
    row.update(answer_latency(model, tokenizer, records, problems=latency_problems, max_new_tokens=max_new_tokens, task=task))
    row["parameters"] = count_parameters(model)
    row["bytes"] = state_dict_bytes(model)
    row["eval_seconds"] = round(time.perf_counter() - start, 1)
    return row
