"""GPU memory and step time of both training stages at the paper's size, bf16, on one GPU.

    python benchmarks/train_memory.py [--llm Vicuna-7B] [--batch 16] [--atoms 30] [--text-tokens 128] [--steps 6]

InstructMol with Vicuna's shape and random weights (nothing downloaded), built and trained as the recipes say:
`recipes/stage1.yaml` (projector only) and `recipes/stage2.yaml` (LoRA r=64 on the seven projections plus the
projector), weights in bf16 with the GIN in float32, bf16 autocast (what `bf16: true` gives under DDP), gradient
checkpointing, AdamW over what trains, `--batch` rows per step (the paper's 16 per GPU). Each row is one molecule of
`--atoms` atoms (synthetic graphs: OGB feature values drawn within their tables, atoms joined in a ring; memory and
time depend on sizes, not on chemistry) followed by `--text-tokens` random tokens, half of them the answer.

Prints per stage: model states after a step (weights, gradients, optimizer states: what one GPU holds under DDP,
and what `zero_memory.py` estimates for one GPU), the peak during a step (with activations), the median step time and
tokens per second; and stage 2 over stage 1 for each. Checks on the way that the GIN computed in float32 under autocast.
"""

import argparse
import statistics
import time

import torch

from configuration_instructmol import OGB_ATOM_FEATURE_DIMS, OGB_BOND_FEATURE_DIMS
from paper_scale import MOL_TOKEN_ID, VICUNA, instructmol_for_recipe, read_recipe

GIB = 1024**3


def synthetic_batch(batch: int, atoms: int, text_tokens: int, device: torch.device) -> dict:
    """`batch` rows of one ring molecule of `atoms` atoms then `text_tokens` tokens; the second half is learned."""
    generator = torch.Generator().manual_seed(0)
    atom_features = torch.stack([torch.randint(size, (batch * atoms,), generator=generator)
                                 for size in OGB_ATOM_FEATURE_DIMS], dim=1)
    ring = torch.arange(atoms)
    one_molecule = torch.stack([ring, (ring + 1) % atoms])
    edges = torch.cat([one_molecule, one_molecule.flip(0)], dim=1)
    edge_index = torch.cat([edges + row * atoms for row in range(batch)], dim=1)
    bond_features = torch.stack([torch.randint(size, (edge_index.shape[1],), generator=generator)
                                 for size in OGB_BOND_FEATURE_DIMS], dim=1)
    text = torch.randint(3, MOL_TOKEN_ID, (batch, text_tokens), generator=generator)
    input_ids = torch.cat([torch.full((batch, atoms), MOL_TOKEN_ID), text], dim=1)
    labels = input_ids.clone()
    labels[:, : atoms + text_tokens // 2] = -100
    tensors = dict(input_ids=input_ids, labels=labels, atom_features=atom_features, bond_features=bond_features,
                   edge_index=edge_index)
    return {name: tensor.to(device) for name, tensor in tensors.items()}


def measure_stage(llm: str, stage: str, batch: dict, steps: int) -> dict:
    """Trains `steps` steps of the stage's recipe and returns its memory and time figures."""
    recipe = read_recipe(stage)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    model = instructmol_for_recipe(llm, recipe, device="cuda")
    if recipe["activation_checkpointing"]:
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    graph_encoder = model.get_base_model().model.graph_encoder if hasattr(model, "get_base_model") else model.model.graph_encoder
    output_dtypes = set()
    graph_encoder.register_forward_hook(lambda module, inputs, output: output_dtypes.add(output.dtype))
    trained = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=float(recipe["learning_rate"]))
    times, model_states = [], 0
    for _ in range(steps):
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(**batch, use_cache=False).loss
        loss.backward()
        optimizer.step()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
        model_states = torch.cuda.memory_allocated()  # weights, gradients and optimizer states, before they are freed
        optimizer.zero_grad(set_to_none=True)
    assert output_dtypes == {torch.float32}, f"the GIN computed in {output_dtypes} under autocast"
    assert torch.isfinite(loss), f"{stage}: loss {loss.item()}"
    step_seconds = statistics.median(times[1:])  # the first step pays for allocator and kernel warm-up
    figures = {
        "parameters": sum(parameter.numel() for parameter in model.parameters()),
        "trained": sum(parameter.numel() for parameter in trained),
        "model_states_gib": model_states / GIB,
        "peak_gib": torch.cuda.max_memory_allocated() / GIB,
        "step_seconds": step_seconds,
        "tokens_per_second": batch["input_ids"].numel() / step_seconds,
        "loss": loss.item(),
    }
    del model, optimizer, loss
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llm", choices=list(VICUNA), default="Vicuna-7B")
    parser.add_argument("--batch", type=int, default=16, help="rows per step (the paper: 16 per GPU)")
    parser.add_argument("--atoms", type=int, default=30, help="atoms per molecule (ChEBI-20's median is about 30)")
    parser.add_argument("--text-tokens", type=int, default=128, help="tokens after the molecule; half are learned")
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    torch.manual_seed(0)
    batch = synthetic_batch(args.batch, args.atoms, args.text_tokens, torch.device("cuda"))
    print(f"{args.llm}, {torch.cuda.get_device_name()}, batch {args.batch} x {batch['input_ids'].shape[1]} tokens, "
          f"bf16 autocast, gradient checkpointing")
    results = {stage: measure_stage(args.llm, stage, batch, args.steps) for stage in ("stage1", "stage2")}
    for stage, figures in results.items():
        print(f"{stage}: {figures['parameters'] / 1e9:.2f}B parameters, {figures['trained'] / 1e6:.1f}M trained; "
              f"model states {figures['model_states_gib']:.1f} GiB, peak {figures['peak_gib']:.1f} GiB; "
              f"{figures['step_seconds']:.3f} s/step, {figures['tokens_per_second']:,.0f} tokens/s; "
              f"loss {figures['loss']:.3f}")
    one, two = results["stage1"], results["stage2"]
    print(f"stage 2 / stage 1: model states {two['model_states_gib'] / one['model_states_gib']:.2f}x, "
          f"peak {two['peak_gib'] / one['peak_gib']:.2f}x, step time {two['step_seconds'] / one['step_seconds']:.2f}x")


if __name__ == "__main__":
    main()
