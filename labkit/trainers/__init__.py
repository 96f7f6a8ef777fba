"""TRL's trainers set up for labkit's models (the real tool where TRL is the real tool).

labkit's own loops (grpo_loop, distill) are the lesson; these build the same runs with TRL, and tests hold
the two to the same numbers."""
