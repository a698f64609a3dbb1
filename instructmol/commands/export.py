"""Write the language model of an InstructMol model as a plain causal-LM folder (for vLLM and other engines)."""

import argparse

HELP = "write an InstructMol model's language model as a plain causal-LM folder (for vLLM's prompt embeddings)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="InstructMol folder or Hub repo (merged; not an adapter folder)")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--output", required=True, help="folder to write (new or empty)")


def run(args: argparse.Namespace) -> None:
    from ..export import export_language_model

    export_language_model(args.model, args.output, dtype=args.dtype)
