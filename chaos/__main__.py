"""``python -m chaos [--results DIR]`` (``make chaos``): run, print the table, exit 1 on any loss."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from chaos.report import table, write
from chaos.runner import Config, run


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--results", type=Path, help="write latest.md and latest.json here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s chaos %(message)s", datefmt="%H:%M:%S")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # a broker away is the point here
    cfg = Config.from_env()
    report = run(cfg)
    print(table(report), flush=True)
    if args.results:
        write(report, args.results)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
