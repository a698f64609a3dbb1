"""Merge a stage-2 LoRA adapter into its base model and write a complete Hub-ready folder."""

import argparse

HELP = "merge a stage-2 LoRA adapter into its base model (weights, processor, code, card)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", required=True, help="stage-2 output folder (adapter_config.json, adapter weights)")
    parser.add_argument("--base", help="base model folder or Hub id (default: the adapter's base_model_name_or_path)")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--output", required=True, help="folder to write")


def run(args: argparse.Namespace) -> None:
    from ..merge import merge_adapter

    merge_adapter(args.adapter, args.output, base=args.base, dtype=args.dtype)
