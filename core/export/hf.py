"""The `hf` and `adapter` formats: the trained model as its own library saves it, loadable without Tuneboard.

- Hugging Face text and image models: a transformers folder (`AutoModelFor...from_pretrained`); methods whose
  change is merged into the weights (LoRA, IA3, full, BitFit, head only) are a single folder. Methods that
  cannot be merged (prompt and prefix tuning: `needs_adapter`) are `base/` (the base weights with the trained
  head) plus `adapter/`, loaded with peft.
- The bundled EfficientNet: model.safetensors with load_model.py, a short script that rebuilds the network with
  efficientnet_lite_pytorch and loads them, and a TorchScript file (torch.jit.trace) that needs only torch.
- `adapter`: the peft adapter alone, for a peft method, to put on the base model it was trained from.
"""

from __future__ import annotations

import re
import shutil
import warnings
from pathlib import Path

import torch

from core.export.markdown_text import md
from core.export.result import Artifact, ExportError, Written
from core.export.source import RunSource, copy_tokenizer_files
from storage.paths import INFO_FILE

PEFT_CARD = "README.md"  # peft's own generic card in adapter/: ours replaces it
TORCHSCRIPT_FILE = "model.torchscript.pt"
SAFE_MODEL_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")  # a hub id that can go inside a code snippet as is

LOAD_MODEL_SCRIPT = '''"""Rebuild the fine-tuned EfficientNet-Lite without Tuneboard.

    pip install torch safetensors efficientnet-lite-pytorch
    from load_model import load_model
    model = load_model()          # eval mode; model(pixel_values) -> logits, see preprocessing.json
"""

from pathlib import Path

from efficientnet_lite_pytorch import EfficientNet
from safetensors.torch import load_file

VARIANT = {variant!r}
NUM_LABELS = {num_labels!r}
# The architecture's settings as trained; image_size fixes the "same" padding of the strided convolutions.
OVERRIDES = {overrides!r}


def load_model(folder=Path(__file__).resolve().parent):
    model = EfficientNet.from_name(VARIANT, num_classes=NUM_LABELS, **OVERRIDES)
    model.load_state_dict(load_file(str(Path(folder) / "model.safetensors")))
    return model.eval()
'''


def _copy_model_folder(source: RunSource, target: Path) -> None:
    shutil.copytree(source.model_dir, target, ignore=shutil.ignore_patterns(INFO_FILE), dirs_exist_ok=True)
    if source.is_text:
        copy_tokenizer_files(source, target)  # truncates at the trained max_length by default


def write_hf(source: RunSource, folder: Path, scratch: Path) -> Written:
    source.write_preprocessing(folder)
    if source.is_efficientnet:
        return _write_efficientnet(source, folder)
    auto = "AutoModelForSequenceClassification" if source.is_text else "AutoModelForImageClassification"
    tokenizer = ", AutoTokenizer" if source.is_text else ""
    if source.info.get("needs_adapter"):
        _copy_model_folder(source, folder / "base")
        shutil.copytree(source.adapter_dir, folder / "adapter", ignore=shutil.ignore_patterns(PEFT_CARD))
        snippet = (f"from peft import PeftModel\nfrom transformers import {auto}{tokenizer}\n"
                   f"model = PeftModel.from_pretrained({auto}.from_pretrained(\"base\"), \"adapter\").eval()" +
                   ("\ntokenizer = AutoTokenizer.from_pretrained(\"base\")" if source.is_text else ""))
        return Written([Artifact("base/ + adapter/ (peft)", "peft", "base", adapter="adapter", tokenizer="base")],
                       ["base/model.safetensors", "adapter/adapter_model.safetensors"], snippet, lossless=True,
                       requirements="pip install torch transformers peft", library="peft")
    _copy_model_folder(source, folder)
    snippet = (f"from transformers import {auto}{tokenizer}\n"
               f"model = {auto}.from_pretrained(\"path/to/this/folder\").eval()\n" +
               ("tokenizer = AutoTokenizer.from_pretrained(\"path/to/this/folder\")" if source.is_text else
                "probabilities = model(pixel_values=pixel_values).logits.softmax(-1)  # see preprocessing.json"))
    return Written([Artifact("transformers folder", "transformers", ".")], ["model.safetensors"], snippet,
                   lossless=True, requirements="pip install torch transformers")


def _write_efficientnet(source: RunSource, folder: Path) -> Written:
    rebuild = source.info["rebuild"]
    shutil.copy2(source.model_dir / "model.safetensors", folder / "model.safetensors")
    # The library computes its static "same" padding from image_size: the size the run was trained at.
    overrides = {**(rebuild.get("overrides") or {}), "image_size": source.image.size}
    (folder / "load_model.py").write_text(LOAD_MODEL_SCRIPT.format(
        variant=rebuild["variant"], num_labels=len(source.labels), overrides=overrides))
    # TorchScript by tracing: the network has no data-dependent branches, and the padding Tuneboard computes from
    # the input size is recorded for the trained size, the only size preprocessing.json produces.
    example = torch.zeros(2, 3, source.image.size, source.image.size)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # the padding recorded as constants: wanted
        traced = torch.jit.trace(source.torch_model(), (example,))
    traced.save(str(folder / TORCHSCRIPT_FILE))
    snippet = ("from load_model import load_model  # this folder's script; or torch.jit.load(\"model.torchscript.pt\")\n"
               "model = load_model()\n"
               "probabilities = model(pixel_values).softmax(-1)  # pixel_values as preprocessing.json says")
    return Written([Artifact("model.safetensors + load_model.py", "script", "load_model.py"),
                    Artifact(TORCHSCRIPT_FILE, "torchscript", TORCHSCRIPT_FILE)],
                   ["model.safetensors", TORCHSCRIPT_FILE], snippet, lossless=True,
                   requirements="pip install torch safetensors efficientnet-lite-pytorch (TorchScript: torch alone)",
                   library="pytorch")


def base_model_id(source: RunSource) -> str | None:
    """The public name of the base model the adapter goes on; None for a random-weight test model built by
    Tuneboard and for a local folder (its path means nothing elsewhere, and would reveal this server's folders)."""
    entry, model = source.catalog_entry, source.info["model"]
    if entry is not None:
        return None if entry.for_testing else entry.model_id
    return model if SAFE_MODEL_ID.fullmatch(model) and not Path(model).expanduser().exists() else None


def write_adapter(source: RunSource, folder: Path, scratch: Path) -> Written:
    if not source.method.uses_peft or not source.adapter_dir.is_dir():
        raise ExportError(f"{source.method.name} trains the whole model's weights, not an adapter, so there is no "
                          "adapter to export; choose the hf or onnx format.")
    if source.is_efficientnet:
        raise ExportError("An EfficientNet adapter loads only onto Tuneboard's own rebuild of the network, so it is "
                          "not offered alone; choose the hf format, which has the change merged in.")
    shutil.copytree(source.adapter_dir, folder, ignore=shutil.ignore_patterns(PEFT_CARD), dirs_exist_ok=True)
    source.write_preprocessing(folder)
    if source.is_text:
        copy_tokenizer_files(source, folder)
    else:
        shutil.copy2(source.model_dir / "preprocessor_config.json", folder / "preprocessor_config.json")
    base = _materialise_base(source, scratch / "base")
    auto = "AutoModelForSequenceClassification" if source.is_text else "AutoModelForImageClassification"
    model_id = base_model_id(source)
    snippet = (f"from peft import PeftModel\nfrom transformers import {auto}\n"
               f"model = PeftModel.from_pretrained({auto}.from_pretrained(\"{model_id or 'BASE_MODEL'}\", "
               f"num_labels={len(source.labels)}), \"path/to/this/folder\").eval()")
    named = md(source.base_model_name)
    needs = (f"It goes on its base model, {named} (`{model_id}`)" if model_id else
             f"It goes on its base model, {named}, which has no public name: put that model's folder for BASE_MODEL")
    return Written([Artifact("adapter on its base model", "peft", ".", adapter=".", base=str(base))],
                   ["adapter_model.safetensors", "adapter_config.json"], snippet, lossless=True,
                   notes=[f"{needs}; the adapter carries the trained classifier head, so the base may be loaded "
                          f"with any new head of {len(source.labels)} classes."],
                   requirements="pip install torch transformers peft", library="peft")


def _materialise_base(source: RunSource, target: Path) -> Path:
    """The base model the run started from, rebuilt as training built it (same seed) and saved as a transformers
    folder, so the fresh process can put the adapter on it. Used for the check only; the export names the base."""
    from core.models import build_model
    from core.training.presets import resolve

    config = resolve(source.task, source.config)
    torch.manual_seed(config.seed)  # as core.training.run.prepare_model: a random-weight test model comes out the same
    built = build_model(source.task, config, source.labels)
    built.model.save_pretrained(str(target))
    return target
