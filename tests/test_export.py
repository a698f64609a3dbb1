"""The language model exported as a plain causal-LM folder, and the one embedding path that serving runs through it."""

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from instructmol.cli import main
from instructmol.export import export_language_model

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
             (tiny_model_dir, tiny_model_dir / "llm", "lies inside the input --model"),
             (tiny_model_dir, occupied, "already holds files")]
    for model, output, message in cases:
        assert main(["export", "--model", str(model), "--output", str(output)]) == 2
        [line] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("instructmol export")]
        assert message in line, line
    assert (occupied / "notes.md").read_text() == "mine" and not (tiny_model_dir / "llm").exists()

