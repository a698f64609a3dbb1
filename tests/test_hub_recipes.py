"""The recipes' own Hub keys: datasets and models pulled by Hub id, checkpoints pushed with push_to_hub."""

import sys

import yaml

from tests_paths import REPO_ROOT

PULL_STAGE2 = """
    import sys, torch
    from transformers import AutoModel, AutoProcessor
    repo = sys.argv[1]
    model = AutoModel.from_pretrained(repo, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(repo, trust_remote_code=True)
    messages = [{"role": "user", "content": [{"type": "molecule", "molecule": "CCO"}, {"type": "text", "text": "gap?"}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    print("adapters:", model.peft_config.keys() if hasattr(model, "peft_config") else None)
    print("answer:", processor.post_process_generation(model.generate(**inputs, max_new_tokens=3), inputs["input_ids"].shape[1]))
"""


def recipe(name: str, tmp_path, **overrides):
    config = yaml.safe_load((REPO_ROOT / "recipes" / "quickstart" / name).read_text())
    config.update(per_device_train_batch_size=4, max_steps=1, logging_steps=1, **overrides)
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_stage1_and_stage2_recipes_read_and_write_the_hub(client, hub, tiny_model_dir, tmp_path):
    client.run_command([sys.executable, str(REPO_ROOT / "datasets" / "quickstart.py"), "--output", str(tmp_path / "data"),
                        "--num-molecules", "24", "--num-qm9", "40", "--num-proc", "1", "--push-to-hub", "test-user/quickstart"])
    client.run_command(["trl", "sft", "--config", recipe(
        "stage1.yaml", tmp_path, model_name_or_path=str(tiny_model_dir), dataset_name="test-user/quickstart",
        output_dir=str(tmp_path / "stage1"), push_to_hub=True, hub_model_id="test-user/instructmol-stage1")])
    stage1_files = hub.files("test-user/instructmol-stage1", "model")
    assert {"model.safetensors", "modeling_instructmol.py", "processing_instructmol.py", "featurization_instructmol.py",
            "configuration_instructmol.py", "processor_config.json", "config.json"} <= set(stage1_files)

    # Stage 2 starts from the stage-1 model by its Hub id, and pushes its adapter.
    client.run_command(["trl", "sft", "--config", recipe(
        "stage2.yaml", tmp_path, model_name_or_path="test-user/instructmol-stage1", dataset_name="test-user/quickstart",
        output_dir=str(tmp_path / "stage2"), push_to_hub=True, hub_model_id="test-user/instructmol-stage2")])
    stage2_files = set(hub.files("test-user/instructmol-stage2", "model"))
    assert {"adapter_config.json", "adapter_model.safetensors"} <= stage2_files
    assert "model.safetensors" not in stage2_files

    output = client.run(PULL_STAGE2, "test-user/instructmol-stage2")
    assert "adapters: dict_keys(['default'])" in output and "answer: [" in output
