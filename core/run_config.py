"""The settings of one training run, and how each is shown and typed.

Each field's metadata is the one description of a setting: `help` is the widget tooltip and the CLI's help,
and the widget kind, bounds and task say how the Train page draws it and how `python -m core train` parses it
(both are generated from these fields, the way HfArgumentParser builds flags from a dataclass). Fields that are
None mean "the preset decides"; `core.training.presets.resolve` fills them, and the resolved RunConfig is what
training runs with, so a setting travels one way: widget or flag -> RunConfig -> resolve -> the optimizer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Widget kinds: how a setting is drawn and parsed.
INT, FLOAT, BOOL, CHOICE = "int", "float", "bool", "choice"


def _field(default: Any, help: str, kind: str | None = None, **shown: Any) -> Any:
    """A setting. `kind` set: shown under Advanced and as a CLI flag. `shown` may hold: low, high, step, format,
    choices, task (only for that task), flags (extra CLI spellings, e.g. "--lr")."""
    return field(default=default, metadata={"help": help, "kind": kind, **shown})


@dataclass
class RunConfig:
    model: str = _field("minilm", "The pretrained model to start from: it already knows language (or images) in "
                        "general and learns your categories on top. The offline defaults need no internet; larger "
                        "models can score higher but train more slowly.")
    method: str = _field("lora", "How much of the model learns from your data. Head only: just the final layer "
                         "learns, a first model in a minute. LoRA: small add-on weights learn while the original "
                         "model stays frozen, close to full accuracy with a tiny file. Full fine-tuning: every weight "
                         "learns, often the best scores but the slowest. Few-shot (text): for a handful of examples "
                         "per class, the model first learns from pairs of your texts, then the final layer learns.")
    preset: str = _field("quick", "Quick: a first model in minutes, to see whether the idea works. Balanced: trains "
                         "longer for better scores. Best: trains the longest and stops when it no longer improves; "
                         "pick it for the model you will really use, once Quick looks promising.")
    # None = take the preset's value for this task and method.
    learning_rate: float | None = _field(None, "How big each update step is. Too high and training becomes unstable; "
                                        "too low and it learns slowly. Empty: the preset decides.",
                                        FLOAT, low=1e-6, high=1.0, format="%.0e", step=1e-5, flags=("--lr",))
    epochs: int | None = _field(None, "How many times training goes through every training example. More can learn "
                                "more but takes longer, and too many makes the model memorise its examples instead of "
                                "learning the pattern. Empty: the preset decides.", INT, low=1, high=500)
    batch_size: int | None = _field(None, "Examples per update step. Larger is faster per example but needs more "
                                    "memory. Empty: the preset decides.", INT, low=1, high=1024)
    grad_accum: int = _field(1, "Add up this many batches before each update (a larger effective batch without more "
                             "memory).", INT, low=1, high=128)
    max_length: int | None = _field(None, "Texts are cut to this many tokens (words or word pieces). Shorter is "
                                    "faster; longer keeps more of long texts.", INT, low=8, high=4096, task="text")
    image_size: int | None = _field(None, "Images are resized and cropped to this many pixels per side. Empty: "
                                    "the model's own size, or less for small images (about 3.5x their size).",
                                    INT, low=32, high=1024, task="image")
    lora_rank: int = _field(8, "LoRA only: how big the learned add-ons are. Larger can learn more but trains more "
                            "weights; 8 suits most data.", INT, low=1, high=256)
    lora_alpha: int = _field(16, "LoRA only: how strongly the add-ons change the model (their effect is scaled by "
                             "alpha divided by rank). The default suits most data.", INT, low=1, high=1024)
    lora_dropout: float = _field(0.1, "LoRA only: the share of the add-ons' inputs dropped at random while training, "
                                 "so they do not memorise the training examples.", FLOAT, low=0.0, high=0.9,
                                 step=0.05)
    num_virtual_tokens: int = _field(20, "Prompt and prefix tuning only: how many learned 'virtual words' are "
                                     "added in front of every text. More can learn more but train slower.",
                                     INT, low=1, high=200)
    warmup_ratio: float = _field(0.06, "Share of the training steps during which the step size grows gently from "
                                 "zero, so the first updates do not disturb the pretrained model.",
                                 FLOAT, low=0.0, high=0.5, step=0.01)
    weight_decay: float = _field(0.01, "A gentle pull of the weights towards zero, so the model is less likely to "
                                  "memorise its training examples.", FLOAT, low=0.0, high=1.0, step=0.01)
    early_stopping_patience: int | None = _field(None, "Stop training after this many epochs in a row that do not "
                                                 "score better on the validation examples, and keep the best epoch's "
                                                 "model (0 = never stop early). Empty: the preset decides.",
                                                 INT, low=0, high=100)
    class_weighting: bool = _field(False, "Count mistakes on rare classes more heavily, so the model does not "
                                     "ignore them (helps when some classes have far fewer examples).", BOOL)
    length_grouping: bool = _field(True, "Text only: put texts of similar length together, each class spread over the "
                                   "batches as in random ones, so less time goes into padding short texts to the "
                                   "length of long ones (docs/BENCHMARKS.md, grouping).", BOOL, task="text")
    cross_validation_folds: int = _field(0, "Few examples: instead of judging the model on the few examples set "
                                         "aside for testing, split all your labelled examples into this many parts; "
                                         "each part is scored by a model trained on the others (k-fold "
                                         "cross-validation), and the saved model is then trained on all of them. "
                                         "Takes this many trainings more. 0 = off: train on the training part and "
                                         "judge on the test part.", INT, low=0, high=10)
    seed: int = _field(42, "Random seed: the same seed and data give the same run.", INT, low=0, high=2**31 - 1)
    device: str = _field("auto", "auto uses a GPU when one is present, else the CPU.", CHOICE,
                         choices=("auto", "cpu", "cuda"))
    devices: int = _field(1, "Train one run on this many processes at once (data-parallel: each holds the model and "
                          "takes a share of every batch; the batch size stays the run's). On a GPU machine: one GPU "
                          "each. Only methods that train the model itself (not Head only or Few-shot, which train a "
                          "small head on features) and runs without cross-validation use more than one.", INT,
                          low=1, high=8)
    trust_remote_code: bool = _field(False, "Allow a Hugging Face model to run its own Python code. Only for models "
                                     "you trust.", BOOL)
    # Continue training (core/training/continual.py): start from this finished run's model, train on what changed
    # in the new version since its version, plus this share of its own training rows. Set by "Continue training"
    # (Results, the Train page) and `python -m core train --from-run`, not under Advanced.
    from_run: int | None = _field(None, "Start from this finished run's model instead of the pretrained one.")
    replay: float = _field(0.0, "Continue training only: the share (0 to 1) of the earlier version's training rows "
                           "mixed in with the new rows. Some replay keeps the model from forgetting the old classes "
                           "when the new rows lean towards a few classes; 1 trains on the whole new version.")
    # Set when the user left the method to Tuneboard (core/methods/quick_choice.py), not under Advanced.
    then_method: str | None = _field(None, "Fastest good model: the method of the run that follows this one when "
                                     "this one scores too low on its validation examples.")
    chosen_after: int | None = _field(None, "Fastest good model: the run this one followed.")
    # Filled by the preset only (not shown): how the schedule and the epoch count adapt to the data.
    schedule: str | None = _field(None, "Learning-rate decay after warmup: linear or cosine.")
    min_steps: int | None = _field(None, "Small datasets: epochs grow until training makes at least this many updates.")
    max_epochs: int | None = _field(None, "The ceiling for that growth.")
    eval_batch_size: int | None = _field(None, "Examples per batch when scoring the validation and test sets.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @staticmethod
    def help(name: str) -> str:
        return next(f.metadata.get("help", "") for f in fields(RunConfig) if f.name == name)


def setting_fields() -> list:
    """The settings a user may set beside model, method and preset (the Advanced expander, the CLI's flags)."""
    return [f for f in fields(RunConfig) if f.metadata.get("kind")]


def out_of_bounds(name: str, value: Any) -> str | None:
    """A plain sentence when `value` is outside the setting's bounds, else None."""
    meta = next(f.metadata for f in fields(RunConfig) if f.name == name)
    low, high = meta.get("low"), meta.get("high")
    if value is None or low is None or low <= value <= high:
        return None
    return f"{name.replace('_', ' ').capitalize()} must be between {low:g} and {high:g}; {value:g} is not."
