"""Training the mapper (+ LoRA) from text alone."""
