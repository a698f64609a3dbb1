"""Merging a stage-2 LoRA adapter into its base model: one complete, Hub-ready InstructMol folder."""

import logging
from pathlib import Path

import torch

from processing_instructmol import InstructMolProcessor

from .build import save_instructmol
from .outputs import check_output_apart
from .loading import PROCESSOR_CONFIG, adapter_base_model, load_with_adapter, local_model_dir

logger = logging.getLogger(__name__)


def merge_adapter(
    adapter_dir: str | Path, output_dir: str | Path, base: str | None = None, dtype: str | torch.dtype = "auto",
    public_base_model: str | None = None, training_description: str | None = None,
) -> Path:
    """Writes base + adapter, merged, as a folder that `AutoModel.from_pretrained(..., trust_remote_code=True)` loads.

    The processor comes from the adapter folder (the stage-2 run saved it there), else from the base. The card
    names `public_base_model` as the model's `base_model` (the public LLM a chain of local stages started from;
    default: the base itself), and `training_description` (default: which adapter went into which base).

    Raises:
        ValueError: `output_dir` is, holds or lies inside the adapter or base folder (`check_output_apart`).
    """
    base = base or adapter_base_model(adapter_dir)
    check_output_apart(output_dir, adapter=adapter_dir, base=base)
    merged = load_with_adapter(adapter_dir, base, dtype).merge_and_unload()
    # The merged model is a finished assistant: further fine-tuning should not inherit stage 1's frozen LLM.
    merged.config.freeze_llm = False
    merged.freeze_from_config()
    processor_source = adapter_dir if (Path(adapter_dir) / PROCESSOR_CONFIG).is_file() else local_model_dir(base)
    processor = InstructMolProcessor.from_pretrained(processor_source, trust_remote_code=True)
    save_instructmol(
        merged,
        processor,
        output_dir,
        base_model=public_base_model or base,
        training_description=training_description
        or f"Stage-2 LoRA adapter `{adapter_dir}` merged into `{base}` with `instructmol merge`.",
    )
    logger.info("Merged %s into %s: %s", adapter_dir, base, output_dir)
    return Path(output_dir)
