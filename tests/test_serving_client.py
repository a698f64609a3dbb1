"""`InstructMolClient` against a stand-in for vLLM's OpenAI server (no vLLM needed): what it sends, how many requests
it keeps in flight, and how a refusal or another model reads."""

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from instructmol.engines import Decoding
from instructmol.evaluation.generation import prompt_inputs
from instructmol.loading import load_prompt_encoder
from instructmol.serving import InstructMolClient, export_cache_folder

REFUSED_SEED = 102  # the third prompt of a run seeded with 100


class StandInVLLM(BaseHTTPRequestHandler):
    """Answers /v1/models with one model exported from `root`, and each completion with the token ids of "carbon"
    after a pause (so that requests overlap), refusing the one seeded with REFUSED_SEED as vLLM refuses: a JSON
    error object."""

    def do_GET(self):
        self.reply(200, {"data": [{"id": "served-name", "root": str(self.server.root)}]})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        with self.server.lock:
            self.server.in_flight += 1
            self.server.most_in_flight = max(self.server.most_in_flight, self.server.in_flight)
        time.sleep(0.2)
        with self.server.lock:
            self.server.in_flight -= 1
        if body.get("seed") == REFUSED_SEED:
            self.reply(400, {"error": {"message": "This model's maximum context length is 8 tokens."}})
        else:
            self.reply(200, {"choices": [{"token_ids": self.server.answer_ids}]})

    def reply(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def stand_in(tiny_model_dir, tiny_processor):
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInVLLM)
    server.root, server.bodies, server.lock = export_cache_folder(str(tiny_model_dir)), [], threading.Lock()
    server.in_flight = server.most_in_flight = 0
    server.answer_ids = tiny_processor.tokenizer("carbon", add_special_tokens=False)["input_ids"]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def conversations(count: int) -> list[list[dict]]:
    return [[{"role": "user", "content": [{"type": "molecule", "molecule": "C" * (index + 1)},
                                          {"type": "text", "text": "what is it?"}]}] for index in range(count)]


def test_the_client_keeps_its_bound_of_requests_in_flight_and_sends_what_vllm_reads(stand_in, tiny_model_dir):
    client = InstructMolClient(f"http://127.0.0.1:{stand_in.server_port}", str(tiny_model_dir), max_concurrency=2)
    assert client.generate(conversations(6), Decoding(max_new_tokens=5)) == ["carbon"] * 6
    assert stand_in.most_in_flight == 2
    body = stand_in.bodies[0]
    assert body["model"] == "served-name" and body["max_tokens"] == 5 and body["temperature"] == 0.0
    assert body["logit_bias"] == {str(client.encoder.config.mol_token_id): -100} and "seed" not in body
    assert body["stop_token_ids"] == [client.encoder.generation_config.eos_token_id]


def test_a_refused_prompt_is_named_with_the_servers_reason(stand_in, tiny_model_dir):
    client = InstructMolClient(f"http://127.0.0.1:{stand_in.server_port}", str(tiny_model_dir))
    with pytest.raises(ValueError, match=rf"the vLLM server at http://127.0.0.1:{stand_in.server_port} refused row "
                       "'c': This model's maximum context length is 8 tokens."):
        client.generate(conversations(4), Decoding(max_new_tokens=5, sample=True, temperature=0.7, seed=100),
                        labels=["row 'a'", "row 'b'", "row 'c'", "row 'd'"])


def test_a_server_of_another_model_is_refused(stand_in, tiny_model_dir, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    for path in tiny_model_dir.iterdir():
        (other / path.name).write_bytes(path.read_bytes())
    (other / "generation_config.json").write_text(
        (tiny_model_dir / "generation_config.json").read_text().replace("{", '{"top_k": 3,', 1))
    with pytest.raises(ValueError, match=f"serves 'served-name', not {other} as its files are now: start it with "
                       f"`instructmol serve --model {other}`"):
        InstructMolClient(f"http://127.0.0.1:{stand_in.server_port}", str(other))


def test_the_client_of_a_server_that_is_not_there_names_the_url(tiny_model_dir):
    with pytest.raises(ConnectionError, match=r"the vLLM server at http://127.0.0.1:9 cannot be reached \(the model list\)"):
        InstructMolClient("http://127.0.0.1:9", str(tiny_model_dir))


def test_the_prompt_encoder_reads_no_layer_of_the_language_model_and_embeds_as_the_model_does(tiny_model_dir, tiny_model,
                                                                                             tiny_processor):
    reports = []
    listener = logging.Handler()
    listener.emit = lambda record: reports.append(record.getMessage())
    logging.getLogger("transformers").addHandler(listener)
    try:
        encoder = load_prompt_encoder(str(tiny_model_dir), device="cpu")
    finally:
        logging.getLogger("transformers").removeHandler(listener)
    assert len(encoder.model.language_model.layers) == 0 and len(tiny_model.model.language_model.layers) == 2
    assert not any("UNEXPECTED" in report for report in reports)  # the unread layers are expected, not reported
    batch = prompt_inputs(tiny_processor, conversations(3), "cpu")
    with torch.no_grad():
        for ours, whole in zip(encoder.prompt_embeddings(**batch), tiny_model.prompt_embeddings(**batch)):
            torch.testing.assert_close(ours, whole, rtol=0, atol=0)


def test_the_prompt_encoder_refuses_an_adapter_folder_naming_merge(tmp_path):
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(ValueError, match="is a stage-2 adapter folder: merge it first"):
        load_prompt_encoder(str(tmp_path))
