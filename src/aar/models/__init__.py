"""Models: encoders that turn texts into features, the heads trained on them, and the Hugging Face LoRA path."""
