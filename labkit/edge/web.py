"""The exported student as a web page with no server behind it: ONNX Runtime Web in a browser tab.

    write_page(exported, ort_dist=None)   copies the page (`edge/page/`) and ONNX Runtime Web's files into an
                                          exported folder and writes `page.json`; open it from any static
                                          file server (`python -m http.server -d FOLDER`), network off

The page tokenizes with the lab's character tokenizer (its vocabulary, from `page.json`) and decodes greedily,
as `edge.export.OnnxGreedy` does, in WebAssembly on one thread (`numThreads = 1`: no cross-origin isolation
needed). It shows the model's answer and its tokens/s; it gives no verdict, since the rule that judges an
answer lives once, in `labkit.rewards`, and a second copy in JavaScript could drift from it.

ONNX Runtime Web comes from npm (`onnxruntime-web`, pinned in the repository's package.json): `npm ci` at the
repository's root puts it in node_modules/, or `LABKIT_ORT_WEB` names a folder holding its `dist/` files.
Three of them are needed, about 15 MB: the WebAssembly build only (`ort.wasm.min.js`, which asks for
`ort-wasm-simd-threaded.mjs` and `.wasm`; the default `ort.min.js` would also fetch the WebGPU build).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..runtime import LabkitError, jupyter_proxy_path
from ..tokenizer import TAGS

PAGE = Path(__file__).with_name("page")
ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


def ort_web_dist() -> Path:
    """The folder holding ONNX Runtime Web's files: $LABKIT_ORT_WEB, else node_modules/onnxruntime-web/dist at the
    repository's root or in the working folder; a `LabkitError` saying how to get them when none has them."""
    candidates = [Path(os.environ["LABKIT_ORT_WEB"])] if os.environ.get("LABKIT_ORT_WEB") else []
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidates.append(root / "node_modules" / "onnxruntime-web" / "dist")
    for folder in candidates:
        if all((folder / name).exists() for name in ORT_FILES):
            return folder
    raise LabkitError(
        "the web page needs ONNX Runtime Web's files: run `npm ci` in the repository (package.json pins "
        "onnxruntime-web), or set LABKIT_ORT_WEB to a folder holding " + ", ".join(ORT_FILES)
    )


def write_page(exported: str | Path, ort_dist: str | Path | None = None, *, task=None, examples: int = 3) -> Path:
    """Make the exported folder `exported` (`edge.export.export_onnx`) a web page: index.html, page.js, ONNX
    Runtime Web's files and page.json (vocabulary, EOS, the answer cap, a few test problems). Returns it."""
    from transformers import AutoTokenizer

    from ..tasks import get_task, read_records
    from .export import EXPORT_FILE, MODEL_FILE

    exported = Path(exported)
    if not (exported / MODEL_FILE).exists():
        raise LabkitError(f"no {MODEL_FILE} in {exported}; run `labkit export MODEL --to {exported}` first")
    dist = Path(ort_dist) if ort_dist else ort_web_dist()
    tokenizer = AutoTokenizer.from_pretrained(exported)
    task = get_task(task)
    if task.chat:
        raise LabkitError(f"the page speaks the lab's character tokenizer; the {task.name} task is asked of chat models")
    special = [tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id]
    long_tokens = [t for t, i in tokenizer.get_vocab().items() if len(t) > 1 and i not in special and t not in TAGS]
    if long_tokens:
        raise LabkitError(
            f"the page speaks the lab's character tokenizer, and {exported}'s has {len(long_tokens):,} tokens of several "
            "characters (a hub model's); run it with ONNX Runtime in Python (labkit.edge.export.OnnxGreedy) instead"
        )
    for name in ORT_FILES:
        shutil.copyfile(dist / name, exported / name)
    for source in PAGE.iterdir():
        shutil.copyfile(source, exported / source.name)
    made = json.loads((exported / EXPORT_FILE).read_text())
    settings = {
        "model": made["source"],
        "task": task.name,
        "parameters": made["parameters"],
        "kilobytes": round((exported / MODEL_FILE).stat().st_size / 1e3),
        "vocab": tokenizer.get_vocab(),
        "eos_id": tokenizer.eos_token_id,
        "unk_id": tokenizer.unk_token_id,
        "skip_ids": [i for i in special if i is not None],
        "prompt_end": task.prompt_end,
        "max_new_tokens": task.max_completion_length,
        "examples": [r["prompt"] for r in read_records("test", task)[:examples]],
    }
    (exported / "page.json").write_text(json.dumps(settings, indent=1))
    return exported


def serve_page(folder: str | Path, host: str = "127.0.0.1", port: int = 0):
    """Serve `folder` as static files on a background thread: (the server, the page's address). A plain file
    server is all the page needs; `server.shutdown()` stops it. On a JupyterHub (Binder) the address is the
    one jupyter-server-proxy gives the port. `host="0.0.0.0"` offers it to the room's Wi-Fi (docs/teaching.md)."""
    import functools
    import http.server
    import threading

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # one line a file otherwise, into the notebook or the terminal
            pass

    server = http.server.ThreadingHTTPServer((host, port), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bound = server.server_address[1]
    return server, f"{jupyter_proxy_path(bound) or f'http://127.0.0.1:{bound}'}/index.html"
