"""Build a ready-to-train InstructMol folder from an LLM and a graph encoder (the start of stage 1)."""

import argparse
import logging
from pathlib import Path

from ..defaults import MOLECULESTM_REPO_ID
from ..outputs import check_output_apart

HELP = "build a ready-to-train model folder from an LLM and a MoleculeSTM graph encoder"
logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--llm", required=True, help="Hub id or folder of a causal LLM (e.g. lmsys/vicuna-7b-v1.3)")
    parser.add_argument("--gguf-file", help="load the LLM from this GGUF file inside --llm")
    parser.add_argument(
        "--graph-encoder",
        default="none",
        help=f"MoleculeSTM `molecule_model.pth` (a path, or 'moleculestm' for {MOLECULESTM_REPO_ID} on the Hub), "
        "or 'none' for a randomly initialised GIN",
    )
    parser.add_argument("--projector", choices=["linear", "mlp2x_gelu"], default="linear")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--output", required=True, help="folder to write")


def run(args: argparse.Namespace) -> None:
    if Path(args.output).exists() and not Path(args.output).is_dir():
        raise FileExistsError(f"--output {args.output} is a file; give a folder to write the model into")
    from ..build import build_instructmol, load_language_model, save_instructmol
    from ..conversion import resolve_graph_encoder

    graph_encoder = resolve_graph_encoder(args.graph_encoder)
    check_output_apart(args.output, llm=args.llm, graph_encoder=args.graph_encoder)
    language_model, tokenizer = load_language_model(args.llm, gguf_file=args.gguf_file, dtype=args.dtype)
    model, processor = build_instructmol(language_model, tokenizer, graph_encoder, projector_type=args.projector)
    save_instructmol(
        model,
        processor,
        args.output,
        base_model=args.llm,
        graph_encoder="MoleculeSTM" if graph_encoder is not None else None,
    )
    logger.info("Wrote %s", args.output)
