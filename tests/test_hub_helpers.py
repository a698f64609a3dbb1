"""instructmol.hub refuses what must not be published, naming the culprit, before anything leaves the machine."""

import pickle

import pytest
import torch

from instructmol.hub import push_adapter_folder, push_dataset_folder, push_model_folder

# Never contacted: every case below fails its folder check first.
REPO = "test-user/never-created"


def write_files(folder, *names):
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}")
    return folder


def test_pickle_files_are_refused(tmp_path):
    folder = write_files(tmp_path, "config.json", "model.safetensors")
    (folder / "checkpoint-10").mkdir()
    torch.save({"step": 10}, folder / "checkpoint-10" / "optimizer.pt")
    (folder / "training_args.bin").write_bytes(pickle.dumps({"learning_rate": 1e-3}))
    with pytest.raises(ValueError, match=r"pickle.*checkpoint-10/optimizer\.pt, training_args\.bin"):
        push_model_folder(folder, REPO)


def test_a_model_folder_needs_a_config_and_safetensors_weights(tmp_path):
    with pytest.raises(ValueError, match="neither config.json"):
        push_model_folder(write_files(tmp_path / "no-config", "model.safetensors"), REPO)
    with pytest.raises(ValueError, match="no .safetensors"):
        push_model_folder(write_files(tmp_path / "no-weights", "config.json"), REPO)
    with pytest.raises(FileNotFoundError, match="absent"):
        push_model_folder(tmp_path / "absent", REPO)


def test_an_adapter_push_needs_an_adapter_config(tmp_path):
    folder = write_files(tmp_path, "config.json", "model.safetensors")
    with pytest.raises(ValueError, match="no adapter_config.json"):
        push_adapter_folder(folder, REPO, base_model_repo_id="test-user/base")


DATASET_CARD = """---
configs:
- config_name: bace-G
  data_files:
  - split: train
    path: data/bace-G/train-*
---
"""


def test_a_dataset_folder_needs_configs_whose_files_exist(tmp_path):
    with pytest.raises(ValueError, match="no README.md"):
        push_dataset_folder(write_files(tmp_path / "no-card", "data/bace-G/train-00000-of-00001.parquet"), REPO)

    no_configs = write_files(tmp_path / "no-configs", "data/bace-G/train-00000-of-00001.parquet")
    (no_configs / "README.md").write_text("---\nlicense: mit\n---\n")
    with pytest.raises(ValueError, match="no `configs:`"):
        push_dataset_folder(no_configs, REPO)

    missing_split = write_files(tmp_path / "missing-split", "data/bace-G/test-00000-of-00001.parquet")
    (missing_split / "README.md").write_text(DATASET_CARD)
    with pytest.raises(ValueError, match=r"'bace-G'.*'data/bace-G/train-\*'"):
        push_dataset_folder(missing_split, REPO)
