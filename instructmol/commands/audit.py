"""Measure train/test leakage across built datasets: for every (test split, train split) pair, how many test
molecules the train split already holds, by full InChIKey and by connectivity (stereochemistry ignored). Prints
both tables and writes leakage.json and leakage.png into --output."""

import argparse
from pathlib import Path

HELP = "train/test molecule overlap across built datasets: tables, leakage.json, a heatmap"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("datasets", nargs="+", help="built dataset folders (data/<config>/<split>-*.parquet)")
    parser.add_argument("--output", type=Path, default=Path("audit"), help="folder for leakage.json and leakage.png")


def run(args: argparse.Namespace) -> None:
    from ..data.leakage import HEATMAP_FILE, KEY_TITLES, LEAKAGE_FILE, markdown_table, run_audit

    report = run_audit(args.datasets, args.output)
    for kind, title in KEY_TITLES.items():
        print(f"Test molecules found in train splits, by {title}:\n\n{markdown_table(report, kind)}\n")
    print(f"Wrote {args.output / LEAKAGE_FILE} and {args.output / HEATMAP_FILE}")
