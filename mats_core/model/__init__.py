"""The model of a run: encoder + mapper + LLM (the pipeline), checkpoints, audio input, embeddings and generation settings."""
