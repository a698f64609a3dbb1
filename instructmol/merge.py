"""Merging a stage-2 LoRA adapter into its base model: one complete, Hub-ready InstructMol folder."""

import json
import logging
from pathlib import Path

import torch
from peft import PeftModel

from modeling_instructmol import InstructMolForConditionalGeneration
from processing_instructmol import InstructMolProcessor

from .build import save_instructmol

logger = logging.getLogger(__name__)


def adapter_base_model(adapter_dir: str | Path) -> str:
    """The base model (path or Hub id) an adapter folder was trained on, from its `adapter_config.json`."""
    config_path = Path(adapter_dir) / "adapter_config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{adapter_dir} holds no adapter_config.json: is it a stage-2 (PEFT) output folder?")
    base = json.loads(config_path.read_text()).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{config_path} does not name its base model (base_model_name_or_path); pass --base.")
    return base


def load_with_adapter(
    adapter_dir: str | Path, base: str | None = None, dtype: str | torch.dtype = "auto"
) -> PeftModel:
    """The base InstructMol model with the adapter applied (not merged)."""
    base_model = InstructMolForConditionalGeneration.from_pretrained(base or adapter_base_model(adapter_dir), dtype=dtype)
    return PeftModel.from_pretrained(base_model, str(adapter_dir)).eval()


def merge_adapter(
    adapter_dir: str | Path, output_dir: str | Path, base: str | None = None, dtype: str | torch.dtype = "auto"
) -> Path:
    """Writes base + adapter, merged, as a folder that `AutoModel.from_pretrained(..., trust_remote_code=True)` loads.

    The processor comes from the adapter folder (the stage-2 run saved it there), else from the base.
    """
    base = base or adapter_base_model(adapter_dir)
    merged = load_with_adapter(adapter_dir, base, dtype).merge_and_unload()
    # The merged model is a finished assistant: further fine-tuning should not inherit stage 1's frozen LLM.
    merged.config.freeze_llm = False
    merged.freeze_from_config()
    processor_source = adapter_dir if (Path(adapter_dir) / "processor_config.json").is_file() else base
    processor = InstructMolProcessor.from_pretrained(processor_source, trust_remote_code=True)
    save_instructmol(
        merged,
        processor,
        output_dir,
        base_model=base,
        training_description=f"Stage-2 LoRA adapter `{adapter_dir}` merged into `{base}` with `instructmol merge`.",
    )
    logger.info("Merged %s into %s: %s", adapter_dir, base, output_dir)
    return Path(output_dir)
