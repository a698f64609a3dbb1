"""Round trips through a loopback Hub (issue 6): what one process pushes, a fresh process pulls, unchanged.

Every client step runs in its own Python process whose huggingface_hub, transformers, datasets and peft talk
to the loopback server (`HF_ENDPOINT`), with an empty cache of its own: the real client code, nothing mocked.
The test process only serves the Hub, builds the local references and compares.
"""

import json
from pathlib import Path

import pytest
import torch

from hub_client import FAKE_TOKEN
from instructmol.data import ROW_FEATURES, conversation_row

MESSAGES = [{"role": "user", "content": [{"type": "molecule", "molecule": "CC(=O)Oc1ccccc1C(=O)O"},
                                         {"type": "text", "text": "describe this molecule"}]}]
REMOTE_CODE_FILES = {"configuration_instructmol.py", "modeling_instructmol.py", "processing_instructmol.py",
                     "featurization_instructmol.py"}
AUTO_MAP_KEYS = {"AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoModelForImageTextToText", "AutoModelForMultimodalLM"}


def local_logits(model, processor) -> dict:
    inputs = processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=True, return_dict=True,
                                           return_tensors="pt")
    with torch.no_grad():
        return {"input_ids": inputs["input_ids"], "logits": model(**inputs).logits}


# A user on another machine: the model and processor of a Hub repository, with the code that repository holds.
PULL_MODEL = f"""
    import sys, torch
    from transformers import AutoModel, AutoProcessor
    repo, output = sys.argv[1:]
    model = AutoModel.from_pretrained(repo, trust_remote_code=True).eval()
    processor = AutoProcessor.from_pretrained(repo, trust_remote_code=True)
    inputs = processor.apply_chat_template({MESSAGES!r}, add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    torch.save({{"input_ids": inputs["input_ids"], "logits": logits, "model_module": type(model).__module__,
                "processor_module": type(processor).__module__}}, output)
"""

# How a user publishes a saved folder: the objects' own push_to_hub, or the folder as it is.
PUSH_MODEL = {
    "push_to_hub": """
        import sys
        from transformers import AutoModel, AutoProcessor
        folder, repo = sys.argv[1:]
        AutoModel.from_pretrained(folder, trust_remote_code=True).push_to_hub(repo)
        AutoProcessor.from_pretrained(folder, trust_remote_code=True).push_to_hub(repo)
    """,
    "upload_folder": """
        import sys
        from huggingface_hub import HfApi
        folder, repo = sys.argv[1:]
        api = HfApi()
        api.create_repo(repo)
        api.upload_folder(folder_path=folder, repo_id=repo)
    """,
}

# Classes imported from the installed modules: there, model.push_to_hub would upload no code at all.
PUSH_INSTRUCTMOL = """
    import sys
    from modeling_instructmol import InstructMolForConditionalGeneration
    from processing_instructmol import InstructMolProcessor
    from instructmol.hub import push_instructmol
    folder, repo = sys.argv[1:]
    model = InstructMolForConditionalGeneration.from_pretrained(folder)
    processor = InstructMolProcessor.from_pretrained(folder, trust_remote_code=True)
    push_instructmol(model, processor, repo, base_model="HuggingFaceTB/SmolLM2-135M-Instruct")
"""


def push_then_check_a_fresh_pull(client, hub, push_script, folder, repo, local, output) -> None:
    """Pushes `folder` with `push_script`, checks the repository, and checks a fresh pull's logits are `local`'s."""
    client.run(push_script, folder, repo)
    pushed = hub.files(repo)
    assert REMOTE_CODE_FILES | {"model.safetensors", "config.json", "processor_config.json", "tokenizer.json",
                                "chat_template.jinja", "README.md"} <= set(pushed)
    assert hub.stored_files(repo)["model.safetensors"].is_lfs
    assert set(json.loads(pushed["config.json"])["auto_map"]) == AUTO_MAP_KEYS
    assert "AutoProcessor" in json.loads(pushed["processor_config.json"])["auto_map"]

    client.run(PULL_MODEL, repo, output)
    pulled = torch.load(output)
    # The code came from the repository (transformers' module cache), not from the installed modules.
    assert pulled["model_module"].startswith("transformers_modules.")
    assert pulled["processor_module"].startswith("transformers_modules.")
    assert torch.equal(pulled["input_ids"], local["input_ids"])
    assert torch.equal(pulled["logits"], local["logits"])


@pytest.mark.parametrize("push_script", PUSH_MODEL.values(), ids=PUSH_MODEL.keys())
def test_model_push_then_fresh_pull_gives_identical_logits(
    push_script, client, hub, tiny_model_dir, tiny_model, tiny_processor, tmp_path
):
    local = local_logits(tiny_model, tiny_processor)
    push_then_check_a_fresh_pull(client, hub, push_script, tiny_model_dir, "test-user/tiny", local, tmp_path / "out.pt")


def test_push_instructmol_publishes_code_weights_and_the_card(
    client, hub, tiny_model_dir, tiny_model, tiny_processor, tmp_path
):
    repo = "test-user/tiny-carded"
    local = local_logits(tiny_model, tiny_processor)
    push_then_check_a_fresh_pull(client, hub, PUSH_INSTRUCTMOL, tiny_model_dir, repo, local, tmp_path / "out.pt")
    card = hub.files(repo)["README.md"].decode()
    assert f'AutoModel.from_pretrained("{repo}", trust_remote_code=True)' in card
    assert "base_model: HuggingFaceTB/SmolLM2-135M-Instruct" in card


def stage2_adapter(model, seed: int = 0):
    """A stage-2 style LoRA adapter on the LLM's attention, projector trained too, with weights that matter."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                      modules_to_save=["projector"])
    peft_model = get_peft_model(model, lora)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_" in name or "modules_to_save" in name:
                parameter.add_(0.2 * torch.randn(parameter.shape, generator=generator))
    return peft_model.eval()


PUSH_BASE_AND_ADAPTER_FOLDERS = """
    import sys
    from instructmol.hub import push_adapter_folder, push_model_folder
    base_folder, base_repo, adapter_folder, adapter_repo = sys.argv[1:]
    push_model_folder(base_folder, base_repo)
    push_adapter_folder(adapter_folder, adapter_repo, base_model_repo_id=base_repo)
"""

# The user's way: the base model from the Hub, LoRA on it (its trained weights: the local adapter's), push_to_hub.
PUSH_BASE_THEN_ADAPTER_WITH_PUSH_TO_HUB = """
    import sys
    from pathlib import Path
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict
    from safetensors.torch import load_file
    from transformers import AutoModel
    from instructmol.hub import push_model_folder
    base_folder, base_repo, adapter_folder, adapter_repo = sys.argv[1:]
    push_model_folder(base_folder, base_repo)
    base = AutoModel.from_pretrained(base_repo, trust_remote_code=True)
    adapter = get_peft_model(base, LoraConfig.from_pretrained(adapter_folder))
    set_peft_model_state_dict(adapter, load_file(Path(adapter_folder) / "adapter_model.safetensors"))
    adapter.push_to_hub(adapter_repo)
"""

PULL_ADAPTER = f"""
    import sys, torch
    from peft import PeftModel
    from transformers import AutoModel, AutoProcessor
    base_repo, adapter_repo, output = sys.argv[1:]
    processor = AutoProcessor.from_pretrained(base_repo, trust_remote_code=True)
    inputs = processor.apply_chat_template({MESSAGES!r}, add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt")
    with_peft = PeftModel.from_pretrained(AutoModel.from_pretrained(base_repo, trust_remote_code=True), adapter_repo)
    # transformers' PEFT integration: a repository holding only the adapter names its base in adapter_config.json.
    from_adapter_repo = AutoModel.from_pretrained(adapter_repo, trust_remote_code=True)
    with torch.no_grad():
        logits = {{"peft": with_peft.eval()(**inputs).logits, "auto": from_adapter_repo.eval()(**inputs).logits}}
    torch.save(logits, output)
"""


@pytest.mark.parametrize(
    "push_script", [PUSH_BASE_AND_ADAPTER_FOLDERS, PUSH_BASE_THEN_ADAPTER_WITH_PUSH_TO_HUB],
    ids=["push_adapter_folder", "peft_push_to_hub"],
)
def test_stage2_adapter_push_then_fresh_pull_gives_identical_logits(
    push_script, client, hub, tiny_model_dir, tiny_model, tiny_processor, tmp_path
):
    base_logits = local_logits(tiny_model, tiny_processor)["logits"]
    adapter = stage2_adapter(tiny_model)
    adapted_logits = local_logits(adapter, tiny_processor)["logits"]
    assert not torch.allclose(adapted_logits, base_logits, atol=1e-3)  # the adapter is no no-op
    adapter.save_pretrained(tmp_path / "adapter")  # records the local base folder, as a stage-2 run does
    base_repo, adapter_repo = "test-user/instructmol-stage1", "test-user/instructmol-stage2-lora"

    client.run(push_script, tiny_model_dir, base_repo, tmp_path / "adapter", adapter_repo)
    adapter_files = hub.files(adapter_repo)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= set(adapter_files)
    assert json.loads(adapter_files["adapter_config.json"])["base_model_name_or_path"] == base_repo
    local_config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert local_config["base_model_name_or_path"] == str(tiny_model_dir)  # the local folder is left as it was

    client.run(PULL_ADAPTER, base_repo, adapter_repo, tmp_path / "pulled.pt")
    pulled = torch.load(tmp_path / "pulled.pt")
    assert torch.equal(pulled["peft"], adapted_logits)
    assert torch.equal(pulled["auto"], adapted_logits)


CONFIGS = ("description_g", "bace_gs")
SPLITS = ("train", "test")


def dataset_rows(config: str, split: str) -> list[dict]:
    """Rows in the project's schema (every field a string, molecules in `images`)."""
    molecules = {"train": ["CCO", "c1ccccc1", "CC(=O)O"], "test": ["CN1C=NC2=C1C(=O)N(C(=O)N2C)C"]}[split]
    return [
        {
            **conversation_row(images=[smiles], instruction=f"{config}: what can you tell me about this molecule?",
                               row_id=f"{config}-{split}-{index}", task=config.rsplit("_", 1)[0],
                               target=f"answer {index} for {smiles}", graph_after=index % 2 == 1),
            "target": "Yes" if index % 2 else "No",
        }
        for index, smiles in enumerate(molecules)
    ]


def dataset_card(configs) -> str:
    lines = ["---", "license: cc-by-4.0", "configs:"]
    for config in configs:
        lines += [f"- config_name: {config}", "  data_files:"]
        lines += [f"  - split: {split}\n    path: data/{config}/{split}-*" for split in SPLITS]
    return "\n".join([*lines, "---", "", "# Tiny InstructMol dataset", ""])


@pytest.fixture
def dataset_folder(tmp_path) -> Path:
    """A Hub-native dataset folder: Parquet under data/<config>/ and a README.md listing the configs."""
    from datasets import Dataset

    folder = tmp_path / "dataset"
    for config in CONFIGS:
        for split in SPLITS:
            Dataset.from_list(dataset_rows(config, split), features=ROW_FEATURES).to_parquet(
                folder / "data" / config / f"{split}-00000-of-00001.parquet"
            )
    (folder / "README.md").write_text(dataset_card(CONFIGS))
    return folder


PUSH_DATASET = {
    "push_to_hub": f"""
        import sys
        from datasets import load_dataset
        folder, repo = sys.argv[1:]
        for config in {CONFIGS!r}:
            # data_dir: push_to_hub alone would write <config>/, not the project's data/<config>/
            load_dataset(folder, config).push_to_hub(repo, config_name=config, data_dir=f"data/{{config}}")
    """,
    "upload_folder": """
        import sys
        from huggingface_hub import HfApi
        folder, repo = sys.argv[1:]
        api = HfApi()
        api.create_repo(repo, repo_type="dataset")
        api.upload_folder(folder_path=folder, repo_id=repo, repo_type="dataset")
    """,
    "push_dataset_folder": """
        import sys
        from instructmol.hub import push_dataset_folder
        push_dataset_folder(*sys.argv[1:])
    """,
}

PULL_DATASET = f"""
    import json, sys
    from datasets import load_dataset
    repo, output = sys.argv[1:]
    rows = {{f"{{config}}/{{split}}": load_dataset(repo, config, split=split).to_list()
            for config in {CONFIGS!r} for split in {SPLITS!r}}}
    stream = iter(load_dataset(repo, {CONFIGS[0]!r}, split="train", streaming=True))
    streamed = next(stream)
    # End the streamed read (its Parquet file and Arrow I/O) before the interpreter exits: once, under heavy load,
    # this process died at exit with C++'s "terminate called without an active exception" after all its work.
    stream.close()
    json.dump({{"rows": rows, "first_streamed": streamed}}, open(output, "w"))
"""


@pytest.mark.parametrize("push_script", PUSH_DATASET.values(), ids=PUSH_DATASET.keys())
def test_dataset_push_then_load_dataset_gives_the_same_rows(push_script, client, hub, dataset_folder, tmp_path):
    repo = "test-user/instructmol-tiny-data"
    client.run(push_script, dataset_folder, repo)
    pushed = hub.stored_files(repo, "dataset")
    parquet = {path for path in pushed if path.endswith(".parquet")}
    assert parquet == {f"data/{config}/{split}-00000-of-00001.parquet" for config in CONFIGS for split in SPLITS}
    assert all(pushed[path].is_lfs for path in parquet)

    client.run(PULL_DATASET, repo, tmp_path / "rows.json")
    pulled = json.loads((tmp_path / "rows.json").read_text())
    local_rows = {f"{config}/{split}": dataset_rows(config, split) for config in CONFIGS for split in SPLITS}
    assert pulled["rows"] == local_rows
    assert pulled["first_streamed"] == dataset_rows(CONFIGS[0], "train")[0]


def test_token_is_never_printed_or_written(client, hub, tiny_model_dir):
    # An explicit token only (none in the environment); the hub accepts writes with this token alone.
    client.run("""
        import sys
        from instructmol.hub import push_model_folder
        from huggingface_hub import HfApi
        push_model_folder(sys.argv[1], "test-user/secret-safe", token=sys.argv[2])
        print(HfApi(token=sys.argv[2]).model_info("test-user/secret-safe"))
    """, tiny_model_dir, FAKE_TOKEN, token=None)
    client.run("""
        from huggingface_hub import snapshot_download
        print(snapshot_download("test-user/secret-safe"))
    """)
    assert "model.safetensors" in hub.files("test-user/secret-safe")
    token = FAKE_TOKEN.encode()
    written = [*hub.storage.rglob("*"), *(path for home in client.homes for path in home.rglob("*"))]
    assert [path for path in written if path.is_file() and token in path.read_bytes()] == []
    # The first run got the token as an argument, never from its output.
    assert all(FAKE_TOKEN not in output for output in client.outputs)
