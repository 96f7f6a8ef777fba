"""Many users, one batched decode: the demo's requests joined into one forward pass a token.

A tiny model's token costs about the same for 1 row as for 60 (the time is Python and
per-layer overhead, not arithmetic), so answering 30 users one after the other wastes
29/30 of the machine. `DecodeBatcher` owns the models on one worker thread:

    submit(prompt)  ->  a `Request` for every model (k rows each), queued
    worker loop:    every request waiting joins a new wave: one `AnswerBatch` per model
                    (prompts left-padded together); then each live wave steps once, model
                    after model, until its rows stop at EOS or their own token cap
    the request's   `wait(seconds)` returns when it has new tokens or is done; its answers
    handler         grow in place, so a handler streams them as before

New requests do not wait for a running wave to finish: they form the next wave at the
next token and the worker steps both. Each group of rows keeps its own settings and
sampling generator (`streaming.AnswerBatch`), so a user's answer is the one the model
gives them alone: greedy tokens equal, sampled tokens equal under the same seed (checked
in `tests/test_demo.py`). The cost: a wave's finished rows ride along until it ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from ..sampling import MAX_COMPLETION_LENGTH
from .streaming import AnswerBatch, AnswerGroup


class Request:
    """One user's prompt to every model: `groups[m]` holds model m's k answers as they grow."""

    def __init__(self, groups: list[AnswerGroup]):
        self.groups = groups
        self.error: BaseException | None = None
        self.cancelled = False
        self._changed = threading.Condition()
        self._version = 0
        self._seen = 0

    @property
    def done(self) -> bool:
        return self.error is not None or self.cancelled or all(group.done for group in self.groups)

    def wait(self, timeout: float) -> bool:
        """Block until the request is done, or `timeout` seconds have passed and it has tokens not yet
        seen (so a handler that streams every `timeout` seconds never sends an empty update).
        True once done; raises the worker's error if the wave it was in failed."""
        deadline = time.monotonic() + timeout
        with self._changed:
            # Woken at every token; the bound of a second lets a handler waiting in the queue look up now and then.
            self._changed.wait_for(
                lambda: self.done or (self._version != self._seen and time.monotonic() >= deadline), timeout=max(timeout, 1.0)
            )
            self._seen = self._version
        if self.error is not None:
            raise self.error
        return self.done

    def cancel(self) -> None:
        """The user left: stop generating for this request at the next token."""
        self.cancelled = True
        for group in self.groups:
            group.stopped = True
        self._notify()

    def _notify(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()


class DecodeBatcher:
    """Concurrent requests to `models` answered in batched waves on one thread.

    `tokenizers` is one tokenizer the models share (the lab's pair) or one per model (two hub chat
    models of different families); each model's pad and EOS come from its own.

    `max_rows` caps the rows of a wave per model (k rows per request); a request that would pass it
    waits for the next wave. At most `max_waves` waves run at once, since each costs a forward pass a
    token whatever its size: requests arriving one by one while that many run wait for one to end.
    The worker thread starts with the first request and is a daemon.
    """

    def __init__(
        self,
        models: Sequence[torch.nn.Module],
        tokenizers: PreTrainedTokenizerBase | Sequence[PreTrainedTokenizerBase],
        *,
        max_rows: int = 256,
        max_waves: int = 4,
    ):
        self.models, self.max_rows, self.max_waves = list(models), max_rows, max_waves
        shared = isinstance(tokenizers, PreTrainedTokenizerBase)
        self.tokenizers = [tokenizers] * len(self.models) if shared else list(tokenizers)
        if len(self.tokenizers) != len(self.models):
            raise ValueError(f"{len(self.models)} models but {len(self.tokenizers)} tokenizers: pass one, or one per model")
        self._waiting: list[Request] = []
        self._arrived = threading.Condition()
        self._worker: threading.Thread | None = None
        self.waves = 0  # how many waves were formed: fewer than requests when they were joined

    def submit(
        self,
        prompt_ids: list[int] | Sequence[list[int]],
        *,
        k: int = 1,
        temperature: float = 0.0,
        max_new_tokens: int = MAX_COMPLETION_LENGTH,
        seed: int = 0,
    ) -> Request:
        """Queue one prompt for every model; the same settings and seed for each. `prompt_ids` is the
        prompt's token ids, or one list of ids per model (each model's tokenizer and chat template)."""
        if k > self.max_rows:
            raise ValueError(f"k={k} is more rows than a wave holds (max_rows={self.max_rows}); lower k")
        per_model = (
            list(prompt_ids) if prompt_ids and isinstance(prompt_ids[0], (list, tuple)) else [prompt_ids] * len(self.models)
        )
        if len(per_model) != len(self.models):
            raise ValueError(f"{len(per_model)} prompts for {len(self.models)} models: pass one, or one per model")
        # AnswerGroup refuses k < 1 and max_new_tokens < 1 here, in the caller's thread, not the worker's.
        request = Request([AnswerGroup(list(ids), k, temperature, max_new_tokens, seed) for ids in per_model])
        with self._arrived:
            self._waiting.append(request)
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="labkit-decode-batcher", daemon=True)
                self._worker.start()
            self._arrived.notify()
        return request

    def _next_wave(self, block: bool) -> list[Request]:
        """The requests that join the next wave, oldest first, up to `max_rows` rows (none if not `block`ing and none wait)."""
        with self._arrived:
            if block:
                self._arrived.wait_for(lambda: self._waiting)
            wave, rows = [], 0
            while self._waiting and rows + self._waiting[0].groups[0].k <= self.max_rows:
                request = self._waiting.pop(0)
                if not request.cancelled:
                    wave.append(request)
                    rows += request.groups[0].k
            return wave

    def _run(self) -> None:
        waves: list[tuple[list[Request], list[AnswerBatch]]] = []
        while True:
            joined = self._next_wave(block=not waves) if len(waves) < self.max_waves else []
            if joined:
                try:
                    batches = [
                        AnswerBatch(model, tokenizer, [request.groups[m] for request in joined])
                        for m, (model, tokenizer) in enumerate(zip(self.models, self.tokenizers))
                    ]
                    waves.append((joined, batches))
                    self.waves += 1
                except Exception as error:  # e.g. out of memory for the cache: these requests fail, the worker goes on
                    for request in joined:
                        request.error = error
                        request._notify()
            for wave in list(waves):
                requests, batches = wave
                try:
                    for batch in batches:  # model after model, one token each
                        if not batch.done:
                            batch.step()
                except Exception as error:  # a failed forward pass fails its wave's requests, not the worker
                    for request in requests:
                        request.error = error
                for request in requests:
                    request._notify()
                if all(batch.done for batch in batches) or any(request.error for request in requests):
                    waves.remove(wave)
