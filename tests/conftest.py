"""Shared fixtures: tiny InstructMol models built from configs, never downloaded."""

import os
from pathlib import Path

import pytest

# Tests never reach the Hub: fail fast instead of waiting on the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from hub_client import FAKE_TOKEN, HubClient  # noqa: E402
from hub_server import LoopbackHub  # noqa: E402
from tiny_models import build_tiny_llm, build_tiny_tokenizer, save_tiny_llm  # noqa: E402

from instructmol.wordnet import WordNetUnavailableError, ensure_wordnet  # noqa: E402


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
