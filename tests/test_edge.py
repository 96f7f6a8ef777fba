"""The student at the edge: exported to ONNX, ONNX Runtime's greedy answers are PyTorch's (labkit.edge)."""

import json

import pytest
import torch

from labkit.cli import main
from labkit.edge.export import INT8_FILE, MODEL_FILE, OnnxGreedy, agreement, export_onnx
from labkit.models import build_model, load_model
from labkit.runtime import LabkitError
from labkit.tasks import read_records


@pytest.fixture(scope="module")
def trained_student(quick_run):
    """The quick run's distilled student (a trained model: its logits are not the near-ties of a fresh one)."""
    result, out = quick_run
    assert result.returncode == 0, result.stderr[-2000:]
    return out / "student_sequence_kd"


def test_onnx_runtimes_greedy_answers_are_pytorchs_on_the_test_split(trained_student, tmp_path):
    out = export_onnx(trained_student, tmp_path / "onnx", int8=True)
    assert {MODEL_FILE, INT8_FILE, "tokenizer.json", "config.json", "generation_config.json"} <= {p.name for p in out.iterdir()}
    model, tokenizer = load_model(trained_student)
    prompts = [r["prompt"] for r in read_records("test")[:200]]
    fp32 = agreement(out, model, tokenizer, prompts, 64)
    assert fp32["same"] == fp32["problems"] == 200, [(a, b) for a, b in zip(fp32["onnx_texts"], fp32["torch_texts"]) if a != b][
        :3
    ]
    int8 = agreement(out, model, tokenizer, prompts, 64, int8=True)  # may differ where two logits were close
    assert 0 <= int8["same"] <= 200 and int8["timing"]["tokens"] > 0
    assert (out / INT8_FILE).stat().st_size < 0.6 * (out / MODEL_FILE).stat().st_size


def test_labkit_export_writes_the_folder_and_reports_the_agreement(trained_student, tmp_path, capsys):
    assert main(["export", str(trained_student), "--to", str(tmp_path / "e"), "--check", "20"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"labkit export: {trained_student} -> ") and "model.onnx" in lines[0]
    assert lines[1] == "labkit export: fp32 ONNX Runtime's greedy answers equal PyTorch's on 20 of 20 sums test problems"
    assert json.loads((tmp_path / "e" / "config.json").read_text())["model_type"] == "llama"


def test_a_model_object_exports_with_its_tokenizer_and_mistakes_are_one_line(tmp_path, capsys):
    model, tokenizer = build_model("student-tiny")
    with pytest.raises(LabkitError, match="needs its tokenizer"):
        export_onnx(model, tmp_path / "a")
    export_onnx(model, tmp_path / "a", tokenizer=tokenizer)
    with pytest.raises(LabkitError, match="no model.int8.onnx in .*--int8"):
        OnnxGreedy(tmp_path / "a", int8=True)
    assert main(["export", str(tmp_path / "not-a-model"), "--to", str(tmp_path / "b")]) == 2
    assert capsys.readouterr().err.startswith("labkit: error: ")
    # Not a causal LM: refused before the exporter runs.
    with pytest.raises(LabkitError, match="a Linear is not a causal language model"):
        export_onnx(torch.nn.Linear(2, 2), tmp_path / "c", tokenizer=tokenizer)


def test_a_model_the_exporter_cannot_trace_is_one_line_naming_its_type(tmp_path, monkeypatch):
    def fails(*args, **kwargs):
        raise RuntimeError("Unsupported: aten::something_new\n  (pages of TorchScript trace)\n  ...")

    monkeypatch.setattr(torch.onnx, "export", fails)
    model, tokenizer = build_model("student-tiny")
    with pytest.raises(LabkitError) as raised:
        export_onnx(model, tmp_path / "a", tokenizer=tokenizer)
    assert (
        str(raised.value)
        == "the ONNX exporter (TorchScript, opset 17) cannot take this llama model: Unsupported: aten::something_new"
    )


def test_the_page_answers_in_headless_chromium_as_the_python_model_does(trained_student, tmp_path):
    """`labkit export --web`: served by a plain static file server on loopback, the page's greedy answers to three
    test problems are the Python model's, to the character."""
    import contextlib
    import os

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from labkit.app.screenshot import find_chromium, headless_chromium
    from labkit.edge.web import ORT_FILES, ort_web_dist, serve_page

    required = os.environ.get("LABKIT_REQUIRE_BROWSER")
    if find_chromium() is None and not required:
        pytest.skip("headless Chromium not installed (apt-get install chromium chromium-driver)")
    try:
        ort_web_dist()
    except LabkitError:
        if required:
            raise
        pytest.skip("ONNX Runtime Web not installed (npm ci)")
    folder = tmp_path / "page"
    assert main(["export", str(trained_student), "--to", str(folder), "--web", "--check", "0"]) == 0
    assert {"index.html", "page.js", "page.json", *ORT_FILES} <= {p.name for p in folder.iterdir()}
    model, tokenizer = load_model(trained_student)
    prompts = [r["prompt"] for r in read_records("test")[3:6]]
    expected = agreement(folder, model, tokenizer, prompts, 64)["torch_texts"]

    server, url = serve_page(folder)
    with contextlib.ExitStack() as stack:
        stack.callback(server.server_close)
        stack.callback(server.shutdown)
        driver = stack.enter_context(headless_chromium())
        driver.get(url)
        WebDriverWait(driver, 60).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready"))
        assert driver.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true"
        shown = []
        for prompt in prompts:
            box = driver.find_element(By.ID, "prompt")
            box.clear()
            box.send_keys(prompt)
            driver.find_element(By.ID, "answer").click()
            output = driver.find_element(By.ID, "output")
            WebDriverWait(driver, 60).until(
                lambda d, o=output, p=prompt: o.get_attribute("data-state") == "done" and o.get_attribute("data-prompt") == p
            )
            shown.append(output.text)
        assert "tokens/s" in driver.find_element(By.ID, "stats").text
        # A problem the character tokenizer cannot spell: one line, and no answer.
        box = driver.find_element(By.ID, "prompt")
        box.clear()
        box.send_keys("12+ab")
        driver.find_element(By.ID, "answer").click()
        WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "output").get_attribute("data-state") == "refused")
        assert driver.find_element(By.ID, "output").text.startswith('The student cannot read "a", "b": it knows only')
    assert shown == expected


@pytest.mark.parametrize("size", ["chat-teacher", "chat-student"])
def test_a_hub_chat_model_exports_the_same_way_and_its_logits_match(size, tmp_path):
    """Notebook 06's pair (offline stand-ins shaped as Qwen2.5 and SmolLM2, with their own tokenizers and chat
    templates) exports with the same call; ONNX Runtime's logits equal PyTorch's on a chat-templated prompt."""
    import numpy as np
    import onnxruntime as ort
    import torch

    from labkit.hub.standins import make_chat_model
    from labkit.tasks import GSM8K

    corpus = ["Ava has 3 apples and buys 5 more. How many apples does she have?", "3+5 = 8", "#### 8"] * 4
    model, tokenizer = load_model(make_chat_model(size, tmp_path / size, corpus))
    out = export_onnx(model, tmp_path / "onnx", tokenizer=tokenizer)
    text = GSM8K().model_text("Ava has 3 apples and buys 5 more. How many apples does she have?", tokenizer)
    ids = tokenizer(text, add_special_tokens=False, return_tensors="np")["input_ids"].astype(np.int64)
    session = ort.InferenceSession(str(out / MODEL_FILE), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(["logits"], {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
    with torch.no_grad():
        torch_logits = model(input_ids=torch.from_numpy(ids)).logits.numpy()
    assert onnx_logits.shape == torch_logits.shape
    assert np.allclose(onnx_logits, torch_logits, atol=1e-4), np.abs(onnx_logits - torch_logits).max()  # float32 rounding
    # The web page speaks only the lab's character tokenizer: a hub tokenizer is refused in one line.
    from labkit.edge.web import write_page

    with pytest.raises(LabkitError, match="tokens of several characters"):
        write_page(out, ort_dist=tmp_path)
