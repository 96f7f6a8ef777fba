"""The table `labkit run` ends with: one row per model the run made and evaluated."""

from __future__ import annotations

from .students import STUDENT_RECIPES


def summary_rows() -> list[tuple[str, str, str]]:
    """(row label, the stage that made the model, the stage that evaluated it), students as they are registered."""
    return [
        ("teacher base", "warmup_teacher", "eval_teacher_base"),
        ("student base", "warmup_student", "eval_student_base"),
        ("teacher after GRPO", "grpo_teacher", "eval_teacher_grpo"),
        *((recipe.label, f"student_{method}", f"eval_student_{method}") for method, recipe in STUDENT_RECIPES.items()),
    ]


def summary_table(results: dict, profile) -> str:
    """One row per evaluated model (each row is `evaluate.model_row`'s measurements).

    `vs teacher` is greedy accuracy as a share of the GRPO teacher's; `tok/s` is
    batched greedy throughput, `latency` the median time to answer one problem alone;
    `think vs direct acc` the accuracy when made to open a scratchpad or to answer at once.
    """
    k = profile.eval_k
    nan = float("nan")
    teacher_eval = results.get("eval_teacher_grpo") or {}
    header = (
        f"{'model':<24}{'params':>10}{'MB':>7}{'train s':>9}{'greedy acc':>12}{'vs teacher':>12}"
        f"{'sampled acc':>13}{f'pass@{k}':>8}{'length':>8}{'think (greedy/sampled)':>24}"
        f"{'think vs direct acc':>21}{'tok/s':>9}{'latency ms':>12}"
    )
    lines = [f"\nlabkit run ({profile.name} profile, {profile.eval_problems} test problems)", header, "-" * len(header)]
    for label, train_stage, eval_stage in summary_rows():
        trained, ev = results.get(train_stage), results.get(eval_stage)
        if trained and trained.get("skipped"):
            lines.append(f"{label:<24}skipped: {trained['skipped']}")
            continue
        if not trained or not ev:
            continue
        think = f"{ev['scratchpad_share']:.0%} / {ev.get('sampled_scratchpad_share', nan):.0%}"
        forced = f"{ev.get('forced_think_accuracy', nan):.0%} vs {ev.get('forced_direct_accuracy', nan):.0%}"
        share = f"{ev['accuracy'] / teacher_eval['accuracy']:.0%}" if teacher_eval.get("accuracy") else "n/a"
        lines.append(
            f"{label:<24}{ev['parameters']:>10,}{ev['bytes'] / 1e6:>7.2f}"
            f"{trained['seconds']:>9.1f}{ev['accuracy']:>12.1%}{share:>12}{ev.get('sampled_accuracy', nan):>13.1%}"
            f"{ev.get(f'pass@{k}', nan):>8.1%}{ev['mean_length']:>8.1f}{think:>24}{forced:>21}"
            f"{ev['tokens_per_s']:>9.0f}{ev.get('latency_ms', nan):>12.1f}"
        )
    gpu = f", peak GPU memory {results['peak_gpu_memory_mb']:.0f} MB" if "peak_gpu_memory_mb" in results else ""
    lines.append(
        f"wall time {results['wall_seconds']:.1f}s, peak memory {results['peak_memory_mb']:.0f} MB{gpu}, run folder {results['run_dir']}"
    )
    return "\n".join(lines)
