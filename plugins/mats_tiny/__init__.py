"""mats_tiny: the embedded tiny world (sound scenes, texts, a tiny CLAP and a tiny LM).

It is the offline default of mats-bench and the fixture of the test suite: everything
runs with no download, in minutes on a laptop CPU. Registered: encoder ``tiny-clap``,
llm ``tiny-lm``, tasks ``tiny-caption`` / ``tiny-classify`` / ``tiny-qa``, corpus
``tiny`` and the ``mats-bench tiny`` commands (``build``, ``info``).

Heavy modules (numpy, torch) are imported inside the factories only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

from pydantic import Field

from mats_core import hookimpl

EvalSplit = Literal["test", "val"]
TextSplit = Literal["text-train", "clap-pairs", "val", "test"]
Limit = Annotated[int, Field(ge=1)] | None


def tiny_clap(weights: str | None = None, device: str = "cpu"):
    """The tiny CLAP. ``weights``: a directory made by ``mats-bench tiny build`` (default: the
    shipped one); ``device``: auto | cpu | cuda[:N]."""
    from mats_tiny.clap import load_tiny_clap

    return load_tiny_clap(weights, device=device)


def tiny_lm(
    weights: str | None = None,
    lora: dict | None | Literal["default"] = "default",
    device: str = "cpu",
    template: str | None = None,
    max_length: int | None = None,
    generation: dict | None = None,
    max_answer_tokens: int | None = None,
):
    """The tiny GPT-2-architecture LM (``mats_tiny.lm.load_tiny_lm``). Params are named so that an
    unknown one is refused before anything loads; ``lora: default`` is LoRA on c_attn, ``null``
    none; ``template: null`` the MATS template."""
    from mats_tiny.lm import load_tiny_lm

    given = dict(
        weights=weights,
        device=device,
        template=template,
        max_length=max_length,
        generation=generation,
        max_answer_tokens=max_answer_tokens,
    )
    if lora != "default":
        given["lora"] = lora
    return load_tiny_lm(**{k: v for k, v in given.items() if v is not None or k == "lora"})


def _task(name: str, kind: str):
    def factory(split: EvalSplit = "test", limit: Limit = None, seed: Annotated[int, Field(ge=0)] = 0):
        from mats_tiny.tasks import TinyTask

        return TinyTask(name, kind, split=split, limit=limit, seed=seed)

    factory.__name__ = name.replace("-", "_")
    factory.__doc__ = f"{kind} on the tiny world's rendered clips"
    return factory


def tiny_corpus(split: TextSplit = "text-train", n: Limit = None, seed: Annotated[int, Field(ge=0)] = 0):
    """The tiny world's text-only training records."""
    from mats_tiny.tasks import TinyCorpus

    return TinyCorpus(split=split, n=n, seed=seed)


@hookimpl
def register_encoders(register):
    register("tiny-clap", tiny_clap)


@hookimpl
def register_llms(register):
    register("tiny-lm", tiny_lm)


@hookimpl
def register_tasks(register):
    register("tiny-caption", _task("tiny-caption", "caption"))
    register("tiny-classify", _task("tiny-classify", "classification"))
    register("tiny-qa", _task("tiny-qa", "qa"))


def tiny_pairs(n: Limit = None, seed: Annotated[int, Field(ge=0)] = 0):
    """Audio + text records of the `clap-pairs` split, for the MATS-Audio reference (`--supervision audio`)."""
    from mats_tiny.pairs import TinyPairsCorpus

    return TinyPairsCorpus(n=n, seed=seed)


@hookimpl
def register_corpora(register):
    register("tiny", tiny_corpus)
    register("tiny-pairs", tiny_pairs)


@hookimpl
def register_commands(cli):
    import typer

    app = typer.Typer(
        help="The embedded tiny world: rebuild its data and models, show their quality.", no_args_is_help=True
    )

    @app.command()
    def build(
        quick: bool = typer.Option(False, "--quick", help="tiny sizes (seconds): a smoke test of the pipeline"),
        out: Optional[Path] = typer.Option(None, "--out", help="output directory (default: the package's weights/)"),
        seed: int = typer.Option(0, "--seed", min=0, help="world seed: same seed, byte-identical data"),
        threads: Optional[int] = typer.Option(None, "--threads", min=1, help="torch threads (1 on a busy machine)"),
        lm: bool = typer.Option(True, "--lm/--no-lm", help="also retrain the tiny LM (mats_tiny.lm.train_lm)"),
    ) -> None:
        """Regenerate the tiny world from its seed: data, tiny CLAP, tiny LM and metadata.json."""
        from mats_tiny.build import build_all

        build_all(out=out, quick=quick, seed=seed, threads=threads, lm=lm)

    @app.command()
    def info(
        weights: Optional[Path] = typer.Option(None, "--weights", help="a built weights directory (default: shipped)"),
    ) -> None:
        """Print the shipped (or given) build's metadata: sizes, hashes and quality numbers."""
        from mats_tiny.build import print_info

        print_info(weights)

    cli.add_typer(app, name="tiny")
