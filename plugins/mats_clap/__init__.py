"""mats_clap: the real CLAP encoders, ``laion-clap`` (LAION-CLAP, 512-d, 48 kHz) and ``msclap``
(Microsoft CLAP 2022/2023; 2023 = 1024-d, 44.1 kHz, the encoder of MATS-LLaMA).

The names are always registered; the packages are imported only when an encoder is built,
so ``mats-bench plugins`` stays instant and a missing extra fails with the pip command
(``pip install 'mats-bench[laion]'`` / ``'mats-bench[msclap]'``).

Checkpoints are read as plain tensors (``torch.load(weights_only=True)``) or safetensors;
a pickle that needs more is refused unless ``trust_checkpoint=true``. Without a local
checkpoint each encoder fetches its released weights from the Hugging Face hub, which
fails offline with a message saying which param to set.
"""

from __future__ import annotations

from typing import Literal, Optional

from mats_core import hookimpl

LaionTag = Literal["630k-best", "630k-audioset-best", "630k-fusion-best", "630k-audioset-fusion-best"]
LaionText = Literal["roberta", "bert", "bart"]
MsClapVersion = Literal["2022", "2023"]


def laion_clap(
    checkpoint: Optional[str] = None,
    amodel: str = "HTSAT-tiny",
    tmodel: LaionText = "roberta",
    enable_fusion: bool = False,
    tag: LaionTag = "630k-audioset-best",
    device: str = "cpu",
    trust_checkpoint: bool = False,
):
    """LAION-CLAP. ``checkpoint``: a local .pt/.safetensors; None fetches the released ``tag``
    (the names of laion-clap's ``load_ckpt``) from the hub. ``amodel``/``tmodel``/``enable_fusion``
    must match the checkpoint (HTSAT-tiny + roberta for the released ones)."""
    from mats_clap.laion import LaionClapEncoder

    return LaionClapEncoder(
        checkpoint=checkpoint,
        amodel=amodel,
        tmodel=tmodel,
        enable_fusion=enable_fusion,
        tag=tag,
        device=device,
        trust_checkpoint=trust_checkpoint,
    )


def msclap(
    version: MsClapVersion = "2023",
    model_fp: Optional[str] = None,
    device: str = "cpu",
    trust_checkpoint: bool = False,
):
    """Microsoft CLAP. ``model_fp``: a local CLAP_weights_<version>.pth (or .safetensors);
    None fetches it from the hub repo microsoft/msclap, as the package does."""
    from mats_clap.ms import MsClapEncoder

    return MsClapEncoder(version=version, model_fp=model_fp, device=device, trust_checkpoint=trust_checkpoint)


@hookimpl
def register_encoders(register):
    register("laion-clap", laion_clap)
    register("msclap", msclap)
