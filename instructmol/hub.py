"""Publishing InstructMol models, stage-2 adapters and datasets on the Hugging Face Hub.

Each helper checks a folder before anything leaves the machine, creates the repository if needed and uploads
the folder in one commit with `HfApi.upload_folder`. Weights travel as safetensors only: pickle-based files
(torch.save's `.bin`/`.pt`/`.pth`, joblib, dill, numpy object arrays, ...) can run code when loaded, so a folder
holding one is refused; files are judged by their content, not their name.
The token is handed to `HfApi` and nowhere else: never printed, logged or written.
"""

import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import yaml

from huggingface_hub import CommitInfo, DatasetCard, HfApi

from .loading import ADAPTER_CONFIG, CONFIG_FILE

# How pickle-based files begin: a pickle's protocol opcode (protocols 2-5), or a zip archive (torch.save, joblib
# and numpy object arrays inside .npz) holding a pickle. Files are judged by content, whatever their name.
PICKLE_PROTOCOL_OPCODE = 0x80
ZIP_SIGNATURE = b"PK\x03\x04"
NUMPY_SIGNATURE = b"\x93NUMPY"
GZIP_SIGNATURE = b"\x1f\x8b"


def holds_pickle(path: Path) -> bool:
    """Whether loading the file could unpickle: a raw pickle, a zip archive with a `.pkl` member (torch.save), a
    numpy array of Python objects, or a gzip file (`.pkl.gz`, `.pth.tar.gz`: refused unread, as its content is
    hidden). Safetensors, JSON, text and Parquet files never start like these."""
    with open(path, "rb") as file:
        head = file.read(128)
    if not head:
        return False
    if head[0] == PICKLE_PROTOCOL_OPCODE or head.startswith(GZIP_SIGNATURE):
        return True
    if head.startswith(NUMPY_SIGNATURE):
        return b"'descr': '|O'" in head or b"'descr': 'O'" in head
    if head.startswith(ZIP_SIGNATURE):
        try:
            with zipfile.ZipFile(path) as archive:
                return any(name.endswith((".pkl", ".pickle")) or "data.pkl" in name for name in archive.namelist())
        except zipfile.BadZipFile:
            return True  # a damaged archive cannot be vouched for
    return False


def _pickle_files(folder: Path) -> list[str]:
    """Paths, relative to `folder`, of every file (or link to a file) whose content is pickle-based."""
    return sorted(
        str(path.relative_to(folder))
        for path in folder.rglob("*")
        if path.is_file() and ".git" not in path.relative_to(folder).parts and holds_pickle(path)
    )


def _links_out_of(folder: Path) -> list[str]:
    """Paths, relative to `folder`, of the links in it that point outside it (an upload would carry the target's
    contents: a `notes.md` linked to the Hub token file would publish the token)."""
    root = folder.resolve()
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*")
                  if path.is_symlink() and not path.resolve().is_relative_to(root))


def _checked_folder(folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder")
    leaving = _links_out_of(folder)
    if leaving:
        raise ValueError(f"{folder} holds links to files outside it, which an upload would publish: "
                         f"{', '.join(leaving)}. Copy what belongs to the model into the folder, or remove the links.")
    pickles = _pickle_files(folder)
    if pickles:
        raise ValueError(
            f"{folder} holds pickle-based files, which can run code when loaded: {', '.join(pickles)}. Only "
            "safetensors weights are published: save with `save_pretrained(..., safe_serialization=True)` and "
            "move these files out of the folder (TRL's `training_args.bin` and `checkpoint-*` folders included)."
        )
    return folder


def check_model_folder(folder: str | os.PathLike) -> Path:
    """The folder, if it is a publishable model or adapter: a config and safetensors weights, no pickles.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: naming the pickle files, or what a model folder lacks.
    """
    folder = _checked_folder(folder)
    if not (folder / CONFIG_FILE).is_file() and not (folder / ADAPTER_CONFIG).is_file():
        raise ValueError(f"{folder} has neither {CONFIG_FILE} (a model) nor {ADAPTER_CONFIG} (an adapter)")
    if not any(folder.glob("*.safetensors")):
        raise ValueError(f"{folder} has no .safetensors weights")
    return folder


def check_dataset_folder(folder: str | os.PathLike) -> Path:
    """The folder, if it is a Hub-native dataset: a README.md whose `configs:` data files all exist, no pickles.

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: naming the pickle files, a missing README/configs, or a data file pattern nothing matches.
    """
    folder = _checked_folder(folder)
    readme = folder / "README.md"
    if not readme.is_file():
        raise ValueError(f"{folder} has no README.md (the dataset card that lists the configs)")
    try:
        configs = DatasetCard.load(readme).data.to_dict().get("configs")
    except yaml.YAMLError as error:
        raise ValueError(f"{readme} has a YAML header that does not parse: {' '.join(str(error).split())}") from None
    if not configs:
        raise ValueError(f"{readme} lists no `configs:` in its YAML header")
    for config in configs:
        for pattern in _data_file_patterns(config.get("data_files")):
            if not any(folder.glob(pattern)):
                raise ValueError(f"config {config.get('config_name')!r} of {readme}: no file matches {pattern!r}")
    return folder


def _data_file_patterns(data_files) -> list[str]:
    """The path patterns of a config's `data_files` (a pattern, a list of them, or a list of `{split, path}`)."""
    entries = data_files if isinstance(data_files, list) else [data_files]
    patterns = []
    for entry in entries:
        paths = entry.get("path") if isinstance(entry, dict) else entry
        patterns.extend(paths if isinstance(paths, list) else [paths])
    return [pattern for pattern in patterns if pattern]


def _upload(
    folder: Path, repo_id: str, repo_type: str, private: bool, token: str | None, commit_message: str
) -> CommitInfo:
    api = HfApi(token=token)
    repo_id = api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True).repo_id
    return api.upload_folder(folder_path=folder, repo_id=repo_id, repo_type=repo_type, commit_message=commit_message)


def push_model_folder(
    folder: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload InstructMol model",
) -> CommitInfo:
    """Uploads a saved model folder (what `save_instructmol` or `save_pretrained` wrote) to a model repository.

    Args:
        folder: the saved folder; it must hold safetensors weights and no pickle-based file.
        repo_id: `namespace/name` (or `name` for the token's user); created if it does not exist.
        private: create the repository private (an existing repository keeps its visibility).
        token: a Hub token; None uses the saved login or `HF_TOKEN`.

    Returns:
        The commit (`.oid`, `.commit_url`, `.repo_url`).
    """
    return _upload(check_model_folder(folder), repo_id, "model", private, token, commit_message)


def push_adapter_folder(
    folder: str | os.PathLike,
    repo_id: str,
    base_model_repo_id: str,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload InstructMol adapter",
) -> CommitInfo:
    """Uploads a PEFT adapter folder (e.g. a stage-2 `trl sft` output) to a model repository.

    A PEFT run records its base model as the path it was given, usually a local stage-1 folder that nobody
    else has; the uploaded `adapter_config.json` names `base_model_repo_id` instead, so that
    `PeftModel.from_pretrained(AutoModel.from_pretrained(base), repo_id)` and
    `AutoModel.from_pretrained(repo_id, trust_remote_code=True)` work anywhere. The local folder is not modified.
    """
    folder = check_model_folder(folder)
    if not (folder / ADAPTER_CONFIG).is_file():
        raise ValueError(f"{folder} has no {ADAPTER_CONFIG}: it is not a PEFT adapter (use push_model_folder)")
    with tempfile.TemporaryDirectory(prefix="instructmol-push-") as staging:
        staged = Path(shutil.copytree(folder, Path(staging) / folder.name))
        adapter_config = json.loads((staged / ADAPTER_CONFIG).read_text(encoding="utf-8"))
        adapter_config["base_model_name_or_path"] = base_model_repo_id
        adapter_config_text = json.dumps(adapter_config, indent=2, sort_keys=True) + "\n"
        (staged / ADAPTER_CONFIG).write_text(adapter_config_text, encoding="utf-8")
        return _upload(staged, repo_id, "model", private, token, commit_message)


def push_dataset_folder(
    folder: str | os.PathLike,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload InstructMol dataset",
) -> CommitInfo:
    """Uploads a Hub-native dataset folder (Parquet files plus a README.md with `configs:`) to a dataset repository.

    `load_dataset(repo_id, config_name)` then reads it as it reads the local folder.
    """
    return _upload(check_dataset_folder(folder), repo_id, "dataset", private, token, commit_message)


def push_instructmol(
    model,
    processor,
    repo_id: str,
    private: bool = False,
    token: str | None = None,
    commit_message: str = "Upload InstructMol model",
    **card_fields,
) -> CommitInfo:
    """Publishes an in-memory model and processor as `save_instructmol` writes them: weights, the three code
    files, the full `auto_map`, processor files and the model card (rendered for `repo_id`).

    `model.push_to_hub` is not enough: with classes imported from the installed modules (rather than loaded
    with `trust_remote_code`) it uploads no code files, and it always replaces the model card with a generic one.

    Args:
        card_fields: passed to `write_model_card` (`base_model`, `graph_encoder`, `datasets`,
            `training_description`, `evaluation_table`).
    """
    from .build import save_instructmol  # imports torch and RDKit: only when a model is published

    card_fields.setdefault("repo_id", repo_id)
    with tempfile.TemporaryDirectory(prefix="instructmol-push-") as folder:
        save_instructmol(model, processor, folder, **card_fields)
        return push_model_folder(folder, repo_id, private=private, token=token, commit_message=commit_message)
