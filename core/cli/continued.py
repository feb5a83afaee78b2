"""`python -m core train --from-run RUN_ID (--data PATH | --dataset ID) [--replay SHARE]`: continue a finished run on
a newer version of its dataset (core/training/continual.py). --data stores the file's new rows as a new version of
the run's dataset (core/datasets/versions.py); --dataset names a version already stored."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli.train import SettingsError, _flag
from core.methods import get_method, settings_for
from core.run_config import RunConfig, setting_fields
from core.training.continual import ContinueError, continue_config, parent_run


def continued_dataset(args: argparse.Namespace) -> int:
    """The version to continue on: --dataset as given, or --data stored as a new version of the run's dataset."""
    from core.datasets.versions import ADDED_ROWS_LIMITS, new_version
    from core.ingest import ingest_path

    try:
        parent = parent_run(args.from_run)
    except ContinueError as error:
        raise SettingsError(str(error), "cannot_continue") from None
    if args.dataset is not None:
        return args.dataset
    if args.test_data:
        raise SettingsError("--test-data does not apply when continuing: the new rows are split as they are added, "
                            "and earlier rows keep their split; leave it out.", "setting_method")
    ingested = ingest_path(Path(args.data).expanduser(), text_column=args.text_column, label_column=args.label_column,
                           limits=ADDED_ROWS_LIMITS)
    try:
        return new_version(parent.dataset_id, added=ingested, note=args.note or f"rows from {Path(args.data).name}")
    finally:
        ingested.cleanup()


def continued_run_config(args: argparse.Namespace, dataset) -> RunConfig:
    """The parent run's settings, with the flags given on top, from_run and replay set. Raises SettingsError."""
    from storage.runs import get_run

    try:
        parent_run(args.from_run, dataset)
    except ContinueError as error:
        raise SettingsError(str(error), "cannot_continue") from None
    if args.model:
        raise SettingsError("--model does not apply when continuing: the run's model is where training starts; "
                            "leave it out.", "setting_method")
    chosen = RunConfig.from_dict(get_run(args.from_run).config).to_dict()
    method = get_method(args.method or chosen["method"])
    if not method.applies_to(dataset.task):
        raise SettingsError(f"{method.name} works on {' and '.join(method.tasks)} data only; pick another --method.",
                            "method_task")
    given = {f.name: getattr(args, f.name) for f in setting_fields() if getattr(args, f.name) is not None}
    applying = {f.name for f in settings_for(dataset.task, method)}
    ignored = [_flag(name) for name in given if name not in applying]
    if ignored:
        raise SettingsError(f"{', '.join(ignored)} do{'es' if len(ignored) == 1 else ''} not apply to {method.name}; "
                            f"leave {'it' if len(ignored) == 1 else 'them'} out.", "setting_method")
    return continue_config(chosen, args.from_run, args.replay if args.replay is not None else 0.0, **given,
                           method=method.key, preset=args.preset or chosen["preset"])


def describe(continual: dict) -> str:
    """The before/after lines the CLI prints under a continued run's result."""
    names = {"all": "new version's test set", "old": "earlier version's test rows (forgetting)",
             "added": "test rows added since"}
    trained = continual.get("trained_on") or {}
    lines = [f"Continued from run {continual['from_run']} (v{continual['from_version']}): trained on "
             f"{trained.get('changed', 0)} new or relabeled rows + {trained.get('replayed', 0)} replayed."]
    for key, name in names.items():
        figures = continual["sets"].get(key)
        if figures:
            b, a = figures["before"], figures["after"]
            lines.append(f"  {name}, {figures['examples']} rows: {b['accuracy']:.1%} [{b['low']:.1%}, {b['high']:.1%}] "
                         f"-> {a['accuracy']:.1%} [{a['low']:.1%}, {a['high']:.1%}] ({figures['fixed']} fixed, "
                         f"{figures['broken']} broken)")
    return "\n".join(lines)
