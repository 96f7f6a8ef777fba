"""labkit: a notebook-first teaching lab for group rewards, GRPO and distillation.

One concept a module, from the bottom up (docs/design.md says what may import what):
    runtime       seeds, devices, errors, memory
    tokenizer     the offline character tokenizer
    rewards       rule checks (verdict and reason) and rewards with TRL's signature
    tasks         the Task interface; column sums, Countdown (safe verifier, never evals), multiplication
    gsm8k         GSM8K: loading, a safe final-number reader, its rewards and calculator-note check
    models        tiny Llama configs by name; loading by name, folder or hub id; sizes
    llama_decode  the tiny Llamas' decode loop on one page (what sampling uses for them)
    sampling      batched group generation, per-token log-probs, streaming
    evaluate      accuracy, pass@k, maj@k, length, scratchpad use, speed; `model_row`
    readings      the sentences a notebook prints about its numbers, computed with their noise
    training      the schedule and the supervised loop every method with a loss shares
    pretrain      the warm-up that makes the base models
    thinking      does thinking pay: scratchpad vs direct warm-ups along one budget
    grpo          group advantages and the clipped policy loss
    grpo_loop     labkit's GRPO training loop (checkpoints, resume, evaluation)
    ppo           a minimal PPO step with a critic, to set beside GRPO
    costs         GRPO's and PPO's time and memory, each measured in its own process
    traces        rejection-sampled teacher traces and the judge that keeps them
    distill       kd_loss and the distillation methods
    trl_setup     TRL settings shared by every trainer
    trl_grpo      TRL's GRPOTrainer from labkit's loop config, and the checks that they agree
    trl_distill   TRL's SFTTrainer and DistillationTrainer on labkit's distillation budget
    students      every way the lab makes a student, one recipe each
    hub           the lab on real chat models (GSM8K, TRL, LoRA, vLLM) and their offline stand-ins
    scale         GRPO under `accelerate launch`: one process or many
    profiles      quick / default / gpu, and the task variant each runs
    stages        the run folder and the stage machinery
    pipeline      the lab's stages, behind `labkit run`
    report        the table `labkit run` ends with
    explain       rule rewards in words
    widgets       the notebooks' live dashboards and group explorer
    exercises     checkers for the notebooks' exercises
    batching      the demo's users joined into one batched decode per model
    demo          the Gradio app
    serve         where and what the app serves: ports, Jupyter's proxy, a finished run's models
    screenshot    a picture of the app, in headless Chromium
    links         the repository's address, once, and the notebooks' badges made from it
    book          the course book: the notebooks executed (cached) and rendered with Jupyter Book
    cli           the `labkit` command
"""

__version__ = "0.1.0"
