"""The model card (README.md) inside every export: what the model was trained on and how, how well it does against
the untuned baselines, where it is weakest, what it is for and not for, how to load it, and how the export fared
when it was checked. Every string a user typed or uploaded (dataset, class and model names) goes through
core.export.markdown_text.md, so a class named `<b>*x*</b>` shows as typed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.datasets.files import read_examples
from core.methods import method_only_settings
from core.export.markdown_text import md
from core.export.result import MAX_ACCURACY_DROP_POINTS, ExportResult, Written, allowed_drop
from core.export.source import RunSource

CARD_FILE = "README.md"
WEAK_CLASSES = 3  # classes listed as the weakest (lowest test F1)
SETTINGS_SHOWN = ("learning_rate", "epochs", "epochs_run", "batch_size", "max_length", "image_size", "lora_rank",
                  "lora_alpha", "num_virtual_tokens", "weight_decay", "seed")


@dataclass
class CardContext:
    """What the run's row knows and its folder does not (the command line reads them from the database)."""

    dataset_name: str = ""
    run_metrics: dict[str, Any] = field(default_factory=dict)  # the run's stored test metrics, baselines included
    threshold: float | None = None  # two classes: the decision threshold the app uses, on P(labels[1])
    training: dict[str, Any] = field(default_factory=dict)  # what the preset's settings resolved to
    temperature: float = 1.0  # fitted on validation: the app divides the logits by it (core.evaluation.calibration)
    min_confidence: float | None = None  # the app marks answers below this calibrated probability uncertain


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _bytes(count: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,.0f} {unit}" if unit == "bytes" else f"{count:,.1f} {unit}"
        count /= 1000
    return ""


def _data(source: RunSource, context: CardContext) -> list[str]:
    frame = read_examples(source.dataset_dir)
    splits = Counter(frame["split"])
    per_class = Counter(frame[frame["split"] == "train"]["label"])
    name = md(context.dataset_name) if context.dataset_name else "the run's dataset"
    lines = [f"- Dataset: {name}, {len(frame):,} examples ({source.task}s), {len(source.labels)} classes.",
             f"- Split, fixed at upload: {splits.get('train', 0):,} train, {splits.get('val', 0):,} validation, "
             f"{splits.get('test', 0):,} test.", "", "| Class | Training examples |", "|---|---:|"]
    lines += [f"| {md(label)} | {per_class.get(label, 0):,} |" for label in source.labels]
    return lines


def _method(source: RunSource, context: CardContext) -> list[str]:
    method = source.method
    not_read = method_only_settings() - set(method.settings)  # e.g. LoRA's rank for prompt tuning
    settings = {k: v for k, v in {**source.info.get("config", {}), **context.training}.items() if k not in not_read}
    shown = ", ".join(f"{k.replace('_', ' ')} {settings[k]:g}" if isinstance(settings[k], float) else
                      f"{k.replace('_', ' ')} {settings[k]}" for k in SETTINGS_SHOWN if settings.get(k) is not None)
    return [f"- Base model: {md(source.base_model_name)}.",
            f"- Tuning method: {method.name}: {method.description}",
            f"- Settings: {shown}." if shown else "- Settings: the preset's."]


def _metrics(metrics: dict[str, Any]) -> list[str]:
    baselines = metrics.get("baselines") or {}
    names = [("majority", "Always the most common class")] + (
        [("zero_shot", "Zero-shot (MiniLM, class names)")] if "zero_shot" in baselines else [])
    lines = ["| | Accuracy | Macro-F1 |", "|---|---:|---:|",
             f"| This model (trained, PyTorch) | {_pct(metrics.get('accuracy'))} | {_pct(metrics.get('macro_f1'))} |"]
    lines += [f"| Baseline: {label} | {_pct(baselines[key].get('accuracy'))} | {_pct(baselines[key].get('macro_f1'))} |"
              for key, label in names if key in baselines]
    per_class = metrics.get("per_class") or {}
    # With two classes only the weaker one is worth naming.
    weakest = sorted(per_class.items(), key=lambda kv: (kv[1]["f1"], kv[0]))[:min(WEAK_CLASSES, len(per_class) - 1)]
    if weakest:
        lines += ["", "Weakest classes (lowest F1 on the test set):", "",
                  "| Class | F1 | Precision | Recall | Test examples |", "|---|---:|---:|---:|---:|"]
        lines += [f"| {md(label)} | {v['f1']:.2f} | {v['precision']:.2f} | {v['recall']:.2f} | {v['support']} |"
                  for label, v in weakest]
    return lines


def _verification(result: ExportResult) -> list[str]:
    verdict = "Offered" if result.accepted else "Refused"
    lines = [f"**{verdict}.** {result.reason}", "",
             f"Each file was reloaded in a fresh process with its own library (no Tuneboard code) and run on the "
             f"{result.test_examples:,} test examples; an export may get at most {allowed_drop(result.test_examples)} more "
             f"of them wrong than the trained model ({MAX_ACCURACY_DROP_POINTS:g} percentage point of accuracy, and "
             "at least one example).", "",
             "| File | Test accuracy | Trained model | Same top class | Max probability difference | "
             "Latency, 1 input (p50) |", "|---|---:|---:|---:|---:|---:|"]
    for check in result.checks:
        if check.error:
            lines.append(f"| {md(check.name)} | could not be run | {_pct(result.pytorch_accuracy)} | – | – | – |")
            continue
        lines.append(f"| {md(check.name)} | {_pct(check.accuracy)} | {_pct(result.pytorch_accuracy)} | "
                     f"{_pct(check.agreement)} | {check.max_probability_difference:.2g} | "
                     f"{check.latency_ms_p50:.1f} ms |")
    lines += ["", f"Size: {_bytes(result.model_bytes)} of weights, {_bytes(result.size_bytes)} for the whole folder."]
    if result.pytorch_latency_ms_p50 is not None:
        lines += ["", f"The trained model in Tuneboard (PyTorch), timed the same way on the same machine: "
                      f"{_bytes(result.pytorch_model_bytes)} of weights, {result.pytorch_latency_ms_p50:.1f} ms per input."]
    return lines


def _use_and_limits(source: RunSource, context: CardContext, result: ExportResult) -> list[str]:
    kind = "texts" if source.task == "text" else "images"
    lines = [f"- Intended use: sorting {kind} like those it was trained on into the {len(source.labels)} classes "
             "above. It always answers with one of them, even for an input that belongs to none.",
             f"- Measured on {result.test_examples:,} test examples from the same upload: new data from another "
             "source, period or population can score lower. Check it on your own data before relying on it.",
             "- Not for decisions about people without a human checking them."]
    if source.task == "text":
        lines.append(f"- Texts are cut to {source.info['max_length']} tokens; the end of a longer text is not read.")
    if context.temperature != 1.0:
        lines.append(f"- Tuneboard calibrates the confidence: it divides the logits by {context.temperature:.4f} "
                     "(fitted on the validation examples) before the softmax. This export gives the model's own "
                     "probabilities; divide their logarithms by the same number and apply a softmax to get the "
                     "app's.")
    if context.threshold is not None and len(source.labels) == 2:
        lines.append(f"- Tuneboard decides {md(source.labels[1])} when its (calibrated) probability is at least "
                     f"{context.threshold:.2f}; this export gives probabilities, so apply the same threshold.")
    if context.min_confidence is not None:
        lines.append(f"- Tuneboard marks an answer uncertain, for a person to check, when its calibrated "
                     f"probability is below {context.min_confidence:.4f}.")
    if source.catalog_entry is not None and source.catalog_entry.for_testing:
        lines.append("- Its base model has random weights (a test model): it is for trying the export, not for use.")
    return lines


def write_card(folder: Path, fmt: str, source: RunSource, written: Written, result: ExportResult,
               metrics: dict[str, Any], context: CardContext) -> Path:
    title = f"{md(source.base_model_name)} fine-tuned to classify {source.task}s"
    expects = (f"its tokenizer files, texts cut to {source.info['max_length']} tokens" if source.is_text else
               f"{source.image.size} px centre crop, per-channel mean and std")
    lines = ["---", f"library_name: {written.library}", "tags:", "- tuneboard",
             f"- {source.task}-classification", "---", "", f"# {title}", "",
             f"Exported by Tuneboard in the `{fmt}` format. Classes, in the order of the model's outputs: " +
             ", ".join(md(label) for label in source.labels) + ".", "",
             "## How to load it", "", "```python", written.load_snippet, "```", "",
             f"Requirements: `{written.requirements}`. The inputs it expects ({expects}) are in "
             "`preprocessing.json`; softmax over the logits gives the class probabilities.",
             *[f"\n{note}" for note in written.notes], "",
             "## Check before export", "", *_verification(result), "",
             "## Data", "", *_data(source, context), "",
             "## Method and settings", "", *_method(source, context), "",
             "## Test metrics and baselines", "", *_metrics(metrics), "",
             "## Intended use and limits", "", *_use_and_limits(source, context, result), ""]
    path = folder / CARD_FILE
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
