"""Both training stages through TRL's own `trl sft` command line, on a tiny model and tiny real datasets."""

import json
import math
import re
import subprocess
import sys

import pytest
import torch
import yaml
from datasets import load_dataset
from safetensors.torch import load_file
from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from modeling_instructmol import InstructMolForConditionalGeneration
from launch import QUICKSTART_RECIPES, trl_sft, two_process_trl_sft
from tests_paths import REPO_ROOT


@pytest.fixture(scope="module")
def stage1_dir(tiny_model_dir, tiny_data_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("stage1")
    trl_sft("stage1.yaml", work, model_name_or_path=tiny_model_dir, dataset_name=tiny_data_dir,
            output_dir=work / "out", max_steps=2)
    return work / "out"


@pytest.fixture(scope="module")
def stage2_dir(stage1_dir, tiny_data_dir, tmp_path_factory):
    work = tmp_path_factory.mktemp("stage2")
    trl_sft("stage2.yaml", work, model_name_or_path=stage1_dir, dataset_name=tiny_data_dir,
            output_dir=work / "out", max_steps=2, learning_rate=0.05)
    return work / "out"


def test_stage1_changes_only_the_projector(tiny_model_dir, stage1_dir):
    before = load_file(tiny_model_dir / "model.safetensors")
    after = load_file(stage1_dir / "model.safetensors")
    assert before.keys() == after.keys()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed == {"model.projector.linear_1.weight", "model.projector.linear_1.bias"}
    # BatchNorm buffers of the frozen GIN are among the byte-identical tensors.
    assert any("running_mean" in name for name in before) and not any("running" in name for name in changed)
    config = json.loads((stage1_dir / "config.json").read_text())
    assert config["freeze_llm"] and config["auto_map"]["AutoModel"].endswith("InstructMolForConditionalGeneration")


def test_stage2_adapter_holds_llm_lora_and_the_projector_only(stage2_dir, stage1_dir):
    adapter = load_file(stage2_dir / "adapter_model.safetensors")
    lora = {name for name in adapter if "lora_" in name}
    targets = yaml.safe_load((QUICKSTART_RECIPES / "stage2.yaml").read_text())["lora_target_modules"]
    assert lora and all(".language_model." in name for name in lora)
    assert {re.search(r"\.(\w+)\.lora_[AB]\.", name).group(1) for name in lora} == set(targets)
    assert set(adapter) - lora == {"base_model.model.model.projector.linear_1.weight", "base_model.model.model.projector.linear_1.bias"}
    assert not any("graph_encoder" in name for name in adapter)
    assert json.loads((stage2_dir / "adapter_config.json").read_text())["base_model_name_or_path"] == str(stage1_dir)


def test_labels_mask_prompt_and_molecule_tokens(tiny_processor, tiny_data_dir):
    """TRL's own multimodal collator with our processor: only completion tokens are learned."""
    rows = list(load_dataset(str(tiny_data_dir), "gap_g", split="train").select(range(8)))
    collator = DataCollatorForVisionLanguageModeling(tiny_processor, completion_only_loss=True)
    batch = collator([{key: row[key] for key in ("images", "prompt", "completion")} for row in rows])
    mol_id = tiny_processor.mol_token_id
    learned = batch["labels"] != -100
    assert not learned[batch["input_ids"] == mol_id].any()
    assert (batch["input_ids"] == mol_id).sum() == batch["atom_features"].shape[0] > 0
    for row, labels, ids in zip(rows, batch["labels"], batch["input_ids"]):
        answer = tiny_processor.decode(ids[labels != -100], skip_special_tokens=True)
        assert answer.replace(" ", "") == row["completion"][0]["content"].replace(" ", "")


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tiny_model_dir, tiny_data_dir, tmp_path):
    common = dict(model_name_or_path=tiny_model_dir, dataset_name=tiny_data_dir, lr_scheduler_type="constant",
                  warmup_steps=0, learning_rate=0.01)
    trl_sft("stage1.yaml", tmp_path, output_dir=tmp_path / "straight", max_steps=6, **common)
    trl_sft("stage1.yaml", tmp_path, output_dir=tmp_path / "stopped", max_steps=3, save_strategy="steps", save_steps=3, **common)
    checkpoint = tmp_path / "stopped" / "checkpoint-3"
    assert (checkpoint / "optimizer.pt").is_file()
    trl_sft("stage1.yaml", tmp_path, output_dir=tmp_path / "stopped", max_steps=6, resume_from_checkpoint=checkpoint, **common)
    straight = load_file(tmp_path / "straight" / "model.safetensors")
    resumed = load_file(tmp_path / "stopped" / "model.safetensors")
    changed = [name for name in straight if "projector" in name]
    assert not torch.equal(straight[changed[0]], load_file(tiny_model_dir / "model.safetensors")[changed[0]])
    for name in straight:
        torch.testing.assert_close(resumed[name], straight[name], rtol=0, atol=1e-7)


def logged_epochs(stdout: str) -> list[float]:
    return [float(value) for value in re.findall(r"'epoch': '([0-9.]+)'", stdout)]


def two_process_stage1(tmp_path, **overrides) -> subprocess.CompletedProcess:
    launch_args = ["--accelerate_config", str(REPO_ROOT / "recipes" / "accelerate" / "cpu_2proc.yaml")]
    return two_process_trl_sft("stage1.yaml", tmp_path, launch_args, timeout=180, **overrides)


def test_two_cpu_processes_train_and_save_a_loadable_model(tiny_model_dir, tiny_data_dir, tmp_path):
    one = trl_sft("stage1.yaml", tmp_path, model_name_or_path=tiny_model_dir, dataset_name=tiny_data_dir,
                  output_dir=tmp_path / "one", max_steps=2)
    two = two_process_stage1(tmp_path, model_name_or_path=tiny_model_dir, dataset_name=tiny_data_dir,
                             output_dir=tmp_path / "two", max_steps=2)
    # Each step reads 4 rows per process; an epoch is as many steps as it takes to read every train row once
    # (the last step's batch may be short), so one step is 1/ceil(rows / (4 x processes)) of an epoch.
    rows = load_dataset(str(tiny_data_dir), "alignment_g", split="train").num_rows
    assert logged_epochs(one.stdout)[0] == pytest.approx(1 / math.ceil(rows / 4), abs=1e-4)
    assert logged_epochs(two.stdout)[0] == pytest.approx(1 / math.ceil(rows / 8), abs=1e-4)
    model = InstructMolForConditionalGeneration.from_pretrained(tmp_path / "two")
    assert model.config.freeze_llm and (tmp_path / "two" / "model.safetensors").is_file()


def test_merge_gives_the_same_logits_as_base_plus_adapter(stage2_dir, tiny_processor, tmp_path):
    from peft import PeftModel
    from transformers import AutoModel

    subprocess.run([sys.executable, "-m", "instructmol.cli", "merge", "--adapter", str(stage2_dir), "--output", str(tmp_path / "merged")],
                   check=True, capture_output=True)
    merged = AutoModel.from_pretrained(tmp_path / "merged", trust_remote_code=True).eval()
    base_path = json.loads((stage2_dir / "adapter_config.json").read_text())["base_model_name_or_path"]
    plain_base = InstructMolForConditionalGeneration.from_pretrained(base_path).eval()
    with_adapter = PeftModel.from_pretrained(InstructMolForConditionalGeneration.from_pretrained(base_path), str(stage2_dir)).eval()
    inputs = tiny_processor(text=["USER: <mol>\nwhat is the gap? ASSISTANT: 0.25"], molecules=[["c1ccccc1O"]], return_tensors="pt")
    with torch.no_grad():
        expected, actual = with_adapter(**inputs).logits, merged(**inputs).logits
        assert not torch.allclose(expected, plain_base(**inputs).logits, atol=1e-4)  # the adapter is no no-op
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-5)
    assert {path.name for path in (tmp_path / "merged").glob("*.py")} == {
        "configuration_instructmol.py", "modeling_instructmol.py", "processing_instructmol.py",
        "featurization_instructmol.py"}
    assert "adapter_config.json" not in {path.name for path in (tmp_path / "merged").iterdir()}


@pytest.fixture(scope="module")
def string_only_data_dir(tmp_path_factory):
    """QM9 gap rows in all three variants (real QM9 from qm9pack), the `_s` config among them."""
    output = tmp_path_factory.mktemp("data") / "qm9"
    subprocess.run([sys.executable, str(REPO_ROOT / "datasets" / "qm9.py"), "--output", str(output), "--origin",
                    "qm9pack", "--limit", "60", "--tasks", "gap", "--num-proc", "1"], check=True, capture_output=True)
    return output


def test_a_text_only_baseline_trains_on_a_plain_llm_and_is_evaluated(tiny_llm_dir, string_only_data_dir, tmp_path):
    rows = load_dataset(str(string_only_data_dir), "gap_s", split="train")
    assert "images" not in rows.column_names and not any("<mol>" in row["prompt"][0]["content"] for row in rows)
    # The baseline recipe itself, on the tiny plain Llama and the tiny data, two steps on the CPU.
    trl_sft("qm9.yaml", tmp_path, recipes=REPO_ROOT / "recipes" / "baselines", model_name_or_path=tiny_llm_dir,
            chat_template_path=str(REPO_ROOT / "recipes" / "templates" / "vicuna_v1.jinja"),
            datasets=[{"path": str(string_only_data_dir), "name": "gap_s", "split": "train",
                       "columns": ["prompt", "completion"]}],
            model_init_kwargs={"dtype": "float32"}, output_dir=tmp_path / "baseline", max_steps=2, use_cpu=True,
            bf16=False, activation_checkpointing=False, dataloader_num_workers=0, save_strategy="no", lora_r=4)
    adapter = tmp_path / "baseline"
    assert (adapter / "adapter_model.safetensors").is_file()
    assert json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tiny_llm_dir)
    result = subprocess.run(
        [sys.executable, "-m", "instructmol.cli", "evaluate", "--model", str(adapter), "--dataset",
         str(string_only_data_dir), "--config", "gap_s", "--output", str(tmp_path / "eval"), "--limit", "4",
         "--max-new-tokens", "4"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    assert len(records) == 4 and all("<mol>" not in record["prompt"] for record in records)
    # The plain LLM refuses the graph configs, naming what it can read.
    refused = subprocess.run(
        [sys.executable, "-m", "instructmol.cli", "evaluate", "--model", str(adapter), "--dataset",
         str(string_only_data_dir), "--config", "gap_g", "--output", str(tmp_path / "eval-g"), "--limit", "2"],
        capture_output=True, text=True)
    assert refused.returncode == 2 and "is a plain language model: it reads text only" in refused.stderr
