"""Getting source files: local paths, http(s) URLs and Hub files, and checking their columns."""

import json
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd

from datasets import DownloadManager
from huggingface_hub import hf_hub_download


def hub_dataset_file(repo_id: str, path_in_repo: str) -> str:
    """The `hf://datasets/...` address of a file in a Hub dataset repository, as `fetch` takes it."""
    return f"hf://datasets/{repo_id}/{path_in_repo}"


def is_remote(source: str) -> bool:
    return source.startswith("hf://") or urlparse(source).scheme in ("http", "https")


def fetch(source: str) -> Path:
    """A local path for `source`: a local file or folder, an http(s) URL, or `hf://datasets/<owner>/<name>/<path>`.

    Remote files are downloaded once into the Hugging Face caches (datasets' for URLs, huggingface_hub's for Hub
    files) and reused after that.
    """
    if source.startswith("hf://datasets/"):
        owner, name, *path_parts = source.removeprefix("hf://datasets/").split("/")
        if not path_parts:
            raise ValueError(f"{source!r} names no file; expected hf://datasets/<owner>/<name>/<path in repo>")
        return Path(hf_hub_download(f"{owner}/{name}", "/".join(path_parts), repo_type="dataset"))
    if urlparse(source).scheme in ("http", "https"):
        return Path(DownloadManager().download(source))
    path = Path(source).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"source {source!r} does not exist")
    return path


def require_columns(columns: Iterable[str], required: Iterable[str], source: str) -> None:
    """Raises ValueError naming the required columns a source lacks (and the columns it has)."""
    present = list(columns)
    missing = [column for column in required if column not in present]
    if missing:
        raise ValueError(f"{source} lacks the column(s) {missing}; it has {present}")


def find_file(folder: Path, file_name: str) -> Path:
    """The one file called `file_name` anywhere under `folder` (layouts differ between mirrors of a source)."""
    matches = sorted(folder.rglob(file_name))
    if len(matches) != 1:
        found = [str(match) for match in matches] or "none"
        raise FileNotFoundError(f"expected exactly one {file_name!r} under {folder}, found {found}")
    return matches[0]


def read_table(path: str | Path, **read_csv_kwargs) -> pd.DataFrame:
    """`pandas.read_csv`, with a ValueError naming the file when it is empty, not UTF-8 text or not a table."""
    try:
        return pd.read_csv(path, encoding="utf-8", **read_csv_kwargs)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty: expected a table with a header line") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path} is not UTF-8 text (byte {error.object[error.start]:#04x} at position "
                         f"{error.start})") from None
    except pd.errors.ParserError as error:
        raise ValueError(f"{path} is not a readable table: {' '.join(str(error).split())}") from None


def read_json(raw: bytes, location: str, **json_kwargs):
    """JSON from a file's bytes, with a ValueError naming the file when it is not UTF-8 JSON."""
    try:
        return json.loads(raw.decode("utf-8"), **json_kwargs)
    except UnicodeDecodeError as error:
        raise ValueError(f"{location} is not UTF-8 text (byte {error.object[error.start]:#04x} at position "
                         f"{error.start})") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{location} is not valid JSON: {error}") from None
