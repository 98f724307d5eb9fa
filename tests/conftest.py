"""Test session setup: offline HF, a private embeddings cache, no third-party plugin leakage."""

import os
import tempfile

# Must happen before anything imports huggingface_hub/transformers (a missing file would
# otherwise retry against the hub for minutes).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MATS_CACHE", tempfile.mkdtemp(prefix="mats-test-cache-"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Under pytest-xdist every worker gets its share of the cores: N workers x N torch threads
# oversubscribe the machine and run several times slower than one thread each.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    share = max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"]))
    os.environ.setdefault("OMP_NUM_THREADS", str(share))
    os.environ.setdefault("MKL_NUM_THREADS", str(share))
