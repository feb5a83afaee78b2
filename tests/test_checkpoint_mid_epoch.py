"""A run killed with SIGKILL in the middle of an epoch resumes from its last checkpoint inside that epoch and ends
with the same model as a run never interrupted (same seed): same batches, dropout and augmentation draws, optimizer
and schedule.

The killed run trains in a child process that checkpoints after every step (TUNEBOARD_CHECKPOINT_SECONDS=0) and
kills itself with SIGKILL, no clean-up, once the checkpoint says it is three batches into the second epoch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.run_config import RunConfig
from core.training import train_run
from tests.test_methods_train import IMAGE_LABELS, TEXT_LABELS, Recorder, write_image_dataset, write_text_dataset

ROOT = Path(__file__).resolve().parents[1]
KILL_AT = {"epochs_done": 1, "batches_into_epoch": 3}

CHILD = textwrap.dedent("""
    import json, os, signal, sys
    from pathlib import Path
    from core.run_config import RunConfig
    from core.training import train_run
    from core.training.progress import NullReporter

    dataset, labels, task, config, out, kill_at = json.loads(sys.argv[1])
    state_file = Path(out) / "checkpoint" / "state.json"

    class KillMidEpoch(NullReporter):
        def should_stop(self):  # asked before every batch: die hard once the wanted checkpoint is on disk
            if state_file.exists():
                loop = json.loads(state_file.read_text())["loop"]
                if all(loop[k] == v for k, v in kill_at.items()):
                    os.kill(os.getpid(), signal.SIGKILL)
            return False

    train_run(Path(dataset), labels, task, RunConfig.from_dict(config), Path(out), KillMidEpoch())
""")


@pytest.mark.slow  # trains tiny models twice, once in a child process
@pytest.mark.parametrize("task,model", [("text", "tiny-bert"), ("image", "tiny-image")])
def test_kill_mid_epoch_then_resume_matches_an_uninterrupted_run(task, model, tmp_path):
    dataset = write_text_dataset(tmp_path / "data") if task == "text" else write_image_dataset(tmp_path / "data")
    labels = TEXT_LABELS if task == "text" else IMAGE_LABELS
    # 24 (text) or 14 (image) training examples in batches of 4: 6 or 4 batches per epoch, so batch 3 is mid-epoch.
    config = RunConfig(model=model, method="full", epochs=3, batch_size=4, early_stopping_patience=0, seed=7)
    whole = train_run(dataset, labels, task, config, tmp_path / "whole", Recorder())

    cut = tmp_path / "cut"
    child = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps([str(dataset), labels, task, config.to_dict(), str(cut), KILL_AT])],
        cwd=ROOT, env={**os.environ, "TUNEBOARD_CHECKPOINT_SECONDS": "0", "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, f"the child was not killed mid-epoch:\n{child.stderr[-3000:]}"
    loop = json.loads((cut / "checkpoint" / "state.json").read_text())["loop"]
    assert {k: loop[k] for k in KILL_AT} == KILL_AT
    assert not (cut / "model").exists()

    reporter = Recorder()
    resumed = train_run(dataset, labels, task, config, cut, reporter, resume=True)
    assert any("inside epoch 2, after batch 3" in line for line in reporter.lines), reporter.lines
    assert resumed.hyperparameters["steps"] == whole.hyperparameters["steps"]
    assert resumed.metrics["accuracy"] == whole.metrics["accuracy"]
    assert resumed.metrics["macro_f1"] == whole.metrics["macro_f1"]
    np.testing.assert_allclose([p["probabilities"] for p in resumed.predictions],
                               [p["probabilities"] for p in whole.predictions], atol=1e-5)
