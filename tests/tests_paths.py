"""Paths the tests read: the repository, and the shared real-data folder beside it."""

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REMOTE_CODE_FILES = [
    REPO_ROOT / name for name in ("configuration_instructmol.py", "modeling_instructmol.py", "processing_instructmol.py",
                                 "featurization_instructmol.py")
]


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; skips the test when it is absent (a user's clone has no such folder)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent: the shared real-data folder exists only in the project's workspace")
    return path
