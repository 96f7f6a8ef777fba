"""The character tokenizer: round trips, atomic tags, left padding, saving."""

from transformers import AutoTokenizer

from labkit.tasks import completion, read_records
from labkit.tokenizer import TAGS, build_tokenizer


def test_round_trip_on_every_kind_of_text():
    tokenizer = build_tokenizer()
    for record in read_records("validation")[:200]:
        for scratchpad in (True, False):
            text = record["prompt"] + completion(record, scratchpad=scratchpad)
            ids = tokenizer(text, add_special_tokens=False)["input_ids"]
            assert tokenizer.decode(ids) == text
    countdown = "3 7 5>26:<answer>(3*7)+5-0/1</answer>"
    assert tokenizer.decode(tokenizer(countdown)["input_ids"]) == countdown


def test_tags_are_single_tokens_kept_when_skipping_special_tokens():
    tokenizer = build_tokenizer()
    for tag in TAGS:
        assert len(tokenizer(tag, add_special_tokens=False)["input_ids"]) == 1
    ids = tokenizer("<answer>12</answer>", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert ids == [tokenizer.convert_tokens_to_ids(t) for t in ("<answer>", "1", "2", "</answer>", "<eos>")]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "<answer>12</answer>"


def test_a_lone_angle_bracket_is_not_a_tag():
    tokenizer = build_tokenizer()
    ids = tokenizer("5>3", add_special_tokens=False)["input_ids"]
    assert len(ids) == 3


def test_unknown_characters_become_unk_not_an_error():
    tokenizer = build_tokenizer()
    ids = tokenizer("x1", add_special_tokens=False)["input_ids"]
    assert ids[0] == tokenizer.unk_token_id and len(ids) == 2


def test_pads_on_the_left_and_survives_save_and_load(tmp_path):
    tokenizer = build_tokenizer()
    batch = tokenizer(["1+2=", "11+22+33="], padding=True)
    assert batch["input_ids"][0][0] == tokenizer.pad_token_id
    assert batch["attention_mask"][0][:5] == [0] * 5

    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded.padding_side == "left"
    assert reloaded.get_vocab() == tokenizer.get_vocab()
    text = "23+58+91=<think>3+8+1=12 1+2+5+9=17</think><answer>172</answer>"
    assert reloaded(text)["input_ids"] == tokenizer(text)["input_ids"]


def test_chat_template_renders_prompt_then_completion_and_eos():
    tokenizer = build_tokenizer()
    messages = [{"role": "user", "content": "1+2="}, {"role": "assistant", "content": "<answer>3</answer>"}]
    assert tokenizer.apply_chat_template(messages, tokenize=False) == "1+2=<answer>3</answer><eos>"
    prompt_only = tokenizer.apply_chat_template(messages[:1], tokenize=False, add_generation_prompt=True)
    assert prompt_only == "1+2="
