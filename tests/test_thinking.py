"""labkit.course.thinking: the scratchpad-vs-direct curves (the measurement behind notebook 02b)."""

from labkit.course.thinking import thinking_curve
from labkit.evaluate import forced_accuracy
from labkit.tasks import completion, read_records

TRAIN = read_records("train", "multiply")[:64]
TEST = read_records("test", "multiply")[:6]


def test_a_curve_measures_at_each_checkpoint_and_tells_the_dashboard():
    seen = []
    curve = thinking_curve(
        "student-tiny", TRAIN, TEST, task="multiply", scratchpad=True, steps=8, batch_size=4, checkpoints=4, callback=seen.append
    )
    assert [step for step, _ in curve.points] == [2, 4, 6, 8]
    assert all(0.0 <= accuracy <= 1.0 for _, accuracy in curve.points)
    assert curve.final == curve.points[-1][1] and curve.at(4) == curve.points[1][1] and curve.at(3) is None
    assert curve.parameters > 0 and curve.seconds > 0
    # the dashboard gets the loss every logged step and the accuracy at each checkpoint
    assert [m["step"] for m in seen if "eval/forced_accuracy" in m] == [2, 4, 6, 8]
    assert all("loss" in m for m in seen)


def test_a_curve_is_a_pure_function_of_its_seed_and_evaluating_does_not_change_training():
    runs = [
        thinking_curve("student-tiny", TRAIN, TEST, task="multiply", scratchpad=False, steps=6, batch_size=4, checkpoints=c)
        for c in (1, 1, 3)
    ]
    assert runs[0].points == runs[1].points
    # More checkpoints evaluate more often; the batches and so the last point must not move.
    assert runs[2].points[-1] == runs[0].points[-1]


def test_forced_accuracy_judges_the_tag_and_what_the_model_wrote_after_it(monkeypatch):
    """The prompt ends with the tag; the judged text is the tag plus the model's continuation."""
    import types

    import labkit.evaluate

    asked = []

    def continue_with(texts):
        def fake_generate(model, tokenizer, prompts, **kwargs):
            asked.extend(prompts)
            return types.SimpleNamespace(texts=texts)

        return fake_generate

    right = [completion(r, scratchpad=False).removeprefix("<answer>") for r in TEST]
    monkeypatch.setattr(labkit.evaluate, "generate_completions", continue_with(right))
    assert forced_accuracy(None, None, TEST, "<answer>") == 1.0
    assert asked[0] == TEST[0]["prompt"] + "<answer>"
    monkeypatch.setattr(labkit.evaluate, "generate_completions", continue_with(right[1:] + right[:1]))
    assert forced_accuracy(None, None, TEST, "<answer>") == 0.0
    thinking = [completion(r, scratchpad=True).removeprefix("<think>") for r in TEST]
    monkeypatch.setattr(labkit.evaluate, "generate_completions", continue_with(thinking))
    assert forced_accuracy(None, None, TEST, "<think>") == 1.0
