"""The language model of an InstructMol model as a plain causal-LM folder, for engines that take prompt embeddings.

vLLM (and any engine that accepts `prompt_embeds`) serves InstructMol without knowing about molecules: it runs this
folder's language model on the embeddings `InstructMolForConditionalGeneration.prompt_embeddings` computes (token
embeddings with the projected atom vectors in the `<mol>` positions). The folder is the base architecture's own
(`config.json` of its model type, safetensors, tokenizer with the model's chat template, generation config), so it
loads without remote code.
"""

import logging
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM

from .outputs import check_output_apart
from .loading import load_model, load_processor, merged_instructmol_dir

logger = logging.getLogger(__name__)


def export_language_model(model: str, output_dir: str | Path, dtype: str | torch.dtype = "auto") -> Path:
    """Writes the language model of `model` (an InstructMol folder or Hub repo) to `output_dir`.

    Raises:
        ValueError: `model` is a stage-2 adapter folder (merge it first) or not an InstructMol model, or
            `output_dir` is, holds or lies inside the model folder, or is a folder that already holds files.
        FileNotFoundError: `model` cannot be found.
    """
    model_dir = merged_instructmol_dir(model)
    output_dir = check_output_apart(output_dir, model=model_dir)
    if output_dir.exists() and any(output_dir.iterdir()):
        raise ValueError(f"the output folder {output_dir} already holds files: choose an empty or new folder")

    instructmol = load_model(model, dtype=dtype, device="cpu")
    text_model = instructmol.model.language_model
    language_model = AutoModelForCausalLM.from_config(instructmol.config.text_config, dtype=text_model.dtype)
    language_model.base_model.load_state_dict(text_model.state_dict())
    language_model.get_output_embeddings().load_state_dict(instructmol.get_output_embeddings().state_dict())
    language_model.generation_config = instructmol.generation_config
    language_model.save_pretrained(output_dir)

    processor = load_processor(model)
    tokenizer = processor.tokenizer
    tokenizer.chat_template = processor.chat_template  # the template the model was trained with
    tokenizer.save_pretrained(output_dir)
    logger.info("Wrote the language model of %s to %s", model, output_dir)
    return output_dir
