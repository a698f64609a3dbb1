"""InstructMol at the paper's sizes without downloading them: Vicuna's shapes and the recipes' trained parts.

Shared by `zero_memory.py` (estimates, on the meta device) and `train_memory.py` (measurements, on a GPU).
"""

from pathlib import Path

import torch
import yaml
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig

from configuration_instructmol import InstructMolConfig
from modeling_instructmol import InstructMolForConditionalGeneration

RECIPES = Path(__file__).resolve().parents[1] / "recipes"
MOL_TOKEN_ID = 32000  # Vicuna's 32,000 tokens, then <mol>
# The configs of lmsys/vicuna-7b-v1.3 and lmsys/vicuna-13b-v1.3 (LLaMA-7B and -13B).
VICUNA = {
    "Vicuna-7B": dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32),
    "Vicuna-13B": dict(hidden_size=5120, intermediate_size=13824, num_hidden_layers=40, num_attention_heads=40),
}


def read_recipe(stage: str) -> dict:
    """`recipes/stage1.yaml` or `recipes/stage2.yaml`, as `trl sft` reads it."""
    return yaml.safe_load((RECIPES / f"{stage}.yaml").read_text())


def instructmol_for_recipe(llm: str, recipe: dict, device: str | torch.device = "meta") -> torch.nn.Module:
    """InstructMol with `llm`'s shape and random weights in the recipe's dtype (the GIN in float32, as loading keeps
    it), frozen as the recipe's flags say, with the recipe's LoRA (and trained projector copy) when it has one."""
    text_config = LlamaConfig(vocab_size=MOL_TOKEN_ID + 1, max_position_embeddings=2048, **VICUNA[llm])
    init = recipe["model_init_kwargs"]
    flags = {key: value for key, value in init.items() if key.startswith("freeze_")}
    config = InstructMolConfig(text_config=text_config, mol_token_id=MOL_TOKEN_ID, **flags)
    with torch.device(device):
        model = InstructMolForConditionalGeneration._from_config(config, dtype=getattr(torch, init["dtype"]))
        if recipe.get("use_peft"):
            model = get_peft_model(model, LoraConfig(
                r=recipe["lora_r"], lora_alpha=recipe["lora_alpha"], lora_dropout=recipe["lora_dropout"],
                target_modules=recipe["lora_target_modules"], modules_to_save=recipe["lora_modules_to_save"]))
    return model
