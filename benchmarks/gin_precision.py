"""What an engine's bf16 cast of the frozen GIN's weights does to the atom vectors the LLM reads.

    python benchmarks/gin_precision.py [--molecules 512]

DeepSpeed in bf16 casts every parameter to bf16, the frozen GIN's too (ZeRO-3 partitions it in bf16, ZeRO-2 casts it
in place, and both save it so); FSDP2 hands it bf16 weights for the forward. The GIN still computes in float32 (its
layers cast what they are given), so what remains is the rounding of its weights. On RDKit's NCI molecules, through
a GIN with the model's documented initialisation (MoleculeSTM's weights need the Hub), this prints the relative error
of the atom vectors computed from bf16-rounded weights, against the rounding that every atom vector gets anyway when
it is scattered into the LLM's bf16 input embeddings: a ratio below 1 means the cast costs less than the LLM's own
precision already does.
"""

import argparse

import torch
from transformers import LlamaConfig

from configuration_instructmol import GRAPH_INPUT_NAMES, InstructMolConfig
from featurization_instructmol import MolecularGraphFeaturizer
from instructmol.build import reference_molecules
from modeling_instructmol import InstructMolForConditionalGeneration


def relative_error(values: torch.Tensor, reference: torch.Tensor) -> float:
    return ((values - reference).norm() / reference.norm()).item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--molecules", type=int, default=512)
    args = parser.parse_args()
    torch.manual_seed(0)
    tiny_llm = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                           num_attention_heads=4)
    encoder = InstructMolForConditionalGeneration(InstructMolConfig(text_config=tiny_llm)).model.graph_encoder.eval()
    graph = MolecularGraphFeaturizer()(reference_molecules(args.molecules), return_tensors="pt")
    graph = {name: graph[name] for name in GRAPH_INPUT_NAMES}
    with torch.no_grad():
        reference = encoder(**graph)
        for parameter in encoder.parameters():  # what DeepSpeed does in bf16 mode
            parameter.data = parameter.data.to(torch.bfloat16)
        from_bf16_weights = encoder(**graph)
    weights_error = relative_error(from_bf16_weights, reference)
    scatter_error = relative_error(reference.to(torch.bfloat16).float(), reference)
    print(f"{args.molecules} molecules, {reference.shape[0]} atoms, GIN of {len(encoder.layers)} layers")
    print(f"relative error of the atom vectors from bf16-rounded GIN weights (computed in float32): {weights_error:.2e}")
    print(f"relative error of rounding the atom vectors to bf16 (the LLM's input embeddings):      {scatter_error:.2e}")
    print(f"ratio: {weights_error / scatter_error:.2f}x")


if __name__ == "__main__":
    main()
