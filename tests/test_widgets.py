"""The group explorer builds, resamples and colours advantages by sign."""

from labkit.tasks import read_records
from labkit.widgets import GroupExplorer, group_table_html, score_group


def test_score_group_and_table_colours():
    texts = ["<answer>172</answer>", "<answer>171</answer>", "junk", "<think>3+8+1=12 1+2+5+9=17</think><answer>172</answer>"]
    rewards, advantages = score_group(texts, "172")
    assert rewards["correct"] == [1.0, 0.0, 0.0, 1.0]
    assert rewards["format"] == [1.0, 1.0, 0.0, 1.0]
    assert advantages["group"][0] > 0 > advantages["group"][2]
    table = group_table_html(texts, rewards, advantages)
    assert "#2e7d32" in table and "#c62828" in table and "&lt;answer&gt;" in table


def test_explorer_resamples_with_its_controls(student):
    model, tokenizer = student
    explorer = GroupExplorer(model, tokenizer, read_records("test")[:5], max_new_tokens=6)
    explorer.group_size.value = 3  # triggers a resample through the observer
    assert explorer.table.value.count("<tr>") == 1 + 3
    explorer.problem.value = 2
    assert read_records("test")[2]["prompt"] in explorer.summary.value
