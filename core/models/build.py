"""build_model: the base classifier for a task, a RunConfig and its labels, from the catalog, a Hugging Face id,
a local folder, a saved run, or a tiny random-weight config for tests."""

from __future__ import annotations

import json
from pathlib import Path

from core.catalog import ModelSource, resolve_model
from core.models.libraries import resolve_lazy_imports

resolve_lazy_imports()  # before anything else here touches transformers / peft (see libraries.py for why)

from core.models import efficientnet, hf  # noqa: E402
from core.models.base import EFFICIENTNET, HF_IMAGE, HF_TEXT, BuiltModel, ImageSettings, find_head_names  # noqa: E402
from core.run_config import RunConfig  # noqa: E402
from storage.paths import INFO_FILE  # noqa: E402


def build_model(task: str, config: RunConfig, labels: list[str], source: ModelSource | None = None) -> BuiltModel:
    """Load (or, for tiny test models, create) the base classifier with a fresh head for `labels`."""
    source = source or resolve_model(config.model, task)
    entry = source.entry
    if source.kind == "efficientnet" or source.kind == "tiny-image":
        net, rebuild = (efficientnet.build_tiny if source.kind == "tiny-image" else efficientnet.build_pretrained)(len(labels))
        default_size = entry.default_image_size if entry else 224
        image = ImageSettings(size=config.image_size or default_size, mean=efficientnet.EFFICIENTNET_MEAN_STD,
                              std=efficientnet.EFFICIENTNET_MEAN_STD)
        built = BuiltModel(net, EFFICIENTNET, source, labels, ["_fc"], image=image, rebuild=rebuild)
    elif source.kind == "saved-efficientnet":
        built = _saved_efficientnet_as_base(source, config, labels)
    elif task == "text":
        if source.kind == "tiny-bert":
            model, tokenizer = hf.build_tiny_bert(labels, config.seed)
        else:
            model, tokenizer = hf.load_text(source, labels, config.trust_remote_code)
        default_length = (entry.default_max_length if entry else None) or 128
        max_length = config.max_length or default_length
        model_limit = getattr(model.config, "max_position_embeddings", None) or 512
        max_length = min(max_length, model_limit)
        built = BuiltModel(model, HF_TEXT, source, labels, find_head_names(model, HF_TEXT), tokenizer=tokenizer,
                           max_length=max_length)
    else:
        if source.kind == "tiny-vit":
            model, image = hf.build_tiny_vit(labels, config.seed)
            processor_config = hf.processor_config_for(image)
        else:
            model, image, processor_config = hf.load_image(source, labels, config.trust_remote_code)
        if config.image_size:
            image.size = config.image_size
        built = BuiltModel(model, HF_IMAGE, source, labels, find_head_names(model, HF_IMAGE), image=image,
                           preprocessor_config=processor_config or hf.processor_config_for(image))
    return built


def _saved_efficientnet_as_base(source: ModelSource, config: RunConfig, labels: list[str]) -> BuiltModel:
    """A run saved by Tuneboard used as the starting point of a new run (its head is replaced)."""
    folder = Path(source.location)
    info = json.loads((folder / INFO_FILE).read_text())
    net = efficientnet.load_saved(folder, info["rebuild"], len(info["labels"]))
    fresh_head = efficientnet.build_network(info["rebuild"]["variant"], len(labels), info["rebuild"].get("overrides"))._fc
    net._fc = fresh_head
    image = ImageSettings.from_dict(info["image"])
    if config.image_size:
        image.size = config.image_size
    return BuiltModel(net, EFFICIENTNET, source, labels, ["_fc"], image=image, rebuild=info["rebuild"])
