"""Building an InstructMol model from its components: an LLM, a graph encoder, a projector.

`instructmol init` uses this to write a ready-to-train folder, the starting point of stage 1.
"""

import logging
import math
import os
from pathlib import Path

import rdkit
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, PreTrainedModel, PreTrainedTokenizerBase

from configuration_instructmol import GRAPH_INPUT_NAMES, InstructMolConfig
from featurization_instructmol import InvalidMoleculeError, MolecularGraphFeaturizer
from modeling_instructmol import InstructMolForConditionalGeneration, InstructMolGraphEncoder, InstructMolProjector
from processing_instructmol import MOLECULE_TOKEN, VICUNA_CHAT_TEMPLATE, InstructMolProcessor

from .card import write_model_card
from .conversion import ConvertedGraphEncoder
from .loading import check_causal_lm_folder, is_instructmol_folder

logger = logging.getLogger(__name__)

AUTO_MAP = {
    "AutoConfig": "configuration_instructmol.InstructMolConfig",
    # AutoModel returns the class that generates, as remote-code multimodal models on the Hub do.
    "AutoModel": "modeling_instructmol.InstructMolForConditionalGeneration",
    "AutoModelForCausalLM": "modeling_instructmol.InstructMolForConditionalGeneration",
    "AutoModelForImageTextToText": "modeling_instructmol.InstructMolForConditionalGeneration",
    "AutoModelForMultimodalLM": "modeling_instructmol.InstructMolForConditionalGeneration",
}
NCI_MOLECULES = Path(rdkit.__file__).parent / "Data" / "NCI" / "first_5K.smi"


def reference_molecules(count: int = 512) -> list[str]:
    """Real molecules shipped with RDKit (the NCI set's first `count` parsable ones), for calibration."""
    featurizer = MolecularGraphFeaturizer(cache_size=0)
    molecules = []
    with open(NCI_MOLECULES) as lines:
        for line in lines:
            smiles = line.split()[0]
            try:
                featurizer.featurize(smiles)
            except InvalidMoleculeError:
                continue
            molecules.append(smiles)
            if len(molecules) == count:
                break
    return molecules


def load_language_model(
    name_or_path: str, gguf_file: str | None = None, dtype: str | torch.dtype = "auto"
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Loads a causal LLM and its tokenizer from a Hub id or a folder, optionally from a GGUF file in it.

    Raises:
        FileNotFoundError: `name_or_path` is written as a path (absolute, relative with ./ or ../, or with more
            than one '/') that does not exist, or the GGUF file is not in the folder.
    """
    local = Path(name_or_path).expanduser()
    if not local.exists() and (local.is_absolute() or name_or_path.startswith((".", "~")) or name_or_path.count("/") > 1):
        raise FileNotFoundError(f"the LLM folder {name_or_path} does not exist")
    if gguf_file is not None and local.is_dir() and not (local / gguf_file).is_file():
        raise FileNotFoundError(f"{local} holds no GGUF file {gguf_file!r}")
    if gguf_file is None and local.is_dir():
        check_llm_folder(local)
    model = AutoModelForCausalLM.from_pretrained(name_or_path, gguf_file=gguf_file, dtype=dtype)
    if getattr(model, "hf_quantizer", None) is not None and gguf_file is not None:
        # transformers dequantizes GGUF weights to `dtype` as it loads them; only the quantization marker is left,
        # and it would make Trainer refuse to train the model ("GGUF does not support training").
        model.hf_quantizer.remove_quantization_config(model)
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, gguf_file=gguf_file)
    return model, tokenizer


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json")


def check_llm_folder(folder: Path) -> None:
    """Refuses a local `--llm` folder that is an InstructMol model (loading it as an LLM would run its code after
    transformers' interactive question) or holds no tokenizer (transformers would ask to install sentencepiece).

    Raises:
        ValueError: naming the folder and what to give instead.
    """
    if is_instructmol_folder(folder):
        raise ValueError(f"{folder} is already an InstructMol model; --llm takes the plain causal LM to build one "
                         "from (e.g. the LLM named as `base_model` in its README.md)")
    check_causal_lm_folder(folder)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        raise ValueError(f"{folder} holds no tokenizer ({', '.join(TOKENIZER_FILES)}): save the LLM's tokenizer "
                         "into it (`tokenizer.save_pretrained`)")


def keep_first_layers(language_model: PreTrainedModel, num_layers: int) -> PreTrainedModel:
    """Cuts a decoder-only LLM to its first `num_layers` layers (for CPU-sized runs such as the quickstart).

    Works for LLMs whose base model keeps its decoder layers in `.layers` (Llama, Mistral, Qwen2, SmolLM).
    """
    decoder = language_model.base_model
    if not hasattr(decoder, "layers"):
        raise ValueError(f"{type(decoder).__name__} keeps no `.layers`; cannot cut it to {num_layers} layers.")
    if not 1 <= num_layers <= len(decoder.layers):
        raise ValueError(f"num_layers must be between 1 and {len(decoder.layers)}, got {num_layers}")
    decoder.layers = decoder.layers[:num_layers]
    config = language_model.config
    config.num_hidden_layers = num_layers
    if getattr(config, "layer_types", None) is not None:
        config.layer_types = config.layer_types[:num_layers]
    return language_model


def _plain_text_config(language_model: PreTrainedModel) -> dict:
    # An LLM loaded from GGUF elsewhere than `load_language_model` is already dequantized but keeps a
    # quantization marker that would make the saved InstructMol folder unloadable; the config we save describes
    # a plain model.
    config = language_model.config.to_dict()
    config.pop("quantization_config", None)
    return config


def build_instructmol(
    language_model: PreTrainedModel,
    tokenizer,
    graph_encoder: ConvertedGraphEncoder | None = None,
    projector_type: str = "linear",
    calibration_molecules: list[str] | None = None,
    freeze_llm: bool = False,
    freeze_graph_encoder: bool = True,
) -> tuple[InstructMolForConditionalGeneration, InstructMolProcessor]:
    """Assembles InstructMol around an LLM without copying its weights.

    Adds the `<mol>` token and resizes the embeddings, loads the converted graph encoder (or keeps a random
    one), and scales the projector so that projected atom vectors have the spread of the LLM's own token
    embeddings on `calibration_molecules` (the GIN's raw outputs can be 10x smaller or larger).
    """
    tokenizer.add_special_tokens({"additional_special_tokens": [MOLECULE_TOKEN]}, replace_extra_special_tokens=False)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    language_model.resize_token_embeddings(len(tokenizer), mean_resizing=True)

    config = InstructMolConfig(
        text_config=_plain_text_config(language_model),
        projector_type=projector_type,
        mol_token_id=tokenizer.convert_tokens_to_ids(MOLECULE_TOKEN),
        freeze_llm=freeze_llm,
        freeze_graph_encoder=freeze_graph_encoder,
        **(graph_encoder.config_kwargs() if graph_encoder is not None else {}),
    )
    # The LLM's weights move into the new model as modules: building it on the meta device first and
    # swapping them in costs no copy and no second LLM-sized allocation (Vicuna-7B is 13 GB).
    with torch.device("meta"):
        model = InstructMolForConditionalGeneration(config)
    model.model.language_model = language_model.base_model
    model.lm_head = language_model.get_output_embeddings()
    model.model.graph_encoder = InstructMolGraphEncoder(config)
    model.model.projector = InstructMolProjector(config).to(language_model.dtype)
    model.model.graph_encoder.apply(model._init_weights)
    model.model.projector.apply(model._init_weights)
    if graph_encoder is not None:
        model.model.graph_encoder.load_state_dict(graph_encoder.state_dict, strict=True)
    model.generation_config = GenerationConfig.from_model_config(language_model.config)
    if language_model.generation_config is not None:
        model.generation_config.update(**language_model.generation_config.to_diff_dict())
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    # A generated <mol> would have no atom to stand for at the next step: never generate it.
    model.generation_config.suppress_tokens = [config.mol_token_id]
    model.freeze_from_config()

    processor = InstructMolProcessor(
        image_processor=MolecularGraphFeaturizer(config.atom_feature_dims, config.bond_feature_dims),
        tokenizer=tokenizer,
        chat_template=tokenizer.chat_template or VICUNA_CHAT_TEMPLATE,
    )
    calibrate_projector(model, processor, calibration_molecules or reference_molecules())
    return model, processor


@torch.no_grad()
def calibrate_projector(
    model: InstructMolForConditionalGeneration, processor: InstructMolProcessor, molecules: list[str]
) -> float:
    """Scales the projector's output layer so projected atom vectors match the token embeddings' std.

    Returns the scale applied.
    """
    graph_batch = processor.image_processor(molecules, return_tensors="pt")
    graph_batch = {name: graph_batch[name] for name in GRAPH_INPUT_NAMES}
    instructmol = model.model
    was_training = instructmol.training
    instructmol.eval()
    projected = instructmol.get_molecule_features(**graph_batch).float()
    instructmol.train(was_training)
    target_std = instructmol.get_input_embeddings().weight.float().std()
    scale = float(target_std / projected.std())
    if not math.isfinite(scale) or scale <= 0:
        raise ValueError(
            f"cannot scale the projector: the graph encoder's projected atom vectors have std {float(projected.std()):.3g} "
            f"(token embeddings {float(target_std):.3g}); are the graph encoder's or the LLM's weights degenerate?"
        )
    output_layer = getattr(instructmol.projector, "linear_2", instructmol.projector.linear_1)
    output_layer.weight.mul_(scale)
    output_layer.bias.mul_(scale)
    logger.info("Projector scaled by %.4g to match the token embeddings' std %.4g", scale, float(target_std))
    return scale


def save_instructmol(
    model: InstructMolForConditionalGeneration,
    processor: InstructMolProcessor,
    output_dir: str | os.PathLike,
    **card_fields,
) -> Path:
    """Writes a Hub-ready folder: safetensors weights, the four code files, configs, tokenizer, model card."""
    output_dir = Path(output_dir)
    model.config.auto_map = dict(AUTO_MAP)
    type(model.config).register_for_auto_class("AutoConfig")
    type(model).register_for_auto_class("AutoModelForImageTextToText")
    type(processor.image_processor).register_for_auto_class("AutoImageProcessor")
    type(processor).register_for_auto_class("AutoProcessor")
    model.save_pretrained(output_dir, safe_serialization=True)
    processor.save_pretrained(output_dir)
    write_model_card(output_dir, model.config, **card_fields)
    return output_dir
