"""labkit: a notebook-first teaching lab for group rewards, GRPO and distillation.

One concept a module:
    tasks       the embedded task (column sums with a scratchpad) and its splits
    tokenizer   the offline character tokenizer
    models      tiny Llama configs by name; loading by name, folder or hub id
    rewards     rule-based rewards with TRL's signature
    sampling    batched group generation
    pretrain    the warm-up that makes the base models
    evaluate    accuracy, pass@k, maj@k, length, scratchpad use, tokens/s
    grpo        group advantages and the clipped policy loss
    grpo_loop   labkit's GRPO training loop (checkpoints, resume, evaluation)
    widgets     the group explorer (ipywidgets)
    exercises   checkers for the notebooks' exercises
    pipeline    the headless run behind `labkit run`
    runtime     seeds, devices, errors, memory
"""

__version__ = "0.1.0"
