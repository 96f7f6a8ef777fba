// The exported student answering in the browser: the lab's character tokenizer and greedy decoding, by hand.
//
// page.json (written by `labkit export --web`) holds the tokenizer's vocabulary (token -> id), the ids of
// EOS and the tokens decoding skips, the prompts' last character, the answer cap and a few test problems.
// Each step runs the whole sequence through model.onnx (no KV cache, as `labkit.edge.export.OnnxGreedy`
// does) and appends the argmax of the last position's logits, the first one on a tie as numpy and torch do.
"use strict";

let session = null;
let settings = null;

function encode(text) {
  // The tags are one token each, every other character one token (labkit.tokenizer's split).
  const pieces = text.match(/<think>|<\/think>|<answer>|<\/answer>|[\s\S]/g) || [];
  return pieces.map((piece) => (piece in settings.vocab ? settings.vocab[piece] : settings.unk_id));
}

function unspellable(text) {
  // The characters the lab's tokenizer has no token for: the page refuses the problem rather than guess.
  const pieces = text.match(/<think>|<\/think>|<answer>|<\/answer>|[\s\S]/g) || [];
  return [...new Set(pieces.filter((piece) => !(piece in settings.vocab)))];
}

function decode(ids) {
  return ids.filter((id) => !settings.skip_ids.includes(id)).map((id) => settings.tokens[id]).join("");
}

function argmaxLast(logits) {
  const [, length, size] = logits.dims;
  const data = logits.data;
  const start = (length - 1) * size;
  let best = 0;
  for (let v = 1; v < size; v++) {
    if (data[start + v] > data[start + best]) best = v;
  }
  return best;
}

async function answer(prompt, show) {
  const promptIds = encode(prompt);
  const fresh = [];
  const started = performance.now();
  for (let step = 0; step < settings.max_new_tokens; step++) {
    const ids = promptIds.concat(fresh);
    const shape = [1, ids.length];
    const inputIds = new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), shape);
    const mask = new ort.Tensor("int64", BigInt64Array.from(ids, () => 1n), shape);
    const { logits } = await session.run({ input_ids: inputIds, attention_mask: mask });
    const next = argmaxLast(logits);
    if (next === settings.eos_id) break;
    fresh.push(next);
    show(decode(fresh), fresh.length, performance.now() - started);
  }
  return { text: decode(fresh), tokens: fresh.length, ms: performance.now() - started };
}

async function run() {
  const output = document.getElementById("output");
  const stats = document.getElementById("stats");
  let prompt = document.getElementById("prompt").value.trim();
  if (!prompt) prompt = settings.examples[0];
  if (!prompt.endsWith(settings.prompt_end)) prompt += settings.prompt_end;
  const unknown = unspellable(prompt);
  if (unknown.length) {
    // One line, and no answer: the model would read each unknown character as the same <unk> token.
    output.textContent = `The student cannot read ${unknown.map((c) => JSON.stringify(c)).join(", ")}: it knows only the characters of ${settings.task} problems, like ${settings.examples[0]}`;
    stats.textContent = "";
    output.dataset.prompt = prompt;
    output.dataset.state = "refused";
    return;
  }
  output.dataset.state = "running";
  output.textContent = "";
  const shown = (text, tokens, ms) => {
    output.textContent = text;
    stats.textContent = `${tokens} tokens, ${ms.toFixed(0)} ms, ${((1000 * tokens) / Math.max(ms, 1)).toFixed(0)} tokens/s`;
  };
  const done = await answer(prompt, shown);
  shown(done.text, done.tokens, done.ms);
  output.dataset.prompt = prompt;
  output.dataset.state = "done";
}

async function start() {
  settings = await (await fetch("page.json")).json();
  settings.tokens = [];
  for (const [token, id] of Object.entries(settings.vocab)) settings.tokens[id] = token;
  ort.env.wasm.wasmPaths = "./";
  ort.env.wasm.numThreads = 1; // no cross-origin isolation needed
  session = await ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] });
  document.getElementById("about").textContent =
    `${settings.model}: ${settings.parameters.toLocaleString()} parameters, ${settings.kilobytes} KB, on the ${settings.task} task.`;
  const examples = document.getElementById("examples");
  for (const example of settings.examples) {
    const button = document.createElement("button");
    button.textContent = example;
    button.onclick = () => {
      document.getElementById("prompt").value = example;
      run();
    };
    examples.appendChild(button);
  }
  const go = document.getElementById("answer");
  go.onclick = run;
  document.getElementById("prompt").addEventListener("keydown", (event) => {
    if (event.key === "Enter") run();
  });
  go.disabled = false;
  document.body.dataset.ready = "true";
}

start().catch((error) => {
  document.getElementById("about").textContent = `The model could not load: ${error}`;
  document.body.dataset.ready = "failed";
});
