"""Finding, checking and loading models: InstructMol folders, stage-2 adapters and plain causal LMs, local or Hub.

Every command that reads a model goes through here, so a folder is judged one way everywhere. Finding and
checking read only JSON; torch, transformers and peft are imported by the functions that load weights, so that
a command's `--help` and its argument checks start in a fraction of a second.
"""

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import one_line

if TYPE_CHECKING:
    import torch
    from peft import PeftModel

CONFIG_FILE = "config.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
PROCESSOR_CONFIG = "processor_config.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
MODEL_TYPE = "instructmol"


def read_json_file(path: Path) -> dict:
    """A JSON object from a file; a ValueError names the file when it is not one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds a JSON {type(value).__name__}, not an object")
    return value


def local_model_dir(name_or_path: str | Path) -> Path:
    """A local folder as it is; a Hub repo id downloaded (or taken from the cache) as a local snapshot."""
    if Path(name_or_path).is_dir():
        return Path(name_or_path)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(name_or_path)))
    except Exception as error:  # not a repo id, offline, unknown or gated repo: all mean "no such model here"
        raise FileNotFoundError(
            f"{name_or_path!r} is neither a local model folder nor a Hub model repository reachable from here "
            f"({one_line(error)})"
        ) from error


def is_adapter_dir(folder: Path) -> bool:
    """Whether a folder holds a stage-2 (PEFT) adapter rather than a full model."""
    return (folder / ADAPTER_CONFIG).is_file()


def model_type(folder: Path) -> str | None:
    """The `model_type` of a model folder's config.json.

    Raises:
        FileNotFoundError: naming the folder when it holds no config.json.
    """
    config_path = folder / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder} holds no {CONFIG_FILE}: it is not a model folder")
    return read_json_file(config_path).get("model_type")


def is_instructmol_folder(folder: str | Path) -> bool:
    """Whether a model folder's config.json is an InstructMol model's."""
    return (Path(folder) / CONFIG_FILE).is_file() and model_type(Path(folder)) == MODEL_TYPE


def check_instructmol_folder(folder: str | Path) -> Path:
    """The folder, if its config.json is an InstructMol model's; a ValueError names the folder otherwise (a plain
    LLM's config would be read as InstructMol's defaults, a 7B Llama, and fail late or exhaust memory)."""
    folder = Path(folder)
    found = model_type(folder)
    if found != MODEL_TYPE:
        raise ValueError(
            f"{folder} is not an InstructMol model (its config.json says model_type {found!r}); build one from "
            "an LLM with `instructmol init --llm ...`"
        )
    return folder


def check_causal_lm_folder(folder: Path) -> Path:
    """The folder, if its config.json names a model type transformers has a causal LM for; else a ValueError."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    found = model_type(folder)
    if found not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        raise ValueError(f"{folder} is neither an InstructMol model nor a causal language model (model_type {found!r})")
    return folder


def adapter_base_model(adapter_dir: str | Path) -> str:
    """The base model (path or Hub id) an adapter folder was trained on, from its `adapter_config.json`.

    Raises:
        FileNotFoundError / ValueError: naming the folder or file when it is no adapter, its config is not JSON,
            it names no base model, or it holds no adapter weights.
    """
    adapter_dir = Path(adapter_dir)
    config_path = adapter_dir / ADAPTER_CONFIG
    if not config_path.is_file():
        raise FileNotFoundError(f"{adapter_dir} holds no {ADAPTER_CONFIG}: is it a stage-2 (PEFT) output folder?")
    base = read_json_file(config_path).get("base_model_name_or_path")
    if not base:
        raise ValueError(f"{config_path} does not name its base model: set base_model_name_or_path to the stage-1 "
                         "model it was trained on")
    if not any((adapter_dir / name).is_file() for name in ADAPTER_WEIGHTS):
        raise FileNotFoundError(f"{adapter_dir} holds no adapter weights ({' or '.join(ADAPTER_WEIGHTS)})")
    return base


def model_fingerprint(name_or_path: str | Path) -> str:
    """A hash of a model folder's files (its card excepted), and of its base model's for an adapter: it changes
    when the weights, config or processor change in place."""
    folder = local_model_dir(name_or_path)
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.name != "README.md" and not path.name.startswith("."):
            digest.update(path.name.encode() + b"\x00")
            with open(path, "rb") as file:
                digest.update(hashlib.file_digest(file, "sha256").digest())
    if is_adapter_dir(folder):
        digest.update(model_fingerprint(adapter_base_model(folder)).encode())
    return digest.hexdigest()


def reads_molecules(name_or_path: str) -> bool:
    """Whether a model (folder, Hub repo or adapter folder) is InstructMol (reads molecules as graphs) rather than
    a plain language model (a text-only baseline)."""
    model_dir = local_model_dir(name_or_path)
    if is_adapter_dir(model_dir):
        model_dir = local_model_dir(adapter_base_model(model_dir))
    return is_instructmol_folder(model_dir)


def load_with_adapter(adapter_dir: str | Path, base: str | None = None,
                      dtype: "str | torch.dtype" = "auto") -> "PeftModel":
    """The base InstructMol model (a folder or Hub id; default: the adapter's own) with the adapter applied."""
    from peft import PeftModel

    from modeling_instructmol import InstructMolForConditionalGeneration

    recorded_base = adapter_base_model(adapter_dir)  # also checks the adapter folder
    base_dir = check_instructmol_folder(local_model_dir(base or recorded_base))
    base_model = InstructMolForConditionalGeneration.from_pretrained(base_dir, dtype=dtype)
    return PeftModel.from_pretrained(base_model, str(adapter_dir)).eval()


def merged_instructmol_dir(name_or_path: str) -> Path:
    """The local folder of a whole InstructMol model (folder or Hub repo).

    Raises:
        ValueError: a stage-2 adapter folder (naming `instructmol merge`), or not an InstructMol model.
        FileNotFoundError: the model cannot be found.
    """
    model_dir = local_model_dir(name_or_path)
    if is_adapter_dir(model_dir):
        raise ValueError(f"{name_or_path} is a stage-2 adapter folder: merge it first (`instructmol merge --adapter "
                         f"{name_or_path} --output DIR`), then use the merged folder")
    return check_instructmol_folder(model_dir)


def load_prompt_encoder(name_or_path: str, dtype: "str | torch.dtype" = "auto",
                        device: "str | torch.device | None" = None):
    """The part of an InstructMol model that turns processed prompts into the embeddings its language model reads
    (graph encoder, projector, token embeddings; `prompt_embeddings`), loaded without the language model's layers:
    the model built with a text config of no layers, whose layer weights are left unread in the checkpoint.

    Raises:
        ValueError: an adapter folder, not an InstructMol model, or a checkpoint missing a weight of those parts.
    """
    import torch
    from transformers import AutoConfig
    from transformers.dynamic_module_utils import get_class_from_dynamic_module

    model_dir = merged_instructmol_dir(name_or_path)
    config = AutoConfig.from_pretrained(model_dir, trust_remote_code=True)
    config.text_config.num_hidden_layers = 0
    model_class = get_class_from_dynamic_module(config.auto_map["AutoModel"], model_dir)
    # The checkpoint's layer weights are expected to go unused: transformers is told so instead of reporting each.
    encoder_class = type("InstructMolPromptEncoder", (model_class,),
                         {"_keys_to_ignore_on_load_unexpected": [r"language_model\.layers\."]})
    model, loading_info = encoder_class.from_pretrained(model_dir, config=config, dtype=dtype,
                                                        output_loading_info=True)
    if loading_info["missing_keys"]:
        raise ValueError(f"{model_dir}'s weights lack {', '.join(sorted(loading_info['missing_keys'])[:5])}: it is not "
                         "a complete InstructMol checkpoint")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval()


def processor_folder(name_or_path: str) -> Path:
    """Where a model's processor (or a plain LM's tokenizer) is: the model folder, or for an adapter folder the
    adapter folder when the run saved one there, else the base model's folder."""
    model_dir = local_model_dir(name_or_path)
    if not is_adapter_dir(model_dir):
        return model_dir
    base_dir = local_model_dir(adapter_base_model(model_dir))
    saved = PROCESSOR_CONFIG if is_instructmol_folder(base_dir) else TOKENIZER_CONFIG
    return model_dir if (model_dir / saved).is_file() else base_dir


def load_processor(name_or_path: str):
    """A model's processor: InstructMol's own (with its featurizer, `image_processor`), loaded with the checkpoint's
    code, or for a plain causal LM its tokenizer as a `TextOnlyProcessor`. Reads no weights."""
    from transformers import AutoProcessor, AutoTokenizer

    from .evaluation.text_only import TextOnlyProcessor

    folder = processor_folder(name_or_path)
    if is_instructmol_folder(folder) or (folder / PROCESSOR_CONFIG).is_file():
        return AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    return TextOnlyProcessor(AutoTokenizer.from_pretrained(folder))


def load_model(name_or_path: str, dtype: "str | torch.dtype" = "auto", device: "str | torch.device | None" = None):
    """A model in eval mode on `device` (default: the best one): an InstructMol model (folder or Hub repo, loaded
    with its own code through `AutoModel`), a plain causal LM (a text-only baseline), or an adapter folder on
    either (base + adapter)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModel, AutoModelForCausalLM

    model_dir = local_model_dir(name_or_path)
    if is_adapter_dir(model_dir):
        base_dir = local_model_dir(adapter_base_model(model_dir))
        if is_instructmol_folder(base_dir):
            model = load_with_adapter(model_dir, dtype=dtype)
        else:
            base_model = AutoModelForCausalLM.from_pretrained(check_causal_lm_folder(base_dir), dtype=dtype)
            model = PeftModel.from_pretrained(base_model, str(model_dir))
    elif is_instructmol_folder(model_dir):
        model = AutoModel.from_pretrained(model_dir, trust_remote_code=True, dtype=dtype)
    else:
        model = AutoModelForCausalLM.from_pretrained(check_causal_lm_folder(model_dir), dtype=dtype)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return model.to(device).eval()


def load_model_and_processor(name_or_path: str, dtype: "str | torch.dtype" = "auto",
                             device: "str | torch.device | None" = None):
    """`load_model` and `load_processor` of one model."""
    return load_model(name_or_path, dtype=dtype, device=device), load_processor(name_or_path)
