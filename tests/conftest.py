"""Shared fixtures: tiny InstructMol models built from configs, never downloaded."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests_paths import REPO_ROOT

# Tests never reach the Hub: fail fast instead of waiting on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# DeepSpeed runs on its CPU accelerator here (named, so it prints no warning each time it guesses); the ops it
# compiles at first use go to the checkout's ignored build folder, compiled once and reused by later runs.
os.environ.setdefault("DS_ACCELERATOR", "cpu")
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(REPO_ROOT / "build" / "torch_extensions"))
# The vLLM environment tests/setup.sh makes in the checkout, unless INSTRUCTMOL_VLLM_PYTHON names another.
if (REPO_ROOT / ".venv-vllm" / "bin" / "python").is_file():
    os.environ.setdefault("INSTRUCTMOL_VLLM_PYTHON", str(REPO_ROOT / ".venv-vllm" / "bin" / "python"))

from hub_client import FAKE_TOKEN, HubClient  # noqa: E402
from hub_server import LoopbackHub  # noqa: E402
from tiny_models import build_tiny_llm, build_tiny_tokenizer, save_tiny_llm  # noqa: E402

from instructmol.wordnet import WordNetUnavailableError, ensure_wordnet  # noqa: E402


def copy_of_the_working_tree(destination: Path) -> Path:
    """The files git would commit (tracked and not ignored), links kept as links: a wheel built in place would also
    pack whatever an earlier build left in `build/lib`."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT,
                            check=True, capture_output=True, text=True).stdout.split("\0")
    for name in filter(None, listed):
        source = REPO_ROOT / name
        if not os.path.lexists(source):  # deleted in the working tree, not yet in the index
            continue
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, target)
    return destination


@pytest.fixture(scope="session")
def package_wheel(tmp_path_factory) -> Path:
    """The project's wheel, built from a copy of the working tree as `pip wheel` builds it for PyPI."""
    source = copy_of_the_working_tree(tmp_path_factory.mktemp("source"))
    folder = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(folder), str(source)],
        check=True, capture_output=True,
    )
    return next(folder.glob("instructmol_hf-*.whl"))


@pytest.fixture(scope="session")
def installed_wheel(package_wheel, tmp_path_factory) -> Path:
    """A folder holding the wheel installed (`pip install --target`, no dependencies): put it first on PYTHONPATH
    and run from outside the checkout to use the package as a user who installed it has it."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(package_wheel)],
                   check=True, capture_output=True)
    return target


@pytest.fixture(scope="session")
def tiny_llm_dir(tmp_path_factory) -> Path:
    """A tiny Llama + word-level tokenizer saved as an LLM repository would hold them."""
    return save_tiny_llm(tmp_path_factory.mktemp("tiny-llm"))


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A ready-to-train InstructMol folder built from the tiny LLM and a random GIN (what `instructmol init` writes)."""
    from instructmol.build import build_instructmol, save_instructmol

    tokenizer = build_tiny_tokenizer()
    model, processor = build_instructmol(build_tiny_llm(len(tokenizer)), tokenizer)
    return save_instructmol(model, processor, tmp_path_factory.mktemp("tiny-instructmol"))


@pytest.fixture(scope="session")
def tiny_data_dir(tmp_path_factory) -> Path:
    """The quickstart builder (real RDKit molecules, real QM9), at a tiny size."""
    output = tmp_path_factory.mktemp("data") / "quickstart"
    subprocess.run(
        [sys.executable, str(REPO_ROOT / "datasets" / "quickstart.py"), "--output", str(output),
         "--num-molecules", "48", "--num-qm9", "80", "--num-proc", "1"],
        check=True, capture_output=True,
    )
    return output


@pytest.fixture
def tiny_model(tiny_model_dir):
    from modeling_instructmol import InstructMolForConditionalGeneration

    return InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir).eval()


@pytest.fixture
def tiny_processor(tiny_model_dir):
    from processing_instructmol import InstructMolProcessor

    # trust_remote_code: loading the tokenizer reads config.json, whose auto_map names our own code.
    return InstructMolProcessor.from_pretrained(tiny_model_dir, trust_remote_code=True)


@pytest.fixture
def hub(tmp_path):
    """A loopback Hub on 127.0.0.1 that accepts pushes authenticated with FAKE_TOKEN."""
    server = LoopbackHub(tmp_path / "hub-storage", token=FAKE_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture
def client(hub, tmp_path) -> HubClient:
    return HubClient(hub, tmp_path)


@pytest.fixture(scope="module")
def wordnet_available():
    """WordNet for METEOR (Debian's packages copied into an NLTK folder, or NLTK's own download)."""
    try:
        ensure_wordnet()
    except WordNetUnavailableError as error:
        pytest.skip(f"METEOR needs WordNet, which is not installed: {error}")
