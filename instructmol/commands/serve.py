"""Serve an InstructMol model with vLLM: its language model in vLLM's OpenAI-compatible server, molecules as prompt
embeddings (see `instructmol.serving.complete` for the client side)."""

import argparse

from ..arguments import positive_int

HELP = "serve an InstructMol model with vLLM (OpenAI API, molecules as prompt embeddings; after --: vLLM's options)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="InstructMol folder or Hub repo (merged; not an adapter folder)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=positive_int, default=8000)
    parser.add_argument("--vllm-python", help="python of the vLLM environment (default: $INSTRUCTMOL_VLLM_PYTHON)")
    parser.add_argument("--tensor-parallel-size", type=positive_int, default=1, help="GPUs to shard the LLM over")
    parser.add_argument("--max-model-len", type=positive_int, help="longest prompt + answer, in tokens")
    parser.add_argument("vllm_args", nargs=argparse.REMAINDER, help="-- then arguments for vLLM's server")


def run(args: argparse.Namespace) -> None:
    from ..serving import serve

    extra = args.vllm_args[1:] if args.vllm_args[:1] == ["--"] else args.vllm_args
    serve(args.model, host=args.host, port=args.port, python=args.vllm_python, max_model_len=args.max_model_len,
          tensor_parallel_size=args.tensor_parallel_size, extra_args=tuple(extra))
