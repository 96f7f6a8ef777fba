"""Solutions to the notebooks' exercises, written the way a learner would (not by calling labkit).

Try the exercise first: each notebook cell ends with `check(name, your_function)`, which shows the
first case where yours and labkit's disagree and a hint. `tests/test_exercises.py` checks that every
solution here passes, that every notebook stub does not, and that each classic mistake gets its hint.
"""

import torch

SOLUTIONS = {}


def solution(fn):
    SOLUTIONS[fn.__name__] = fn
    return fn


def _answer_in(text: str) -> str | None:
    end = text.rfind("</answer>")
    start = text.rfind("<answer>", 0, end) if end >= 0 else -1
    return text[start + len("<answer>") : end] if start >= 0 else None


def _as_number(text: str) -> str | None:
    text = "".join(text.split()).replace(",", "")
    sign = "-" if text.startswith("-") else ""
    digits = text.lstrip("+-")
    if digits.endswith(".0"):
        digits = digits[:-2]
    if not digits.isascii() or not digits.isdigit():
        return None
    digits = digits.lstrip("0") or "0"
    return digits if digits == "0" else sign + digits


@solution
def correctness_reward(completions, answer):
    rewards = []
    for text, reference in zip(completions, answer):
        found = _answer_in(text)
        right = found is not None and _as_number(found) is not None and _as_number(found) == _as_number(str(reference))
        rewards.append(1.0 if right else 0.0)
    return rewards


@solution
def format_reward(completions):
    rewards = []
    for text in completions:
        rest = text.strip()
        ok = True
        if rest.startswith("<think>"):
            close = rest.find("</think>")
            thought = rest[len("<think>") : close]
            ok = close >= 0 and "<think>" not in thought and "<answer>" not in thought
            rest = rest[close + len("</think>") :].strip()
        inner = rest[len("<answer>") : -len("</answer>")]
        ok = ok and rest.startswith("<answer>") and rest.endswith("</answer>") and len(rest) >= len("<answer></answer>")
        ok = ok and not any(tag in inner for tag in ("<answer>", "</answer>", "<think>", "</think>"))
        rewards.append(1.0 if ok else 0.0)
    return rewards


@solution
def group_advantages(rewards, group_size, scale):
    groups = rewards.view(-1, group_size)
    centred = groups - groups.mean(dim=1, keepdim=True)
    equal = groups.max(dim=1, keepdim=True).values == groups.min(dim=1, keepdim=True).values
    centred = centred.masked_fill(equal, 0.0)  # exactly 0, not float rounding / (0 + eps)
    if scale == "none" or group_size == 1:
        return centred.flatten()
    std = groups.std(dim=1, keepdim=True) if scale == "group" else groups.flatten().std()
    return (centred / (std + 1e-4)).flatten()


@solution
def per_token_logps(model, prompt_ids, prompt_mask, completion_ids, completion_mask):
    ids = torch.cat([prompt_ids, completion_ids], dim=1)
    mask = torch.cat([prompt_mask, completion_mask], dim=1)
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    with torch.no_grad():
        logits = model(input_ids=ids, attention_mask=mask, position_ids=positions).logits
    length = completion_ids.shape[1]
    logits = logits[:, -length - 1 : -1].float()  # position t predicts token t + 1
    logps = torch.log_softmax(logits, dim=-1).gather(-1, completion_ids.unsqueeze(-1)).squeeze(-1)
    return logps * completion_mask


@solution
def k3_kl(logps, ref_logps):
    log_ratio = ref_logps - logps
    return torch.exp(log_ratio) - log_ratio - 1


@solution
def policy_loss(logps, old_logps, advantages, mask, epsilon, loss_type):
    ratio = torch.exp(logps - old_logps)
    a = advantages.unsqueeze(1)
    per_token = -torch.min(ratio * a, torch.clamp(ratio, 1 - epsilon, 1 + epsilon) * a)
    mask = mask.float()
    if loss_type == "grpo":
        return ((per_token * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)).mean()
    if loss_type == "bnpo":
        return (per_token * mask).sum() / mask.sum().clamp(min=1)
    return (per_token * mask).sum() / (mask.shape[0] * mask.shape[1])  # dr_grpo


@solution
def kd_loss(student_logits, teacher_logits, mask, temperature):
    log_s = torch.log_softmax(student_logits / temperature, dim=-1)
    log_t = torch.log_softmax(teacher_logits / temperature, dim=-1)
    per_token = (log_t.exp() * (log_t - log_s)).sum(dim=-1)  # KL(teacher || student)
    return (per_token * mask).sum() / mask.sum() * temperature**2


@solution
def filter_traces(samples, answer):
    kept = []
    for text in samples:
        if format_reward([text])[0] and correctness_reward([text], [answer])[0] and text not in kept:
            kept.append(text)
    return kept
