"""Stage 2 of InstructMol sharded with torch's FSDP2 (`fully_shard`) as `recipes/accelerate/fsdp.yaml` configures it.

Run by `accelerate launch --config_file recipes/accelerate/fsdp.yaml --num_processes 2 tests/fsdp2_train.py ...`: the
stock launcher starts the processes and puts the YAML's FSDP settings in their environment. accelerate shards with
FSDP only on accelerator devices (on a CPU it would train unsharded), so on a CPU this script does what accelerate's
`fsdp2_prepare_model` does with those settings: the FSDP plugin read from the environment, its mixed-precision policy
and transformer-layer wrap policy, trainable parameters upcast to float32, `fully_shard` on each wrapped layer and on
the root. The model, LoRA and learning settings come from the stage-2 recipe.

Rank 0 writes `facts.json` (what really ran) and the trained adapter, gathered into full tensors, to `--output`.
"""

import argparse
import json
import math
import os
from pathlib import Path

import torch
import torch.distributed as dist
import yaml
from accelerate import FullyShardedDataParallelPlugin
from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy, get_module_children_bottom_up
from datasets import load_dataset
from peft import LoraConfig, get_peft_model
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor
from transformers import AutoModel, AutoProcessor
from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--recipe", type=Path, required=True, help="the stage-2 recipe (model, LoRA and data settings)")
    parser.add_argument("--model", type=Path, required=True, help="the stage-1 InstructMol folder")
    parser.add_argument("--data", type=Path, required=True, help="a built dataset folder")
    parser.add_argument("--config", required=True, help="its config to train on")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=4, help="rows per process and step")
    parser.add_argument("--learning-rate", type=float, default=0.05)
    return parser.parse_args()


def stage2_model(recipe: dict, model_dir: Path) -> torch.nn.Module:
    """The stage-1 model as the recipe loads it (`model_init_kwargs`), with the recipe's LoRA and trained projector."""
    init_kwargs = dict(recipe["model_init_kwargs"])
    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True, **init_kwargs)
    lora = LoraConfig(r=recipe["lora_r"], lora_alpha=recipe["lora_alpha"], lora_dropout=recipe["lora_dropout"],
                      target_modules=recipe["lora_target_modules"], modules_to_save=recipe["lora_modules_to_save"])
    return get_peft_model(model, lora)


def shard_as_accelerate_does(model: torch.nn.Module) -> FullyShardedDataParallelPlugin:
    """`fully_shard` with the settings `accelerate launch` put in the environment (what `fsdp2_prepare_model` does)."""
    plugin = FullyShardedDataParallelPlugin()
    plugin.set_mixed_precision(os.environ["ACCELERATE_MIXED_PRECISION"])
    plugin.set_auto_wrap_policy(model)
    for parameter in model.parameters():  # FSDP2 keeps float32 master weights of what trains
        if parameter.requires_grad:
            parameter.data = parameter.data.float()
    settings = dict(mp_policy=plugin.mixed_precision_policy, reshard_after_forward=plugin.reshard_after_forward)
    wraps = fsdp2_prepare_auto_wrap_policy(plugin, model)
    for module in get_module_children_bottom_up(model)[:-1]:
        if wraps(module):
            fully_shard(module, **settings)
    fully_shard(model, **settings)
    return plugin


def main() -> None:
    args = parse_arguments()
    dist.init_process_group("gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    recipe = yaml.safe_load(args.recipe.read_text())
    processor = AutoProcessor.from_pretrained(args.model, trust_remote_code=True)
    collate = DataCollatorForVisionLanguageModeling(processor, completion_only_loss=True)
    rows = load_dataset(str(args.data), args.config, split="train")

    def batch_of(step: int) -> dict:
        first = (step * world_size + rank) * args.batch_size
        return collate([{key: rows[index][key] for key in ("images", "prompt", "completion")}
                        for index in range(first, first + args.batch_size)])

    model = stage2_model(recipe, args.model)
    model.train()
    with torch.no_grad():  # this rank's first batch through the model as loaded, before any sharding
        unsharded_loss = model(**batch_of(0)).loss.item()

    plugin = shard_as_accelerate_does(model)
    graph_encoder = model.get_base_model().model.graph_encoder
    seen_by_graph_encoder = {}
    graph_encoder.register_forward_hook(lambda module, inputs, output: seen_by_graph_encoder.update(
        weight_dtype=str(module.layers[0].conv.nn[0].weight.dtype), output_dtype=str(output.dtype)))

    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.learning_rate)
    losses = []
    for step in range(args.steps):
        loss = model(**batch_of(step)).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())

    sharded = [(name, p) for name, p in model.named_parameters() if isinstance(p, DTensor)]
    trainable = [(name, p) for name, p in sharded if p.requires_grad]
    full_state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
    if rank == 0:
        args.output.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(args.output, state_dict=full_state)
        processor.save_pretrained(args.output)
        name, parameter = trainable[0]
        facts = {
            "world_size": world_size,
            "mixed_precision": os.environ["ACCELERATE_MIXED_PRECISION"],
            "param_dtype": str(plugin.mixed_precision_policy.param_dtype),
            "parameters": sum(1 for _ in model.parameters()),
            "sharded_parameters": len(sharded),
            "example": {"name": name, "full_shape": list(parameter.shape),
                        "local_shape": list(parameter.to_local().shape), "dtype": str(parameter.dtype)},
            "graph_encoder": seen_by_graph_encoder,
            "unsharded_first_loss": unsharded_loss,
            "losses": losses,
            "all_finite": all(math.isfinite(value) for value in losses),
        }
        (args.output / "facts.json").write_text(json.dumps(facts, indent=1))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
