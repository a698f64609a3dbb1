"""Run the whole method at small scale on a laptop CPU, offline, and print where each artefact is."""

import argparse
from pathlib import Path

from ..quickstart import run_quickstart

HELP = "the README's main command: build, train and ask a small InstructMol on CPU"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", type=Path, default=Path("instructmol-quickstart"), help="folder for all artefacts")


def run(args: argparse.Namespace) -> None:
    run_quickstart(args.output)
