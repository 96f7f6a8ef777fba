"""Interactive views for the notebooks (core `ipywidgets` only, so Colab needs nothing extra).

- `group_table_html`: one group of completions with their rewards and advantages,
  advantages coloured by sign (green: pushed up, red: pushed down, grey: no signal).
- `GroupExplorer`: pick a problem, G and temperature, resample, and watch the
  group's rewards and advantages change.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from transformers import PreTrainedTokenizerBase

from .grpo import SCALES, group_advantages
from .rewards import correctness_reward, format_reward
from .sampling import generate_completions


def _colour(value: float) -> str:
    if abs(value) < 1e-6:
        return "#9e9e9e"
    return "#2e7d32" if value > 0 else "#c62828"


def group_table_html(
    texts: Sequence[str], rewards: dict[str, Sequence[float]], advantages: dict[str, torch.Tensor], title: str = ""
) -> str:
    """An HTML table: completion, each reward, total, and the advantage under each scale."""
    header = "".join(f"<th>{html.escape(name)}</th>" for name in rewards) + "<th>total</th>"
    header += "".join(f"<th>A ({html.escape(scale)})</th>" for scale in advantages)
    rows = []
    for i, text in enumerate(texts):
        values = [rewards[name][i] for name in rewards]
        cells = "".join(f"<td>{v:.1f}</td>" for v in values) + f"<td><b>{sum(values):.1f}</b></td>"
        for scale_values in advantages.values():
            a = float(scale_values[i])
            cells += f"<td style='color:{_colour(a)};font-weight:bold'>{a:+.2f}</td>"
        rows.append(
            f"<tr><td style='font-family:monospace;text-align:left'>{html.escape(text) or '&lt;empty&gt;'}</td>{cells}</tr>"
        )
    caption = f"<caption style='text-align:left'>{html.escape(title)}</caption>" if title else ""
    return (
        f"<table style='border-collapse:collapse'>{caption}<tr><th style='text-align:left'>completion</th>{header}</tr>"
        + "".join(rows)
        + "</table>"
    )


def score_group(texts: Sequence[str], answer: str) -> tuple[dict[str, list[float]], dict[str, torch.Tensor]]:
    """Rule rewards of one group and its advantages under every scale."""
    group_size = len(texts)
    rewards = {
        "correct": correctness_reward(list(texts), answer=[answer] * group_size),
        "format": format_reward(list(texts)),
    }
    total = torch.tensor([sum(values) for values in zip(*rewards.values())])
    return rewards, {scale: group_advantages(total, group_size, scale=scale) for scale in SCALES}


class GroupExplorer:
    """Sample a group for one problem and show each completion's rewards and advantage.

    `explorer.widget` is the widget to display; `explorer.resample()` draws again
    with the current settings (the button does the same) and returns the table's HTML.
    """

    def __init__(self, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, records: list[dict], max_new_tokens: int = 40):
        self.model, self.tokenizer, self.records, self.max_new_tokens = model, tokenizer, records, max_new_tokens
        self.problem = widgets.Dropdown(options=[(r["prompt"], i) for i, r in enumerate(records)], value=0, description="problem")
        # continuous_update=False: resample once when the slider is released, not at every tick.
        self.group_size = widgets.IntSlider(value=8, min=2, max=16, description="G", continuous_update=False)
        self.temperature = widgets.FloatSlider(
            value=1.0, min=0.1, max=2.0, step=0.1, description="temperature", continuous_update=False
        )
        self.button = widgets.Button(description="resample", icon="refresh")
        self.summary = widgets.HTML()
        self.table = widgets.HTML()
        self.button.on_click(lambda _: self.resample())
        for control in (self.problem, self.group_size, self.temperature):
            control.observe(lambda _: self.resample(), names="value")
        self.widget = widgets.VBox(
            [
                widgets.HBox([self.problem, self.group_size]),
                widgets.HBox([self.temperature, self.button]),
                self.summary,
                self.table,
            ]
        )
        self.resample()

    def resample(self) -> str:
        record = self.records[self.problem.value]
        generation = generate_completions(
            self.model,
            self.tokenizer,
            [record["prompt"]],
            num_generations=self.group_size.value,
            temperature=self.temperature.value,
            max_new_tokens=self.max_new_tokens,
        )
        rewards, advantages = score_group(generation.texts, record["answer"])
        correct = sum(rewards["correct"])
        signal = "no learning signal: every advantage is 0" if advantages["group"].abs().max() < 1e-6 else "mixed outcomes"
        self.summary.value = (
            f"<b>{record['prompt']}</b> answer {record['answer']} &middot; {int(correct)}/{len(generation.texts)} correct "
            f"&middot; {signal}"
        )
        self.table.value = group_table_html(generation.texts, rewards, advantages)
        return self.table.value
