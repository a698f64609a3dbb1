"""Run the whole method at small scale on a laptop CPU, offline, and print where each artefact is."""

import argparse
from pathlib import Path

from ..arguments import positive_int, random_seed
from ..defaults import QUICKSTART_TASK, QuickstartSettings

HELP = "the README's main command: build, train, evaluate and ask a small InstructMol on CPU"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = QuickstartSettings()
    parser.add_argument("--output", type=Path, default=Path("instructmol-quickstart"), help="folder for all artefacts")
    parser.add_argument("--num-molecules", type=positive_int, default=defaults.num_molecules, help="NCI molecules for stage 1")
    parser.add_argument("--num-qm9", type=positive_int, default=defaults.num_qm9, help="QM9 molecules for stage 2 (80/10/10)")
    parser.add_argument("--llm-layers", type=int, default=defaults.llm_layers,
                        help="keep SmolLM2's first N of its 30 layers (0: all of them)")
    parser.add_argument("--max-steps", type=positive_int, default=defaults.max_steps, help="cap each stage's steps (short runs)")
    parser.add_argument("--eval-limit", type=positive_int, default=defaults.eval_limit, help="evaluate this many test rows")
    parser.add_argument("--seed", type=random_seed, default=defaults.seed,
                        help="seed of every draw (data sample and splits, GIN, projector and LoRA init, data order): "
                        "the same command gives the same numbers on the same machine")
    parser.add_argument("--variant", choices=list(QUICKSTART_TASK.variants), default=defaults.variant,
                        help="g: the graph (InstructMol-G); gs: the graph and the SELFIES string (InstructMol-GS); "
                        "s: the LLM alone, with LoRA, on the SELFIES string (the text-only baseline)")


def run(args: argparse.Namespace) -> None:
    settings = QuickstartSettings(
        num_molecules=args.num_molecules,
        num_qm9=args.num_qm9,
        llm_layers=args.llm_layers or None,
        max_steps=args.max_steps,
        eval_limit=args.eval_limit,
        seed=args.seed,
        variant=args.variant,
    )
    from ..quickstart import run_quickstart

    run_quickstart(args.output, settings)
