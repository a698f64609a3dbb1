"""The command line every builder script shares, and the steps that open and close a build."""

import argparse
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..arguments import positive_int, random_seed
from ..tasks import WHOLE_INPUT, Task
from .assembly import (
    TaskBuild,
    check_every_task_kept_rows,
    check_output_dir,
    counts_table,
    push_to_hub,
    staged_output,
    write_parquet,
)
from .card import CardSpec, write_card
from ..defaults import DEFAULT_MAX_ATOMS
from ..errors import EXPECTED_ERRORS, one_line
from ..outputs import check_output_apart
from .prompts import (
    ALIGNMENT_PROMPTS,
    GRAPH_PLACEMENTS,
    REACTION_GRAPHS,
    TEXT_NOTATIONS,
    BuildOptions,
)


class BuilderArgumentParser(argparse.ArgumentParser):
    """A builder's parser: its parsed arguments carry `command_line`, the command the dataset card quotes (the
    arguments given to `parse_args`, or the process's own when none are given)."""

    def __init__(self, script: str, **kwargs) -> None:
        super().__init__(prog=f"python datasets/{script}", **kwargs)

    def parse_args(self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
                   ) -> argparse.Namespace:
        parsed = super().parse_args(args, namespace)
        given = sys.argv[1:] if args is None else [str(argument) for argument in args]
        parsed.command_line = shlex.join([*self.prog.split(), *given])
        return parsed


def builder_argument_parser(script: str, description: str, tasks: list[Task], source_help: str,
                            default_source: str | None = None, choose_tasks: bool = True,
                            default_tasks: list[str] | None = None) -> BuilderArgumentParser:
    """The shared options of the builder `datasets/{script}` of `tasks`: output, source, Hub, seed, limits, and the
    construction options (`BuildOptions`) that matter for these tasks; `--tasks` (default: `default_tasks`, else
    all) when there are several to choose from."""
    parser = BuilderArgumentParser(script, description=description,
                                   formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--output", type=Path, required=True, help="folder to write the Hub-native dataset into")
    parser.add_argument("--source", default=default_source, help=source_help)
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="also upload the dataset to this Hub repository")
    parser.add_argument("--private", action="store_true", help="create the Hub repository as private")
    parser.add_argument("--seed", type=random_seed, default=42,
                        help="seed of the per-row draws (instruction, graph placement) and of random splits")
    parser.add_argument("--max-atoms", type=positive_int, default=DEFAULT_MAX_ATOMS,
                        help="drop rows with a molecule of more heavy atoms (each atom is one prompt token)")
    parser.add_argument("--num-proc", type=positive_int, default=min(4, os.cpu_count() or 1),
                        help="processes for the heavy steps (molecule checks, SELFIES decoding)")
    parser.add_argument("--overwrite", action="store_true", help="replace the dataset in a non-empty --output")
    names = [task.name for task in tasks]
    if choose_tasks and len(tasks) > 1:
        parser.add_argument("--tasks", nargs="+", choices=names, default=default_tasks or names, help="the tasks to build")
    parser.add_argument("--graph-placement", choices=GRAPH_PLACEMENTS, default=GRAPH_PLACEMENTS[0],
                        help="released: train rows put the graph before or after the instruction, 50/50 (the "
                        "released code); first: always before")
    if any(prompt.suffix for task in tasks for prompt in task.prompts.values()):
        parser.add_argument("--text-notation", choices=TEXT_NOTATIONS, default=TEXT_NOTATIONS[0],
                            help="notation of molecules written as text in prompts (the released code: SELFIES)")
    if any(task.graphs != WHOLE_INPUT for task in tasks):
        parser.add_argument("--reaction-graphs", choices=REACTION_GRAPHS, default=REACTION_GRAPHS[0],
                            help="released: forward prediction's graph is the first reactant, reagent prediction's "
                            "the reactant side as one graph; every-molecule: each reactant is a graph")
    if "alignment" in names:
        parser.add_argument("--alignment-prompt", choices=ALIGNMENT_PROMPTS, default=ALIGNMENT_PROMPTS[0],
                            help="plain: the graph alone (the released stage 1); question: a description question "
                            "after the graph")
    return parser


def build_options(args: argparse.Namespace) -> BuildOptions:
    """The construction options a builder's command line chose (defaults for options it does not offer)."""
    defaults = BuildOptions()
    return BuildOptions(
        seed=args.seed,
        text_notation=getattr(args, "text_notation", defaults.text_notation),
        graph_placement=args.graph_placement,
        reaction_graphs=getattr(args, "reaction_graphs", defaults.reaction_graphs),
        alignment_prompt=getattr(args, "alignment_prompt", defaults.alignment_prompt),
    )


def start_build(args: argparse.Namespace) -> Path:
    """Checks the output folder before any long work starts."""
    check_output_apart(args.output, source=args.source)
    check_output_dir(args.output, args.overwrite)
    return args.output


def finish_build(args: argparse.Namespace, spec: CardSpec, builds: list[TaskBuild]) -> None:
    """Writes Parquet files and the card into a staging folder that then replaces the dataset in --output, prints
    the counts, and pushes when asked. A build in which a task kept no row is refused (with its counts)."""
    print(counts_table(builds))
    check_every_task_kept_rows(builds)
    with staged_output(args.output) as staging:
        write_parquet(staging, builds)
        write_card(staging, spec, builds, args.command_line, build_options(args), repo_id=args.push_to_hub)
    print(f"\nWrote {args.output} (README.md + {sum(len(b.configs) for b in builds)} configs)")
    if args.push_to_hub:
        push_to_hub(args.push_to_hub, args.output, builds, private=args.private or None)
        print(f"\nPushed to https://huggingface.co/datasets/{args.push_to_hub}")


def run_builder(main: Callable[[], None], script: str) -> None:
    """Runs a builder script's `main`: an expected failure (a source that is missing, empty, unreadable or a folder,
    no row surviving, a refused --output) ends with one line naming it and exit code 2, as `instructmol` commands
    end, instead of a traceback."""
    try:
        main()
    except EXPECTED_ERRORS as error:
        print(f"{script}: error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
