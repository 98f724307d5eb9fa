"""Resuming a training: what a checkpoint keeps beside the weights, and the guards around it.

``save_state`` writes the optimizer, the scheduler and every RNG (data order, bridge noise,
torch's global) next to the weights, and ``load_state`` puts them back, so a resumed run ends
exactly where an uninterrupted one does. ``guard`` refuses a silent overwrite or a resume with
other settings; ``trim_log`` drops the log rows past the step resumed from (they are redone).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from mats_core.model.checkpoints import guard_output, read_tensors
from mats_core.model.pipeline import MATSModel, read_checkpoint_config


def guard(out: Path, body: dict, accel, *, resume: bool, overwrite: bool, checked: bool) -> None:
    """No silent overwrite, no resume with other settings (rank 0 checks and clears; all wait); --overwrite clears only once ``checked``."""
    if overwrite != checked:
        return
    if accel.is_main_process:
        note = guard_output(out, body, resume, overwrite)
        if note:
            accel.print(note)
    accel.wait_for_everyone()


def trim_log(out: Path, start: int, accel) -> Path:
    """train_log.jsonl keeps the rows up to the checkpoint resumed from (the rest are redone)."""
    log_path = out / "train_log.jsonl"
    if accel.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        kept = (
            [l for l in log_path.read_text().splitlines() if json.loads(l)["step"] <= start]
            if start and log_path.exists()
            else []
        )
        log_path.write_text("".join(l + "\n" for l in kept))
    return log_path


def save_state(out: Path, step: int, *, optimizer, scheduler, data_gen, noise_gen) -> None:
    """trainer_state.safetensors (optimizer tensors, RNG states) and trainer_state.json (step,
    param groups, scheduler), the json written last and atomically: it marks the state complete."""
    from safetensors.torch import save_file

    opt = optimizer.state_dict()
    tensors = {f"opt.{i}.{k}": v.detach().cpu().contiguous() for i, st in opt["state"].items() for k, v in st.items()}
    tensors["rng.data"] = data_gen.get_state()
    tensors["rng.noise"] = noise_gen.get_state().cpu()
    tensors["rng.torch"] = torch.get_rng_state()
    save_file(tensors, out / "trainer_state.safetensors")
    meta = {"step": step, "param_groups": opt["param_groups"], "scheduler": scheduler.state_dict()}
    tmp = out / ".trainer_state.json.tmp"
    tmp.write_text(json.dumps(meta, default=list))
    tmp.replace(out / "trainer_state.json")


def load_state(out: Path, model: MATSModel, *, optimizer, scheduler, data_gen, noise_gen) -> int:
    """Restores the weights and everything ``save_state`` wrote; returns the step saved."""
    read_checkpoint_config(out)
    model.load_weights(out)
    meta = json.loads((out / "trainer_state.json").read_text())
    tensors = read_tensors(out / "trainer_state.safetensors")
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    scheduler.load_state_dict(meta["scheduler"])
    data_gen.set_state(tensors["rng.data"])
    noise_gen.set_state(tensors["rng.noise"])
    torch.set_rng_state(tensors["rng.torch"])
    return int(meta["step"])
