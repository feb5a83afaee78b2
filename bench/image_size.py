"""How the image size of EfficientNet-Lite0 is chosen, without looking at a test set: a linear probe (standardised
features, logistic regression) on the backbone's features of the training images only, 5-fold cross-validation
repeated with 5 seeds, at each candidate size.

    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.image_size            # ants/bees train/ photos (about 3 minutes)
    HF_HUB_OFFLINE=1 .venv/bin/python -m bench.image_size digits     # 4,000 28-px digits (bench/digits.py)

Not part of `python -m bench`: it decided the default for photos once (288 px, core/catalog.py) and how far small
images are enlarged; it is kept so that anyone can check those decisions.
"""

from __future__ import annotations

import json
import time

import numpy as np

from bench.common import ANTS_BEES, require
from core.ingest.suffixes import IMAGE_SUFFIXES

SIZES = {"ants/bees": (224, 256, 288, 320), "digits": (32, 64, 96, 128, 160, 224, 288)}


def probe(size: int, root, paths: list, labels: np.ndarray, names: list[str]) -> dict[str, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from core.training.progress import NullReporter
    from core.run_config import RunConfig
    from core.models.text_inputs import Split
    from core.training.device import choose_device
    from core.training.features import extract
    from core.models.image_inputs import ImageBatches
    from core.training.run import prepare_model

    split = Split(list(range(len(paths))), [str(p.relative_to(root)) for p in paths], labels)
    built = prepare_model("image", RunConfig(model="efficientnet-lite0", method="head", image_size=size), names)
    start = time.perf_counter()
    batches = {"train": ImageBatches(split, root, built.image)}
    features = extract(built, batches, choose_device("cpu"), 32, NullReporter())["train"].reshape(len(paths), -1)
    seconds = time.perf_counter() - start
    scores = [cross_val_score(make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000)),
                              features.numpy(), labels, cv=StratifiedKFold(5, shuffle=True, random_state=seed)).mean()
              for seed in range(5)]
    return {"size": size, "cv_accuracy": round(float(np.mean(scores)), 4),
            "sd_over_seeds": round(float(np.std(scores)), 4), "feature_seconds": round(seconds, 1)}


def main(argv: list[str]) -> None:
    if argv[:1] == ["digits"]:
        import tempfile
        from pathlib import Path

        from bench.digits import make_digits

        name, root = "digits", make_digits(Path(tempfile.mkdtemp(prefix="tuneboard-digits-")))
    else:
        name, root = "ants/bees", require(ANTS_BEES)
    train = root / "train"
    paths = sorted(p for p in train.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    names = sorted({p.parent.name for p in paths})
    labels = np.array([names.index(p.parent.name) for p in paths])
    for size in SIZES[name]:
        print(json.dumps({"data": name, **probe(size, root, paths, labels, names)}), flush=True)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
