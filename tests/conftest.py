"""Test session setup: offline HF, a private embeddings cache, no third-party plugin leakage."""
import os
import tempfile

# Must happen before anything imports huggingface_hub/transformers (a missing file would
# otherwise retry against the hub for minutes).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MATS_CACHE", tempfile.mkdtemp(prefix="mats-test-cache-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
