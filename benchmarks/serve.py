"""Throughput of an InstructMol model served by vLLM (`instructmol serve` + `InstructMolClient`) against transformers'
`generate` in this process, batched and one prompt at a time, on the same prompts in one run.

    python benchmarks/serve.py --vllm-python .venv-vllm/bin/python [--model DIR] [--prompts gap|description]
                               [--num-prompts 64] [--batch-size 16] [--concurrency 16] [--max-new-tokens N]

`--model` takes a saved InstructMol folder (e.g. `instructmol-quickstart/merged`); by default one is built from
SmolLM2-135M-Instruct and a random GIN, as `instructmol init` builds it, into a temporary folder. The prompts are
`benchmarks/generate.py`'s (real QM9 or NCI molecules). The server runs in float32 (as transformers does here), so
greedy answers can be compared: the script prints how many are identical, prompts per second each way, and the ratios
against one at a time. vLLM's startup (export, engine, warm-up) is reported apart and not counted.
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from generate import PROMPTS

from instructmol.build import save_instructmol
from instructmol.engines import Decoding, TransformersEngine
from instructmol.evaluation.generation import batches, row_conversation
from instructmol.loading import load_model_and_processor
from instructmol.quickstart import build_small_instructmol
from instructmol.serving import VLLM_PYTHON_VARIABLE, InstructMolClient
from instructmol.tasks import TASKS


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed(answer, conversations: list[list[dict]], batch_size: int) -> tuple[list[str], float]:
    start = time.perf_counter()
    answers = [text for batch in batches(conversations, batch_size) for text in answer(batch)]
    return answers, time.perf_counter() - start


def start_server(model_dir: str, vllm_python: str, max_model_len: int) -> tuple[subprocess.Popen, str, float]:
    """`instructmol serve` on a free port; returns it, its URL and the seconds until it answered."""
    port, start = free_port(), time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "instructmol.cli", "serve", "--model", model_dir, "--port", str(port),
         "--vllm-python", vllm_python, "--max-model-len", str(max_model_len), "--", "--dtype", "float32"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
        env={"VLLM_CPU_KVCACHE_SPACE": "2", **os.environ})
    if not any(line.startswith("Serving ") for line in server.stdout):  # the end of its output: it stopped
        server.wait()
        raise SystemExit(f"instructmol serve ended with code {server.returncode} before serving (run it alone to "
                         "see vLLM's log)")
    return server, f"http://127.0.0.1:{port}", time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a saved InstructMol folder (default: build one from SmolLM2-135M-Instruct)")
    parser.add_argument("--vllm-python", default=os.environ.get(VLLM_PYTHON_VARIABLE),
                        help=f"python of the vLLM environment (default: ${VLLM_PYTHON_VARIABLE})")
    parser.add_argument("--prompts", choices=list(PROMPTS), default="gap")
    parser.add_argument("--num-prompts", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16, help="transformers' batch")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight to vLLM")
    parser.add_argument("--max-new-tokens", type=int, help="answer budget (default: the task's)")
    args = parser.parse_args()
    if not args.vllm_python:
        raise SystemExit(f"give --vllm-python or set ${VLLM_PYTHON_VARIABLE} (README, Serve with vLLM)")

    with tempfile.TemporaryDirectory() as scratch:
        model_dir = args.model or str(save_instructmol(*build_small_instructmol(), Path(scratch) / "model"))
        model, processor = load_model_and_processor(model_dir, dtype="float32", device="cpu")
        local = TransformersEngine(model, processor)
        conversations = [row_conversation(row) for row in PROMPTS[args.prompts](args.num_prompts)]
        decoding = Decoding(args.max_new_tokens or TASKS[args.prompts].max_new_tokens)
        local.generate(conversations[:2], Decoding(2))  # warm-up: allocator, kernels, featurizer
        batched, batched_seconds = timed(lambda batch: local.generate(batch, decoding), conversations, args.batch_size)
        one_by_one, single_seconds = timed(lambda batch: local.generate(batch, decoding), conversations, 1)
        del model, local

        server, url, startup_seconds = start_server(model_dir, args.vllm_python, max_model_len=1024)
        try:
            client = InstructMolClient(url, model_dir, max_concurrency=args.concurrency)
            client.generate(conversations[:2], Decoding(2))  # warm-up
            served, served_seconds = timed(lambda batch: client.generate(batch, decoding), conversations,
                                           len(conversations))
        finally:
            server.terminate()
            server.wait()

    identical = sum(a == b for a, b in zip(served, one_by_one))
    print(f"{args.num_prompts} {args.prompts} prompts, greedy, at most {decoding.max_new_tokens} new tokens, float32, "
          f"{torch.get_num_threads()} CPU threads, model {args.model or 'SmolLM2-135M-Instruct + random GIN'}")
    rates = [("transformers, one at a time", single_seconds), (f"transformers, batches of {args.batch_size}",
                                                               batched_seconds),
             (f"vLLM, {args.concurrency} in flight", served_seconds)]
    for name, seconds in rates:
        print(f"  {name:<32s} {seconds:7.2f} s  {args.num_prompts / seconds:7.2f} prompts/s  "
              f"{single_seconds / seconds:5.1f}x one at a time")
    print(f"vLLM / transformers batched: {batched_seconds / served_seconds:.1f}x throughput "
          f"(server startup {startup_seconds:.0f} s, not counted)")
    print(f"identical answers, vLLM and transformers one at a time: {identical} of {args.num_prompts}; "
          f"batched and one at a time: {sum(a == b for a, b in zip(batched, one_by_one))} of {args.num_prompts}")
    print(f"example answer: {served[0]!r}")


if __name__ == "__main__":
    main()
