"""Start the web demo (Gradio) around an InstructMol model: draw molecules and reactions, run the task presets,
chat with streamed answers, answer a batch of molecules. `app.py` at the repository root is the same app for a
Hugging Face Space."""

import argparse
import os

from ..arguments import positive_int
from ..defaults import DEFAULT_MAX_ATOMS, DEMO_MODEL, MODEL_ENVIRONMENT_VARIABLE

HELP = "the web demo (Gradio): presets, chat, batch answers, molecule drawings"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default=os.environ.get(MODEL_ENVIRONMENT_VARIABLE, DEMO_MODEL),
                        help=f"InstructMol folder, Hub repo or adapter folder (default: ${MODEL_ENVIRONMENT_VARIABLE}, "
                        f"else {DEMO_MODEL}, what `instructmol quickstart` writes)")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=positive_int, default=7860)
    parser.add_argument("--max-atoms", type=positive_int, default=DEFAULT_MAX_ATOMS,
                        help="the most heavy atoms a molecule may have")
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--server", metavar="URL", help="answer through the vLLM server of `instructmol serve --model` "
                        "on this model instead of loading its language model here")


def run(args: argparse.Namespace) -> None:
    try:
        import gradio  # noqa: F401 (the optional extra, checked before the model loads)
    except ImportError:
        raise OSError("the demo needs Gradio: pip install -e \".[demo]\" (from a clone) or pip install "
                      "\"instructmol-hf[demo]\"") from None
    from ..demo import build_app

    app = build_app(args.model, max_atoms=args.max_atoms, dtype=args.dtype, server=args.server)
    app.launch(server_name=args.host, server_port=args.port)
