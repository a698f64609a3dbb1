"""Merging a stage-2 LoRA adapter into its base model: one complete, Hub-ready InstructMol folder."""

import hashlib
import json
import logging
from pathlib import Path

import torch
from huggingface_hub import snapshot_download
from peft import PeftModel

from modeling_instructmol import InstructMolForConditionalGeneration
from processing_instructmol import InstructMolProcessor

from .build import save_instructmol
from .errors import one_line

logger = logging.getLogger(__name__)


ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
MODEL_TYPE = "instructmol"


def local_model_dir(name_or_path: str | Path) -> Path:
    """A local folder as it is; a Hub repo id downloaded (or taken from the cache) as a local snapshot."""
    if Path(name_or_path).is_dir():
        return Path(name_or_path)
    try:
        return Path(snapshot_download(str(name_or_path)))
    except Exception as error:  # not a repo id, offline, unknown or gated repo: all mean "no such model here"
        raise FileNotFoundError(
            f"{name_or_path!r} is neither a local model folder nor a Hub model repository reachable from here "
            f"({one_line(error)})"
        ) from error


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
    if (folder / ADAPTER_CONFIG).is_file():
        digest.update(model_fingerprint(adapter_base_model(folder)).encode())
    return digest.hexdigest()


def read_json_file(path: Path) -> dict:
    """A JSON object from a file; a ValueError names the file when it is not one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ValueError(f"{path} holds a JSON {type(value).__name__}, not an object")
    return value


def is_instructmol_folder(folder: str | Path) -> bool:
    """Whether a model folder's config.json is an InstructMol model's."""
    config_path = Path(folder) / "config.json"
    return config_path.is_file() and read_json_file(config_path).get("model_type") == MODEL_TYPE


def check_instructmol_folder(folder: str | Path) -> Path:
    """The folder, if its config.json is an InstructMol model's; a ValueError names the folder otherwise (a plain
    LLM's config would be read as InstructMol's defaults, a 7B Llama, and fail late or exhaust memory)."""
    folder = Path(folder)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder} holds no config.json: it is not a model folder")
    model_type = read_json_file(config_path).get("model_type")
    if model_type != MODEL_TYPE:
        raise ValueError(
            f"{folder} is not an InstructMol model (its config.json says model_type {model_type!r}); build one from "
            "an LLM with `instructmol init --llm ...`"
        )
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


def load_with_adapter(
    adapter_dir: str | Path, base: str | None = None, dtype: str | torch.dtype = "auto"
) -> PeftModel:
    """The base InstructMol model (a folder or Hub id; default: the adapter's own) with the adapter applied."""
    recorded_base = adapter_base_model(adapter_dir)  # also checks the adapter folder
    base_dir = check_instructmol_folder(local_model_dir(base or recorded_base))
    base_model = InstructMolForConditionalGeneration.from_pretrained(base_dir, dtype=dtype)
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
    processor_source = adapter_dir if (Path(adapter_dir) / "processor_config.json").is_file() else local_model_dir(base)
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
