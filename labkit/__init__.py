"""labkit: a notebook-first teaching lab for group rewards, GRPO and distillation.

The files a learner reads from the notebooks sit here, flat, from the bottom up; everything else
lives in a folder named for its role. docs/design.md says what may import what, and
tests/test_layers.py holds every import to it.
    runtime       seeds, devices, errors, memory
    tokenizer     the offline character tokenizer
    rewards       rule checks (verdict and reason) and rewards with TRL's signature
    models        tiny Llama configs by name; loading by name, folder or hub id; sizes
    llama_decode  the tiny Llamas' decode loop on one page (what sampling uses for them)
    sampling      batched group generation, per-token log-probs
    evaluate      accuracy, pass@k, maj@k, length, scratchpad use, speed; `model_row`
    readings      the sentences a notebook prints about its numbers, computed with their noise
    training      the schedule and the supervised loop every method with a loss shares
    pretrain      the warm-up that makes the base models
    grpo          group advantages and the clipped policy loss
    grpo_loop     labkit's GRPO training loop (checkpoints, resume, evaluation)
    ppo           a minimal PPO step with a critic, to set beside GRPO
    traces        rejection-sampled teacher traces and the judge that keeps them
    distill       kd_loss and the distillation methods
    cli           the `labkit` command
    tasks/        every task, one module each
        base          the Task interface
        sums          column sums, the lab's first task
        multiply      long multiplication, where thinking is needed
        countdown     TinyZero's Countdown (a safe verifier that never evals)
        gsm8k         GSM8K: loading, a safe final-number reader, its rules and calculator-note check, the Task
        gsm8k_sample  a small made-up set in GSM8K's format, for the offline path
    trainers/     TRL's trainers set up for labkit's models, and the checks that they agree
        setup         TRL settings shared by every trainer
        grpo          TRL's GRPOTrainer from labkit's loop config
        distill       TRL's SFTTrainer and DistillationTrainer on labkit's distillation budget
    run/          the lab's run: what `labkit run` makes, in which order, and the table it prints
        profiles      quick / default / gpu, and the task variant each runs
        students      every way the lab makes a student, one recipe each
        stages        the run folder and the stage machinery
        pipeline      the lab's stages, behind `labkit run`
        report        the table `labkit run` ends with, and R1's findings read from it
        costs         FLOPs of a run; GRPO's and PPO's time and memory, each measured in its own process
        track         a run logged to trackio with TRL's metric names (`--report-to trackio`)
        room          a room's runs in one tracker project, read as one experiment over seeds
    hub/          the lab on real chat models, on one machine or many
        chat          hub chat models on GSM8K (TRL, LoRA, vLLM), in one setting a machine
        standins      the offline stand-ins: tiny chat models made here, in the hub's format
        scale         GRPO under `accelerate launch`: one process or many
    edge/         the student off PyTorch: ONNX, ONNX Runtime
        export        a saved model as ONNX (int8 too), and greedy answers from ONNX Runtime
        measure       one model on PyTorch and ONNX Runtime, fp32 and int8, side by side
        web           the exported student as a web page: ONNX Runtime Web, no server
    app/          the Gradio app that sets the teacher beside its student
        demo          the app's page: one builder a tab, the handlers bound to their state
        handlers      what the app does: its state, and Compare, Arena and Reward as plain functions
        streaming     answers that grow one token at a time (the KV cache carried by hand)
        batching      the app's users joined into one batched decode per model
        serve         where and what the app serves: ports, Jupyter's proxy, a finished run's models
        explain       rule rewards in words
        screenshot    a picture of the app, in headless Chromium
        classboard    a class's trackio server with the room's board (`labkit class serve`)
    course/       what the notebooks and the course book add around the lesson
        widgets       the notebooks' live dashboards and group explorer
        exercises     checkers for the notebooks' exercises
        exercise_cases  the cases each exercise is checked on, and the classic mistakes it recognises
        thinking      does thinking pay: scratchpad vs direct warm-ups along one budget
        links         the repository's address, once, and the notebooks' badges made from it
        book          the course book: the notebooks executed (cached) and rendered with Jupyter Book
"""

__version__ = "0.1.0"
