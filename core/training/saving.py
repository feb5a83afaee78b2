"""Writing a finished run's model: output_dir/model/ (+ output_dir/adapter/ for PEFT methods).

model/ is a Hugging Face folder (config with id2label / label2id, model.safetensors, tokenizer files or
preprocessor_config.json) — or, for EfficientNet, model.safetensors alone — plus tuneboard.json, which
says how to load it. The tuning method decides what model/ holds (`TuningMethod.standalone`): methods that
can be merged (LoRA, IA3) are, so model/ stands alone; the others write the base weights with the trained
head, and tuneboard.json says the adapter is needed.

Both folders are written inside a staging folder and renamed into place at the end (adapter first, model
last), so a save that fails half-way (a full disk, a killed process) never leaves a model/ that looks complete.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file

from core.artifacts import DISK_FULL_SAVING, DiskFullError, is_disk_full
from core.methods import get_method
from core.models.base import EFFICIENTNET, HF_IMAGE, HF_TEXT, BuiltModel
from core.run_config import RunConfig
from storage.paths import ADAPTER_DIR, INFO_FILE, MODEL_DIR

STAGING_PREFIX = ".saving-"  # output_dir/.saving-<hex>/{model,adapter} while a save is under way
FORMAT_VERSION = 1


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def model_info(built: BuiltModel, config: RunConfig) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "task": built.task,
        "family": built.family,
        "labels": list(built.labels),
        "model": config.model,
        "model_name": built.source.entry.name if built.source.entry else config.model,
        "method": built.method,
        "config": config.to_dict(),
        "max_length": built.max_length,
        "image": built.image.to_dict() if built.image else None,
        "rebuild": built.rebuild or None,
        "needs_adapter": get_method(built.method).needs_adapter,
    }


def save_model(built: BuiltModel, config: RunConfig, output_dir: Path) -> int:
    """Write model/ (and adapter/); returns their size in bytes. Leaves `built.model` unusable for peft.

    Raises DiskFullError (one plain sentence) when the disk fills up; nothing loadable is left behind then.
    """
    output_dir = Path(output_dir)
    for leftover in output_dir.glob(STAGING_PREFIX + "*"):  # from a save that was killed half-way
        shutil.rmtree(leftover, ignore_errors=True)
    staging = output_dir / f"{STAGING_PREFIX}{uuid.uuid4().hex[:8]}"
    try:
        _write_model(built, config, staging / MODEL_DIR, staging / ADAPTER_DIR)
        # 1) the old model goes first, so no old model/ is ever paired with a new adapter/
        for name in (MODEL_DIR, ADAPTER_DIR):
            shutil.rmtree(output_dir / name, ignore_errors=True)
        # 2) adapter, then model: model/tuneboard.json appearing is what makes the run loadable
        if (staging / ADAPTER_DIR).exists():
            (staging / ADAPTER_DIR).rename(output_dir / ADAPTER_DIR)
        (staging / MODEL_DIR).rename(output_dir / MODEL_DIR)
    except BaseException as error:
        shutil.rmtree(staging, ignore_errors=True)  # frees the space the partial files took
        if isinstance(error, Exception) and is_disk_full(error):
            raise DiskFullError(DISK_FULL_SAVING) from error
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return folder_size(output_dir / MODEL_DIR) + folder_size(output_dir / ADAPTER_DIR)


def _write_model(built: BuiltModel, config: RunConfig, model_dir: Path, adapter_dir: Path) -> None:
    model_dir.mkdir(parents=True)
    model = built.model.to("cpu").to(memory_format=torch.contiguous_format)  # safetensors needs plain layout
    if built.uses_peft:
        model.save_pretrained(str(adapter_dir))
    model, state = get_method(built.method).standalone(model)
    if built.family == EFFICIENTNET:
        weights = state if state is not None else {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(weights, str(model_dir / "model.safetensors"))
    else:
        model.save_pretrained(str(model_dir), state_dict=state)
    if built.family == HF_TEXT:
        built.tokenizer.save_pretrained(str(model_dir))
    if built.family == HF_IMAGE:
        (model_dir / "preprocessor_config.json").write_text(json.dumps(built.preprocessor_config, indent=2))
    (model_dir / INFO_FILE).write_text(json.dumps(model_info(built, config), indent=2))  # last: marks it complete
