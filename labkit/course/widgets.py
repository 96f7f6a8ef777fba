"""Interactive views for the notebooks (core `ipywidgets` only, so Colab needs nothing extra).

- `group_table_html`: one group of completions with their rewards and advantages,
  advantages coloured by sign (green: pushed up, red: pushed down, grey: no signal).
- `GroupExplorer`: pick a problem, G and temperature, resample, and watch the
  group's rewards and advantages change.
- `TrainingDashboard`: live curves and samples for labkit's GRPO loop and TRL's trainers.
"""

from __future__ import annotations

import html
import math
import textwrap
from collections.abc import Sequence

import ipywidgets as widgets
import torch
from transformers import PreTrainedTokenizerBase, TrainerCallback

from ..grpo import SCALES, group_advantages
from ..sampling import generate_completions
from ..tasks import Task, get_task, task_of


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


def score_group(
    texts: Sequence[str], record: dict | str, task: str | Task | None = None
) -> tuple[dict[str, list[float]], dict[str, torch.Tensor]]:
    """Rule rewards of one group for the problem `record` (for the sums, a bare answer will do)
    and its advantages under every scale."""
    group_size = len(texts)
    task = get_task(task if task is not None or isinstance(record, str) else record.get("task"))
    record = {"answer": record} if isinstance(record, str) else record
    rewards = {
        "correct": [1.0 if task.is_correct(text, record) else 0.0 for text in texts],
        "format": task.format_reward(list(texts)),
    }
    total = torch.tensor([sum(values) for values in zip(*rewards.values())])
    return rewards, {scale: group_advantages(total, group_size, scale=scale) for scale in SCALES}


class GroupExplorer:
    """Sample a group for one problem and show each completion's rewards and advantage.

    `explorer.widget` is the widget to display; `explorer.resample()` draws again
    with the current settings (the button does the same) and returns the table's HTML.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        records: list[dict],
        max_new_tokens: int = 40,
        task: str | Task | None = None,
    ):
        self.model, self.tokenizer, self.records, self.max_new_tokens = model, tokenizer, records, max_new_tokens
        self.task = task_of(records, task)
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
        rewards, advantages = score_group(generation.texts, record, self.task)
        correct = sum(rewards["correct"])
        signal = "no learning signal: every advantage is 0" if advantages["group"].abs().max() < 1e-6 else "mixed outcomes"
        self.summary.value = (
            f"<b>{record['prompt']}</b> answer {record['answer']} &middot; {int(correct)}/{len(generation.texts)} correct "
            f"&middot; {signal}"
        )
        self.table.value = group_table_html(generation.texts, rewards, advantages)
        return self.table.value


# --- The live training dashboard --------------------------------------------------------------------

# (panel title, [(metric key, label)]) in TRL's names. A panel whose keys never appear is not drawn;
# the figure says which were left out and why (EMPTY_NOTES), so no learner stares at an empty box.
DASHBOARD_PANELS = (
    ("reward", [("reward", "total"), ("rewards/correctness_reward/mean", "correct"), ("rewards/format_reward/mean", "format")]),
    ("held-out accuracy", [("eval/accuracy", "greedy")]),
    ("thinking", [("completions/mean_length", "length (tokens)")]),
    ("scratchpad share", [("scratchpad_share", "sampled"), ("eval/scratchpad_share", "held-out greedy")]),
    ("loss", [("loss", "loss")]),
    ("entropy", [("entropy", "entropy (nats/token)")]),
    ("KL and clipping", [("kl", "kl"), ("clip_ratio/region_mean", "clip ratio")]),
    ("silent groups", [("frac_reward_zero_std", "zero-variance share")]),
)

# What a panel whose every value is 0 means: flat by construction, not a bug.
FLAT_NOTES = {
    "KL and clipping": "all 0 by construction: beta = 0 adds no KL term\n(no reference model), and with one update per batch\nthe ratio is 1, so nothing is clipped",
    "loss": "0 by construction at the start of each update:\nthe ratio is 1 and the advantages average to 0\n(the gradient is not 0; notebook 02 shows why)",
}

# Why a panel may have nothing to show: which loops log its metric, and when.
EMPTY_NOTES = {
    "held-out accuracy": "no held-out evaluation during this run (labkit's loops: eval_steps with eval_records; "
    "with TRL's trainers the notebook evaluates after training)",
    "scratchpad share": "labkit's loops log it; TRL's trainers do not",
    "student's own samples: correct": "only on-policy training samples from the student; "
    "sequence KD and logit KD train on fixed traces",
    "length": "only on-policy training samples from the student, and only a held-out evaluation measures greedy length",
    "gradient norm": "TRL's trainers log it; labkit's loops do not",
    "entropy": "this trainer does not log the policy's entropy",
    "silent groups": "this trainer does not log the share of groups whose rewards are all equal",
    "KL and clipping": "this trainer logs neither the KL nor the clip ratio",
}

# The same dashboard for distillation (`TrainingDashboard(panels=DISTILL_PANELS)`): TRL's
# SFTTrainer and DistillationTrainer log `loss`; on-policy methods also log what the student wrote.
DISTILL_PANELS = (
    ("training loss", [("loss", "loss")]),
    ("held-out accuracy", [("eval/accuracy", "greedy")]),
    ("student's own samples: correct", [("reward", "sampled accuracy")]),
    ("length", [("completions/mean_length", "sampled (tokens)"), ("eval/mean_length", "held-out greedy")]),
    ("scratchpad share", [("scratchpad_share", "sampled"), ("eval/scratchpad_share", "held-out greedy")]),
    ("gradient norm", [("grad_norm", "grad norm")]),
)


class TrainingDashboard(TrainerCallback):
    """A live view of a GRPO run, for labkit's loop and for TRL's trainers alike.

    - labkit: `train_grpo(..., callback=dashboard)` (it is callable with a metrics dict);
    - TRL: `GRPOTrainer(..., callbacks=[dashboard])` (it reads `on_log`).
    `dashboard.widget` holds a progress bar, the curves (one PNG image that is
    replaced in place every `every` steps, so the page neither flickers nor
    grows) and the latest group of completions. Widget state may not survive a
    saved notebook, so call `dashboard.figure()` in a later cell to leave a static copy.
    """

    def __init__(self, total_steps: int | None = None, every: int = 5, title: str = "GRPO", panels=DASHBOARD_PANELS):
        self.every, self.title, self.history, self.panels = every, title, [], panels
        self.progress = widgets.IntProgress(value=0, min=0, max=total_steps or 1, description=title)
        self.status = widgets.HTML()
        self.image = widgets.Image(format="png", layout=widgets.Layout(max_width="100%"))
        self.samples = widgets.HTML()
        self.widget = widgets.VBox([widgets.HBox([self.progress, self.status]), self.image, self.samples])

    # labkit's loop calls the dashboard itself.
    def __call__(self, metrics: dict) -> None:
        self.update(metrics)

    # TRL calls on_log with the averaged metrics of each logging step.
    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and ("reward" in logs or "loss" in logs):  # not the run summary at the end
            self.progress.max = max(self.progress.max, state.max_steps or 1)
            self.update({**logs, "step": state.global_step})

    def update(self, metrics: dict) -> None:
        self.history.append({k: v for k, v in metrics.items() if k not in ("samples", "sample")})
        step = int(metrics.get("step", len(self.history)))
        self.progress.value = min(step, self.progress.max)
        held_out = f" &middot; held-out {metrics['eval/accuracy']:.0%}" if "eval/accuracy" in metrics else ""
        shown = [("reward", "reward", ".2f"), ("loss", "loss", ".3f"), ("completions/mean_length", "length", ".1f")]
        parts = [f"{label} {metrics[key]:{spec}}" for key, label, spec in shown if isinstance(metrics.get(key), (int, float))]
        self.status.value = " &middot; ".join([f"step {step}", *parts]) + held_out
        if metrics.get("samples"):
            self.samples.value = samples_table_html(metrics["samples"])
        elif isinstance(metrics.get("sample"), str):  # one completion, from the distillation loops
            self.samples.value = f"latest sample: <code>{html.escape(metrics['sample'])}</code>"
        if step % self.every == 0 or step == self.progress.max:
            self.image.value = self._png()

    def figure(self):
        """The curves as a matplotlib figure (for a static copy in a saved notebook).

        Only panels with something logged are drawn; a line under the title names the others and why."""
        import matplotlib.pyplot as plt

        drawn, empty = [], []
        for title, series in self.panels:
            lines = [
                (label, key, [(m["step"], m[key]) for m in self.history if isinstance(m.get(key), (int, float))])
                for key, label in series
            ]
            lines = [line for line in lines if line[2]]
            (drawn if lines else empty).append((title, lines))
        rows = 1 if len(drawn) <= 1 else 2
        columns = max(1, math.ceil(len(drawn) / rows))
        fig, axes = plt.subplots(rows, columns, figsize=(4 * columns, 2.9 * rows + 0.4), squeeze=False)
        for ax in axes.flat[len(drawn) :]:
            ax.set_visible(False)
        for ax, (title, lines) in zip(axes.flat, drawn):
            values = []
            for label, key, points in lines:
                values += [value for _, value in points]
                ax.plot(*zip(*points), label=label, marker="o" if key.startswith("eval/") else None, markersize=3)
            if all(value == 0 for value in values) and title in FLAT_NOTES:
                ax.text(0.5, 0.5, FLAT_NOTES[title], transform=ax.transAxes, ha="center", va="center", fontsize=7, wrap=True)
            ax.set_title(title, fontsize=10)
            ax.set_xlabel("step", fontsize=8)
            ax.legend(fontsize=7)
        if not drawn:
            axes.flat[0].set_visible(True)
            axes.flat[0].set_axis_off()
        fig.suptitle(self.title)
        note = ""
        if empty:
            why = "; ".join(f"{title} ({EMPTY_NOTES.get(title, 'its metric was not logged')})" for title, _ in empty)
            note = textwrap.fill(f"Not drawn, nothing logged {self.when}: {why}.", 45 * columns + 25)
            fig.text(0.01, 0.01, note, fontsize=7, va="bottom")
        lines_of_note = note.count("\n") + 1 if note else 0
        fig.tight_layout(rect=(0, lines_of_note * 7 * 1.35 / 72 / fig.get_figheight(), 1, 1))
        return fig

    @property
    def when(self) -> str:
        """'in this run' once the run has finished, 'so far' while it is still going."""
        finished = self.history and int(self.history[-1].get("step", 0)) >= self.progress.max
        return "in this run" if finished else "so far"

    def _png(self) -> bytes:
        import io

        import matplotlib.pyplot as plt

        fig = self.figure()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=80)
        plt.close(fig)
        return buffer.getvalue()


def samples_table_html(samples: list[dict]) -> str:
    """The latest group: completion, reward and advantage (coloured by sign)."""
    rows = "".join(
        f"<tr><td style='font-family:monospace;text-align:left'>{html.escape(s['completion']) or '&lt;empty&gt;'}</td>"
        f"<td>{s['reward']:.2f}</td><td style='color:{_colour(s['advantage'])};font-weight:bold'>{s['advantage']:+.2f}</td></tr>"
        for s in samples
    )
    prompt = html.escape(samples[0]["prompt"]) if samples else ""
    return f"<table><caption style='text-align:left'>latest group: {prompt}</caption><tr><th>completion</th><th>reward</th><th>advantage</th></tr>{rows}</table>"
