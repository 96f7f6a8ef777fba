"""The lab on real chat models (GSM8K on a hub model) and GRPO past one machine (accelerate, vLLM)."""
