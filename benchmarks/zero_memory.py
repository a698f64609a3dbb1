"""Model-state memory per GPU of InstructMol at the paper's sizes, from DeepSpeed's own ZeRO estimators.

    python benchmarks/zero_memory.py [--gpus 8] [--nodes 1]

Builds InstructMol with Vicuna-7B and Vicuna-13B on the meta device (no weights, nothing downloaded), applies what
`recipes/stage1.yaml` and `recipes/stage2.yaml` train (stage 1: the projector; stage 2: the LoRA adapters and the
projector), counts every parameter and what trains, and evaluates DeepSpeed's estimators
(`estimate_zero2_model_states_mem_needs` and `estimate_zero3_model_states_mem_needs`, the functions behind
`estimate_zero{2,3}_model_states_mem_needs_all_live`, no offload):

- as DeepSpeed prints them, for a model whose every parameter trains (its estimators know nothing of frozen weights);
- for what the recipe trains: the estimator on the trained parameters, plus the frozen ones at 2 bytes each (their
  16-bit copy; ZeRO-3 partitions them over the GPUs, ZeRO-2 keeps one on every GPU).

Ratios are against one GPU holding everything (the same estimate with a single GPU, which is what DDP keeps on each).
Model states only: activations come on top (gradient checkpointing keeps them small; see the README).
"""

import argparse

import torch
from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

from paper_scale import VICUNA, instructmol_for_recipe, read_recipe

GIB = 1024**3


def parameter_counts(model: torch.nn.Module) -> tuple[int, int, int]:
    """All parameters, the trained ones, and the largest module's own (what ZeRO-3 gathers at once)."""
    total = sum(parameter.numel() for parameter in model.parameters())
    trained = sum(parameter.numel() for parameter in model.parameters() if parameter.requires_grad)
    largest = max(sum(p.numel() for p in module.parameters(recurse=False)) for module in model.modules())
    return total, trained, largest


def zero2_gpu_bytes(total: int, trained: int, gpus: int, nodes: int) -> int:
    _, trained_bytes = estimate_zero2_model_states_mem_needs(trained, gpus, nodes, cpu_offload=False)
    return trained_bytes + 2 * (total - trained)


def zero3_gpu_bytes(total: int, trained: int, largest: int, gpus: int, nodes: int) -> int:
    _, trained_bytes, _ = estimate_zero3_model_states_mem_needs(trained, largest, gpus, nodes, cpu_offload=False,
                                                                cpu_offload_params=False)
    return trained_bytes + 2 * (total - trained) // (gpus * nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gpus", type=int, default=8, help="GPUs per node (the paper: 8)")
    parser.add_argument("--nodes", type=int, default=1)
    args = parser.parse_args()
    gpus, nodes = args.gpus, args.nodes
    print(f"Model states per GPU (GiB), {gpus} GPU(s) x {nodes} node(s), no offload; ratio to one GPU holding all")
    print(f"{'model':<11} {'stage':<7} {'params':>7} {'trained':>8} {'one GPU':>8} {'ZeRO-2':>15} {'ZeRO-3':>15}"
          f"   as DeepSpeed prints (all trained): ZeRO-2, ZeRO-3")
    for llm in VICUNA:
        for stage in ("stage1", "stage2"):
            total, trained, largest = parameter_counts(instructmol_for_recipe(llm, read_recipe(stage)))
            one_gpu = zero2_gpu_bytes(total, trained, 1, 1)
            zero2 = zero2_gpu_bytes(total, trained, gpus, nodes)
            zero3 = zero3_gpu_bytes(total, trained, largest, gpus, nodes)
            all_trained2 = estimate_zero2_model_states_mem_needs(total, gpus, nodes, cpu_offload=False)[1]
            all_trained3 = estimate_zero3_model_states_mem_needs(total, largest, gpus, nodes, cpu_offload=False,
                                                                 cpu_offload_params=False)[1]
            print(f"{llm:<11} {stage:<7} {total / 1e9:6.2f}B {trained / 1e6:7.1f}M {one_gpu / GIB:8.1f} "
                  f"{zero2 / GIB:7.1f} ({zero2 / one_gpu:4.2f}x) {zero3 / GIB:7.1f} ({zero3 / one_gpu:4.2f}x)"
                  f"   {all_trained2 / GIB:6.1f}, {all_trained3 / GIB:6.1f}")


if __name__ == "__main__":
    main()
