"""`python -m core report RUN [--compare RUN ...] [--out report.html]`

Writes the run's report (core.report.build): one HTML file, charts inside, that opens offline in any browser and
prints to PDF from it. With --compare, the runs of the same dataset are compared first (the best chosen on
validation). Errors are one plain sentence on stderr and exit code 2, as `predict`'s.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    # dest run_id: `args.run` is the dispatcher's callback (core/__main__.py)
    parser.add_argument("run_id", type=int, metavar="RUN", help="A finished run's id (`python -m core runs`).")
    parser.add_argument("--compare", type=int, nargs="+", default=[], metavar="RUN",
                        help="Other finished runs of the same dataset to compare it with.")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE",
                        help="Where to write the HTML file (default: tuneboard-report-run-RUN.html here).")


def main(args: argparse.Namespace) -> int:
    from core.report.build import ReportError, build_report, report_file_name

    out = args.out or Path(report_file_name(args.run_id, args.compare))
    try:
        if out.is_dir():
            raise ReportError(f"{out} is a folder; give --out a file name such as {out / 'report.html'}.")
        if not out.parent.is_dir():
            raise ReportError(f"There is no folder {out.parent}; create it or give --out another path.")
        html = build_report(args.run_id, args.compare)
        out.write_text(html, encoding="utf-8")
    except ReportError as error:
        print(str(error), file=sys.stderr)
        return 2
    except OSError as error:  # a full disk, no permission: said plainly
        print(f"Could not write {out}: {error.strerror or error}.", file=sys.stderr)
        return 2
    print(f"Wrote {out} ({len(html.encode('utf-8')) / 1e6:.1f} MB): open it in a browser; print it to PDF from there.")
    return 0
