"""`python -m core COMMAND ...` — the command line over the same code the dashboard uses."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

# command -> module under core.cli. Each module has `add_arguments(parser)` and `main(args) -> int`.
COMMANDS = {
    "train": ("train", "Register a dataset and train a model on it (or queue it with --background)."),
    "search": ("search", "Search for good settings of a tuning method within a time budget (trials run on the workers)."),
    "predict": ("predict", "Predict with a finished run."),
    "export": ("export", "Export a finished run (hf, adapter, onnx, onnx-int8), checked on its test set first."),
    "serve": ("serve", "Serve finished runs over HTTP (the prediction API; docs at /docs)."),
    "report": ("report", "Write a finished run's report (or a comparison of runs) as one HTML file to hand over."),
    "label-issues": ("label_issues", "Rank the rows whose label the model most doubts (likely label errors)."),
    "worker": ("jobs", "Run a background worker that trains queued runs."),
    "runs": ("jobs", "List runs with their status and progress."),
    "cancel": ("jobs", "Ask the worker to cancel a run."),
    "resume": ("jobs", "Resume an interrupted run from its last checkpoint."),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core", description="Tuneboard command line.")
    sub = parser.add_subparsers(dest="command", required=True)
    argv = sys.argv[1:] if argv is None else argv
    # Import only the module of the command asked for: `runs` must not pay for importing torch.
    wanted = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (module_name, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == wanted:
            module = importlib.import_module(f"core.cli.{module_name}")
            module.add_arguments(command_parser, name)
            command_parser.set_defaults(run=lambda args, m=module: m.main(args))
    args = parser.parse_args(argv)
    return args.run(args)


def quiet_on_closed_pipe(run) -> int:
    """`python -m core runs | head`: once the reader has gone, stop without a BrokenPipeError traceback.

    The output is flushed here, inside the guard, rather than at interpreter exit (where the error would be
    printed as 'Exception ignored'); stdout then points at /dev/null so the final flush has nowhere to fail.
    """
    try:
        code = run()
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for a command ended by SIGPIPE (128 + 13)


if __name__ == "__main__":
    sys.exit(quiet_on_closed_pipe(main))
