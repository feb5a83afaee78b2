"""Resolve the transformers / peft names we use once, under a lock, before any thread needs them.

transformers and peft resolve their public names lazily, and that lookup is not thread-safe: two
Streamlit script threads (say, a rerun that starts while the last one still counts parameters) that
import at the same moment fail with "cannot import name 'AutoModelForSequenceClassification'".
`core.models.build` calls this when it is imported (and the saved-model and baseline loaders before they load), and
Python's import lock makes other threads wait for it.
"""

from __future__ import annotations

import threading

TRANSFORMERS_NAMES = (
    "AutoConfig", "AutoModel", "AutoTokenizer", "AutoModelForSequenceClassification", "AutoModelForImageClassification",
    "BertConfig", "BertForSequenceClassification", "ViTConfig", "ViTForImageClassification",
)
PEFT_NAMES = ("IA3Config", "LoraConfig", "PrefixTuningConfig", "PromptTuningConfig", "PeftModel", "get_peft_model")

_lock = threading.Lock()
_resolved = False


def resolve_lazy_imports() -> None:
    global _resolved
    with _lock:
        if _resolved:
            return
        import peft
        import transformers
        import transformers.utils  # noqa: F401  (cached_file, logging)

        for name in TRANSFORMERS_NAMES:
            getattr(transformers, name)
        for name in PEFT_NAMES:
            getattr(peft, name)
        _resolved = True
