"""Startup time and first-answer latency of the web demo, each against its bare baseline in the same process.

    python benchmarks/demo_latency.py --model instructmol-quickstart/merged [--repeats 3] [--max-new-tokens 32]

- startup: `build_app(model)` (model load + page) then `launch` until the server answers, against loading the same
  model and processor alone (`load_model_and_processor`);
- first answer: a "describe caffeine" preset through the running app with `gradio_client` (HTTP, queue,
  streaming), timed to the first streamed token and to the whole answer, against `model.generate` on the same
  prompt in-process (greedy, the same token budget).

Prints seconds (median of --repeats) and the ratios; the model is the quickstart's by default (run
`instructmol quickstart` first).
"""

import argparse
import socket
import statistics
import time

import torch

from instructmol.defaults import DEMO_MODEL
from instructmol.demo import EXAMPLE_MOLECULES, PRESETS, build_app, preset_row
from instructmol.evaluation.generation import prompt_inputs, row_conversation
from instructmol.loading import load_model_and_processor
from instructmol.tasks import GRAPH_ONLY, TASKS

PRESET = TASKS["description"].title


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def bare_answer_seconds(model, processor, max_new_tokens: int) -> float:
    """`model.generate` on the preset's prompt, in-process."""
    row = preset_row(PRESETS[PRESET], GRAPH_ONLY, EXAMPLE_MOLECULES["caffeine"])
    inputs = prompt_inputs(processor, [row_conversation(row)], model.device)
    with torch.no_grad():
        seconds, _ = timed(lambda: model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False))
    return seconds


def demo_answer_seconds(url: str, max_new_tokens: int) -> tuple[float, float]:
    """(seconds to the first streamed token, seconds to the whole answer) of the preset through the app."""
    from gradio_client import Client

    client = Client(url, verbose=False)
    started = time.perf_counter()
    job = client.submit(PRESET, "InstructMol-G", EXAMPLE_MOLECULES["caffeine"], "", "greedy", 0.2, max_new_tokens, 0,
                        api_name="/preset")
    first = None
    for history, *_ in job:
        if first is None and history[-1]["role"] == "assistant" and history[-1]["content"]:
            first = time.perf_counter() - started
    return first, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=DEMO_MODEL)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    args = parser.parse_args()

    bare_loads, startups, bare_answers, firsts, wholes = [], [], [], [], []
    for _ in range(args.repeats):
        seconds, (model, processor) = timed(lambda: load_model_and_processor(args.model))
        bare_loads.append(seconds)
        bare_answers.append(bare_answer_seconds(model, processor, args.max_new_tokens))
        del model, processor
        port = free_port()

        def start():
            app = build_app(args.model)
            app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
            return app

        seconds, app = timed(start)
        startups.append(seconds)
        first, whole = demo_answer_seconds(f"http://127.0.0.1:{port}/", args.max_new_tokens)
        firsts.append(first)
        wholes.append(whole)
        app.close()

    median = statistics.median
    print(f"model: {args.model}; {args.repeats} repeats (medians); answers of at most {args.max_new_tokens} tokens")
    print(f"startup:      demo {median(startups):.2f} s, bare model load {median(bare_loads):.2f} s, "
          f"ratio {median(startups) / median(bare_loads):.2f}x")
    print(f"first answer: first streamed token {median(firsts):.2f} s, whole answer {median(wholes):.2f} s; "
          f"bare generate {median(bare_answers):.2f} s, ratio (whole answer) {median(wholes) / median(bare_answers):.2f}x")


if __name__ == "__main__":
    main()
