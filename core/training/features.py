"""Head-only fast path: run the frozen backbone once per (dataset, model, input settings), cache what the
classifier head receives as input, then train the head on those features in seconds.

Cache: <data home>/cache/features/<key>.safetensors with one (N, ...) tensor per split and, for a text model, its
sentence embeddings ("embedding.<split>", (N, H): the encoder's last hidden states averaged over the real tokens, as
sentence-transformers embeds a sentence), taken in the same pass for comparing examples (core.training.data_review:
near-copies); an image model's head input is already such an embedding. The key hashes the
dataset's examples.csv (stored datasets never change in place), the model's identity and the settings that
change the features (max_length; image size / normalisation). Writes are atomic (temp file + rename).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from core.catalog import model_identity
from core.datasets.files import examples_digest
from core.methods import get_method
from core.models.base import HF_TEXT, BuiltModel
from core.training.progress import Progress, Reporter
from core.models.text_inputs import Split, random_batches
from core.training.device import DeviceSetup
from core.training.loop import PROGRESS_INTERVAL_S, Throttle, TrainingCancelled, to_device

CACHE_VERSION = 2  # 2: features always in float32 (bf16 ones, made on AMX CPUs before, are not reused)
EMBEDDING = "embedding."  # key prefix of the text embeddings in the cache
HEAD_DROPOUT = 0.1  # the dropout the full model applies before its classifier during training


def first_linear(head: nn.Module) -> nn.Linear | None:
    return next((m for m in head.modules() if isinstance(m, nn.Linear)), None)


class HeadOnFeatures(nn.Module):
    """The model's own head module, fed cached features: model(features=...) -> logits.

    Features are standardised per dimension with the training set's mean and std: a linear probe then learns
    in a few dozen steps whatever the features' scale (MiniLM's pooler outputs are ~0.05 in size, so an
    unscaled head would need hundreds of steps). `fold_standardisation` moves the scaling into the head's
    first linear layer afterwards, so the saved model is the plain architecture with the same outputs.
    """

    def __init__(self, head: nn.Module, train_features: torch.Tensor) -> None:
        super().__init__()
        self.head = head
        self.dropout = nn.Dropout(HEAD_DROPOUT)
        linear = first_linear(head)
        flat = train_features.reshape(len(train_features), -1)  # (N, D): D = the first linear's inputs
        self.standardise = linear is not None and flat.shape[1] == linear.in_features and len(flat) > 1
        mean = flat.mean(0) if self.standardise else torch.zeros(flat.shape[1])
        std = flat.std(0).clamp(min=1e-6) if self.standardise else torch.ones(flat.shape[1])
        self.register_buffer("mean", mean.to(train_features.dtype))
        self.register_buffer("std", std.to(train_features.dtype))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        shape = features.shape
        scaled = ((features.reshape(shape[0], -1) - self.mean) / self.std).reshape(shape)
        return self.head(self.dropout(scaled))

    @torch.no_grad()
    def unfold_standardisation(self) -> None:
        """The inverse of fold_standardisation, for a head that already takes raw features (a continued run's, carried
        from its parent): W' = W s, b' = b + W m, so W' x' + b' = W x + b and it starts answering as it did."""
        if not self.standardise:
            return
        linear = first_linear(self.head)
        weight = linear.weight.float()
        if linear.bias is not None:
            linear.bias.copy_(linear.bias + weight @ self.mean)
        linear.weight.copy_(weight * self.std)

    @torch.no_grad()
    def fold_standardisation(self) -> None:
        """W x' + b with x' = (x - m) / s  ==  (W / s) x + (b - W (m / s)); then m = 0, s = 1."""
        if not self.standardise:
            return
        linear = first_linear(self.head)
        weight = linear.weight.float()  # (out, in)
        if linear.bias is not None:
            linear.bias.copy_(linear.bias - weight @ (self.mean / self.std))
        linear.weight.copy_(weight / self.std)
        self.mean.zero_()
        self.std.fill_(1.0)
        self.standardise = False


class FeatureBatches:
    """Batches of cached features for one split (same interface as TextBatches / ImageBatches)."""

    def __init__(self, features: torch.Tensor, split: Split) -> None:
        self.features, self.split = features, split

    def __len__(self) -> int:
        return len(self.split)

    def _batch(self, positions: list[int]):
        index = torch.as_tensor(positions, dtype=torch.long)
        labels = torch.as_tensor(self.split.labels[positions], dtype=torch.long)
        return {"features": self.features[index]}, labels, positions

    def train(self, batch_size: int, seed: int, epoch: int = 0):  # order from (seed, epoch) alone
        for positions in random_batches(len(self), batch_size, seed):
            yield self._batch(positions)

    def evaluate(self, batch_size: int):
        for start in range(0, len(self), batch_size):
            yield self._batch(list(range(start, min(start + batch_size, len(self)))))

    def num_train_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)


def supports_cached_features(built: BuiltModel) -> bool:
    """One head module called on one tensor: its input is the feature. Two-part heads train the slow way."""
    return get_method(built.method).frozen_backbone and not built.uses_peft and len(built.head_names) == 1


def cache_key(dataset_dir: Path, built: BuiltModel, seed: int, rows: str = "") -> str:
    digest = examples_digest(dataset_dir)
    identity = model_identity(built.source)
    if built.source.kind.startswith("tiny"):
        identity += f":seed={seed}"  # random weights depend on the seed
    settings = {"max_length": built.max_length, "image": built.image.to_dict() if built.image else None}
    key = {"v": CACHE_VERSION, "data": digest, "model": identity, "settings": settings}
    if rows:
        key["rows"] = hashlib.sha256(rows.encode()).hexdigest()
    blob = json.dumps(key, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@torch.no_grad()
def extract(built: BuiltModel, data_by_split: dict, setup: DeviceSetup, batch_size: int,
            reporter: Reporter) -> dict[str, torch.Tensor]:
    """Run the frozen model over every split, keeping the head's input (first token only for (B, T, H) inputs:
    sequence heads such as RoBERTa's read only that token)."""
    model = built.model
    model.eval()
    captured: list[torch.Tensor] = []

    def keep_input(_module, args, kwargs):
        x = args[0] if args else next(iter(kwargs.values()))
        captured.append((x[:, :1] if x.ndim == 3 else x).float().cpu())

    pooled: list[torch.Tensor] = []

    def keep_mean(_module, args, kwargs, output):  # (B, T, H) -> (B, H): mean over the unmasked tokens
        hidden = output[0] if isinstance(output, tuple) else output.last_hidden_state
        mask = kwargs.get("attention_mask")
        mask = torch.ones(hidden.shape[:2], device=hidden.device) if mask is None else mask
        mask = mask.to(hidden.dtype).unsqueeze(-1)
        pooled.append(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)).float().cpu())

    hook = built.base_model().get_submodule(built.head_names[0]).register_forward_pre_hook(keep_input, with_kwargs=True)
    hooks = [hook]
    if built.family == HF_TEXT:
        hooks.append(built.base_model().base_model.register_forward_hook(keep_mean, with_kwargs=True))
    total = sum(len(d) for d in data_by_split.values())
    done = 0
    throttle = Throttle(PROGRESS_INTERVAL_S)
    features: dict[str, torch.Tensor] = {}
    try:
        for name, data in data_by_split.items():
            parts: dict[int, torch.Tensor] = {}
            embedded: dict[int, torch.Tensor] = {}
            for inputs, _, positions in data.evaluate(batch_size):
                if reporter.should_stop():
                    raise TrainingCancelled()
                captured.clear()
                pooled.clear()
                model(**to_device(inputs, setup.device))  # float32, as served (loop.predict_logits says why)
                for position, row in zip(positions, captured[0]):
                    parts[position] = row
                for position, row in zip(positions, pooled[0] if pooled else []):
                    embedded[position] = row
                done += len(positions)
                if throttle.ready():
                    reporter.progress(Progress(0, 0, 0.0, f"Computing features once: {done}/{total} examples"))
            if parts:
                features[name] = torch.stack([parts[i] for i in range(len(data))]).contiguous()
            if embedded:
                features[EMBEDDING + name] = torch.stack([embedded[i] for i in range(len(data))]).contiguous()
    finally:
        for hook in hooks:
            hook.remove()
    return features


def load_or_extract(dataset_dir: Path, cache_dir: Path, built: BuiltModel, data_by_split: dict, setup: DeviceSetup,
                    batch_size: int, seed: int, reporter: Reporter, rows: str = "") -> dict[str, torch.Tensor]:
    """`rows`: which training rows, when a run trains on some of them only (a continued run)."""
    folder = cache_dir / "features"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{cache_key(dataset_dir, built, seed, rows)}.safetensors"
    if path.is_file():
        cached = load_file(str(path))
        wanted = [name for name, data in data_by_split.items() if len(data)]
        if built.family == HF_TEXT:  # a cache written before the embeddings were kept is written again
            wanted += [EMBEDDING + name for name in wanted]
        if all(name in cached for name in wanted):
            reporter.log(f"Using cached backbone features ({path.name}).")
            return cached
    features = extract(built, data_by_split, setup, batch_size, reporter)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    save_file(features, str(tmp))
    tmp.replace(path)
    reporter.log(f"Cached backbone features for {sum(len(d) for d in data_by_split.values())} examples.")
    return features
