"""Training-step overhead of InstructMol over its bare LLM, on the same number of tokens.

    python benchmarks/overhead.py [--layers 4 --hidden 512 --batch 8 --seq 256 --rounds 10]

Both models share one Llama (a few layers of width 512); InstructMol reads 8 sequences of 256 tokens in
which each sequence holds one real molecule (one <mol> token per atom, graph through the frozen GIN and the
projector), the bare LLM reads the same sequences with those placeholders replaced by ordinary tokens.
Forward + backward of each, interleaved over rounds; prints the median time ratio (goal: <= 1.05).
"""

import argparse
import statistics
import time

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from configuration_instructmol import GRAPH_INPUT_NAMES, InstructMolConfig
from featurization_instructmol import ATOMS_PER_MOLECULE, MolecularGraphFeaturizer
from instructmol.build import reference_molecules
from modeling_instructmol import InstructMolForConditionalGeneration

VOCAB_SIZE = 32001  # Vicuna's 32,000 tokens plus <mol>
MOL_TOKEN_ID = 32000


def build_models(layers: int, hidden: int) -> tuple[InstructMolForConditionalGeneration, LlamaForCausalLM]:
    text_config = LlamaConfig(
        vocab_size=VOCAB_SIZE, hidden_size=hidden, intermediate_size=hidden * 11 // 4, num_hidden_layers=layers,
        num_attention_heads=hidden // 64, num_key_value_heads=hidden // 64, max_position_embeddings=1024,
    )
    torch.manual_seed(0)
    instructmol = InstructMolForConditionalGeneration(InstructMolConfig(text_config=text_config, mol_token_id=MOL_TOKEN_ID))
    bare = LlamaForCausalLM(text_config)
    bare.model, bare.lm_head = instructmol.model.language_model, instructmol.lm_head  # the very same weights
    return instructmol.train(), bare.train()


def build_batch(batch_size: int, seq_len: int) -> tuple[dict, dict]:
    """Token ids with one molecule per row (placeholders first), and the same rows with ordinary tokens."""
    molecules = reference_molecules(batch_size)
    graph = MolecularGraphFeaturizer()(molecules, return_tensors="pt")
    generator = torch.Generator().manual_seed(0)
    plain_ids = torch.randint(3, 32000, (batch_size, seq_len), generator=generator)
    molecule_ids = plain_ids.clone()
    for row, count in enumerate(graph[ATOMS_PER_MOLECULE].tolist()):
        molecule_ids[row, 1 : 1 + count] = MOL_TOKEN_ID
    graph_inputs = {name: graph[name] for name in GRAPH_INPUT_NAMES}
    instructmol_inputs = {"input_ids": molecule_ids, "labels": plain_ids, **graph_inputs}
    return instructmol_inputs, {"input_ids": plain_ids, "labels": plain_ids}


def step_seconds(model, inputs: dict) -> float:
    start = time.perf_counter()
    model(**inputs).loss.backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--seq", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()

    instructmol, bare = build_models(args.layers, args.hidden)
    instructmol_inputs, bare_inputs = build_batch(args.batch, args.seq)
    for _ in range(2):  # warm-up: allocator, kernels
        step_seconds(instructmol, instructmol_inputs), step_seconds(bare, bare_inputs)
    ratios, times = [], {"instructmol": [], "bare LLM": []}
    for _ in range(args.rounds):
        times["instructmol"].append(step_seconds(instructmol, instructmol_inputs))
        times["bare LLM"].append(step_seconds(bare, bare_inputs))
        ratios.append(times["instructmol"][-1] / times["bare LLM"][-1])
    atoms = int((instructmol_inputs["input_ids"] == MOL_TOKEN_ID).sum())
    print(f"{args.layers} layers x width {args.hidden}, batch {args.batch} x {args.seq} tokens ({atoms} of them atoms), "
          f"forward+backward, {args.rounds} interleaved rounds")
    for name, values in times.items():
        print(f"  {name:12s} median {statistics.median(values) * 1000:8.1f} ms")
    print(f"InstructMol / bare LLM: {statistics.median(ratios):.3f} (median of per-round ratios)")


if __name__ == "__main__":
    main()
