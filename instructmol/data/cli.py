"""The command line every builder script shares, and the steps that open and close a build."""

import argparse
import os
import shlex
import sys
from pathlib import Path

from .build import TaskBuild, counts_table, prepare_output_dir, push_to_hub, write_parquet
from .card import CardSpec, write_card
from .molecules import DEFAULT_MAX_ATOMS


def builder_argument_parser(description: str, source_help: str, default_source: str | None = None,
                            with_gs: bool = True) -> argparse.ArgumentParser:
    """`--output DIR [--source PATH_OR_URL] [--push-to-hub REPO_ID] [--seed N] [--max-atoms N] [--num-proc N]`."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--output", type=Path, required=True, help="folder to write the Hub-native dataset into")
    parser.add_argument("--source", default=default_source, help=source_help)
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="also upload the dataset to this Hub repository")
    parser.add_argument("--private", action="store_true", help="create the Hub repository as private")
    parser.add_argument("--seed", type=int, default=42, help="seed of instruction choice and random splits")
    parser.add_argument("--max-atoms", type=int, default=DEFAULT_MAX_ATOMS,
                        help="drop rows with a molecule of more heavy atoms (each atom is one prompt token)")
    parser.add_argument("--num-proc", type=int, default=min(4, os.cpu_count() or 1),
                        help="processes for the heavy steps (molecule checks, SELFIES decoding)")
    parser.add_argument("--overwrite", action="store_true", help="replace the dataset in a non-empty --output")
    if with_gs:
        parser.add_argument("--gs-notation", choices=["selfies", "smiles"], default="selfies",
                            help="molecule string the GS configs add to the instruction (the paper used SELFIES)")
    return parser


def start_build(args: argparse.Namespace) -> Path:
    """Checks the output folder before any long work starts."""
    if args.max_atoms < 1:
        raise SystemExit(f"--max-atoms must be positive, got {args.max_atoms}")
    prepare_output_dir(args.output, args.overwrite)
    return args.output


def finish_build(args: argparse.Namespace, spec: CardSpec, builds: list[TaskBuild]) -> None:
    """Writes Parquet files and the card, prints the counts, and pushes when asked."""
    write_parquet(args.output, builds)
    command = shlex.join(["python", f"datasets/{Path(sys.argv[0]).name}", *sys.argv[1:]])
    card_path = write_card(args.output, spec, builds, command, repo_id=args.push_to_hub)
    print(f"\nWrote {args.output} ({card_path.name} + {sum(len(b.configs) for b in builds)} configs)\n")
    print(counts_table(builds))
    if args.push_to_hub:
        push_to_hub(args.push_to_hub, args.output, builds, private=args.private or None)
        print(f"\nPushed to https://huggingface.co/datasets/{args.push_to_hub}")
