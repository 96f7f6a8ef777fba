"""The table `labkit run` ends with: one row per model the run made and evaluated."""

from __future__ import annotations

from ..readings import MATTERS, change, difference_band, versus
from .students import STUDENT_RECIPES, student_methods


def summary_rows(students: tuple[str, ...] | None = None) -> list[tuple[str, str, str]]:
    """(row label, the stage that made the model, the stage that evaluated it): the bases, the GRPO
    teacher, then `students` (methods, default: every registered one) in their order."""
    return [
        ("teacher base", "warmup_teacher", "eval_teacher_base"),
        ("student base", "warmup_student", "eval_student_base"),
        ("teacher after GRPO", "grpo_teacher", "eval_teacher_grpo"),
        *((STUDENT_RECIPES[method].label, f"student_{method}", f"eval_student_{method}") for method in student_methods(students)),
    ]


def table_rows(results: dict, profile) -> dict[str, dict]:
    """{row label: its evaluation} for every row the run made and evaluated (skipped students left out)."""
    rows = {}
    for label, train_stage, eval_stage in summary_rows(profile.students):
        trained, evaluated = results.get(train_stage), results.get(eval_stage)
        if trained and not trained.get("skipped") and evaluated:
            rows[label] = evaluated
    return rows


def summary_table(results: dict, profile) -> str:
    """One row per evaluated model (each row is `evaluate.model_row`'s measurements).

    `train s` and `TFLOP` are what making the model cost (its warm-up, GRPO or distillation alone;
    `run.costs.training_flops`: 6 x parameters x tokens trained, 2 x for each forward-only token,
    the teacher's reads at the teacher's size);
    `vs teacher` is greedy accuracy as a share of the GRPO teacher's; `tok/s` is
    batched greedy throughput, `latency` the median time to answer one problem alone;
    `think vs direct acc` the accuracy when made to open a scratchpad or to answer at once.
    """
    k = profile.eval_k
    nan = float("nan")
    teacher_eval = results.get("eval_teacher_grpo") or {}
    header = (
        f"{'model':<24}{'params':>10}{'MB':>7}{'train s':>9}{'TFLOP':>8}{'greedy acc':>12}{'vs teacher':>12}"
        f"{'sampled acc':>13}{f'pass@{k}':>8}{'length':>8}{'think (greedy/sampled)':>24}"
        f"{'think vs direct acc':>21}{'tok/s':>9}{'latency ms':>12}"
    )
    lines = [f"\nlabkit run ({profile.name} profile, {profile.eval_problems} test problems)", header, "-" * len(header)]
    for label, train_stage, eval_stage in summary_rows(profile.students):
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
            f"{trained['seconds']:>9.1f}{trained.get('train_flops', nan) / 1e12:>8.2f}{ev['accuracy']:>12.1%}{share:>12}{ev.get('sampled_accuracy', nan):>13.1%}"
            f"{ev.get(f'pass@{k}', nan):>8.1%}{ev['mean_length']:>8.1f}{think:>24}{forced:>21}"
            f"{ev['tokens_per_s']:>9.0f}{ev.get('latency_ms', nan):>12.1f}"
        )
    findings = r1_findings(results, profile)
    if findings:
        lines += ["", "What this run shows (its own numbers; another seed or machine prints others):", *findings]
    gpu = f", peak GPU memory {results['peak_gpu_memory_mb']:.0f} MB" if "peak_gpu_memory_mb" in results else ""
    lines.append(
        f"wall time {results['wall_seconds']:.1f}s, peak memory {results['peak_memory_mb']:.0f} MB{gpu}, run folder {results['run_dir']}"
    )
    return "\n".join(lines)


def r1_findings(results: dict, profile) -> list[str]:
    """DeepSeek-R1's two findings, read from this run's own table, each with its noise band.

    1. R1-Zero: under GRPO with rule rewards only, the teacher's accuracy, length and scratchpad use
       rise; and whether the reasoning itself got better (accuracy when made to think, before and after).
    2. Table 6: from one clean student base, distillation from the teacher against RL on the student alone,
       where the distilled student's skill lives (made to answer directly), the true-trace control,
       and what each cost (training seconds and FLOPs).
    A line is left out when the run has not made the rows it reads (an earlier `until`, a skipped student).
    """
    n = profile.eval_problems
    base, grpo = results.get("eval_teacher_base") or {}, results.get("eval_teacher_grpo") or {}
    lines = []
    if "accuracy" in base and "accuracy" in grpo:
        band = difference_band(base["accuracy"], grpo["accuracy"], n)
        lines.append(
            f"R1-Zero on the teacher (GRPO, rule rewards only): greedy accuracy {base['accuracy']:.1%} -> {grpo['accuracy']:.1%} "
            f"({change(base['accuracy'], grpo['accuracy'], band, MATTERS)}), greedy length {base['mean_length']:.1f} -> {grpo['mean_length']:.1f} tokens, "
            f"scratchpad {base['scratchpad_share']:.0%} -> {grpo['scratchpad_share']:.0%} greedy "
            f"({base.get('sampled_scratchpad_share', float('nan')):.0%} -> {grpo.get('sampled_scratchpad_share', float('nan')):.0%} sampled)"
        )
        if "forced_think_accuracy" in base and "forced_think_accuracy" in grpo:
            before, after = base["forced_think_accuracy"], grpo["forced_think_accuracy"]
            think_band = difference_band(before, after, n)
            verdict = change(before, after, think_band, MATTERS)
            # Whether GRPO chose the scratchpad more often is its own reading (sampled share, else greedy), not assumed.
            key = "sampled_scratchpad_share" if "sampled_scratchpad_share" in base else "scratchpad_share"
            share_before, share_after = base[key], grpo[key]
            chose = change(share_before, share_after, difference_band(share_before, share_after, n))
            chosen = {
                "rose": "GRPO chose the scratchpad more often",
                "fell": "GRPO chose the scratchpad less often",
                "stayed level": "GRPO did not change how often the scratchpad is chosen",
            }[chose]
            meaning = {
                "rose": "the reasoning itself got better",
                "stayed level": "what it writes inside is no better or worse at this noise",
                "fell": "what it writes inside got worse",
            }.get(
                verdict, f"the band is wider than the {100 * MATTERS:.0f} points that matter: evaluate on more problems to tell"
            )
            lines.append(
                f"  made to think, the teacher is right {before:.1%} before GRPO and {after:.1%} after (band ±{100 * think_band:.1f} points): "
                f"{verdict}; {chosen}, "
                f"and {meaning}"
            )
    distilled, rl = results.get("eval_student_sequence_kd") or {}, results.get("eval_student_grpo") or {}
    if "accuracy" in distilled and "accuracy" in rl:
        student_base = results.get("eval_student_base") or {}
        lines.append(
            "R1's Table 6 (one student base"
            + (f", made to think {student_base['forced_think_accuracy']:.1%}" if "forced_think_accuracy" in student_base else "")
            + "): "
            + versus("distillation (sequence KD)", distilled["accuracy"], "RL on the student (GRPO only)", rl["accuracy"], n)
        )
        if "forced_direct_accuracy" in distilled:
            direct, greedy = distilled["forced_direct_accuracy"], distilled["accuracy"]
            falls = greedy - direct > difference_band(greedy, direct, n)
            reading = "its skill lives in the steps it writes" if falls else "no worse without its steps"
            lines.append(f"  the distilled student made to answer directly: {direct:.1%} (greedy {greedy:.1%}): {reading}")
    truth = results.get("eval_student_ground_truth") or {}
    if "accuracy" in distilled and "accuracy" in truth:
        lines.append(
            "  control, no teacher: "
            + versus("the teacher's traces", distilled["accuracy"], "the task's true traces", truth["accuracy"], n)
        )
    costs = [
        f"{STUDENT_RECIPES[method].label.removeprefix('student: ')} {results[f'student_{method}']['seconds']:.0f} s, "
        f"{results[f'student_{method}']['train_flops'] / 1e12:.2f} TFLOP"
        for method in student_methods(profile.students)
        if "train_flops" in (results.get(f"student_{method}") or {})
    ]
    if costs:
        lines.append("  what each student cost to make: " + "; ".join(costs))
    return lines
