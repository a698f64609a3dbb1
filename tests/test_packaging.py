"""A saved folder is a Hub model repository: Auto classes with trust_remote_code in a fresh process."""

import ast
import json
import re
import subprocess
import sys
import textwrap

import pytest
import torch

from configuration_instructmol import GRAPH_INPUT_NAMES
from tests_paths import REMOTE_CODE_FILES, REPO_ROOT

ALLOWED_IMPORTS = {"torch", "torch_geometric", "transformers", "huggingface_hub", "rdkit", "numpy",
                   "configuration_instructmol", "featurization_instructmol"}
STANDARD_LIBRARY = set(sys.stdlib_module_names)


@pytest.mark.parametrize("path", REMOTE_CODE_FILES, ids=lambda path: path.name)
def test_remote_code_imports_only_its_runtime_dependencies(path):
    """The four files travel alone to the Hub: they must never import `instructmol` or anything optional."""
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported - STANDARD_LIBRARY <= ALLOWED_IMPORTS


def test_folder_holds_only_weights_code_configs_tokenizer_and_card(tiny_model_dir):
    files = {path.name for path in tiny_model_dir.iterdir()}
    assert files == {
        "model.safetensors", "config.json", "generation_config.json",
        "configuration_instructmol.py", "modeling_instructmol.py", "processing_instructmol.py",
        "featurization_instructmol.py", "processor_config.json", "chat_template.jinja", "tokenizer.json",
        "tokenizer_config.json", "README.md",
    }
    auto_map = json.loads((tiny_model_dir / "config.json").read_text())["auto_map"]
    assert set(auto_map) == {"AutoConfig", "AutoModel", "AutoModelForCausalLM", "AutoModelForImageTextToText",
                             "AutoModelForMultimodalLM"}
    processor_config = json.loads((tiny_model_dir / "processor_config.json").read_text())
    assert processor_config["auto_map"] == {"AutoProcessor": "processing_instructmol.InstructMolProcessor"}
    assert processor_config["image_processor"]["auto_map"]["AutoImageProcessor"] == (
        "featurization_instructmol.MolecularGraphFeaturizer")


FRESH_PROCESS = textwrap.dedent(
    """
    import json, sys, torch
    from transformers import (AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForImageTextToText,
                              AutoProcessor)
    folder = sys.argv[1]
    config = AutoConfig.from_pretrained(folder, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    classes = {}
    for auto_class in (AutoModel, AutoModelForCausalLM, AutoModelForImageTextToText):
        model = auto_class.from_pretrained(folder, trust_remote_code=True).eval()
        classes[auto_class.__name__] = type(model).__name__
    messages = [{"role": "user", "content": [{"type": "molecule", "molecule": "CCO"},
                                             {"type": "text", "text": "what is this molecule?"}]}]
    inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                           return_dict=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
    answer = model.generate(**inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False)
    torch.save({"logits": logits, "input_ids": inputs["input_ids"]}, sys.argv[2])
    print(json.dumps({"config": type(config).__name__, "processor": type(processor).__name__, "classes": classes,
                      "answer": processor.post_process_generation(answer, inputs["input_ids"].shape[1])[0],
                      "new_tokens": answer.shape[1] - inputs["input_ids"].shape[1]}))
    """
)


def test_fresh_process_loads_every_auto_class_with_identical_logits(tiny_model_dir, tiny_model, tiny_processor, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, str(tiny_model_dir), str(tmp_path / "logits.pt")],
        capture_output=True, text=True, cwd=tmp_path, check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["config"] == "InstructMolConfig" and report["processor"] == "InstructMolProcessor"
    assert set(report["classes"].values()) == {"InstructMolForConditionalGeneration"}
    assert report["new_tokens"] == 5 and report["answer"].strip()
    fresh = torch.load(tmp_path / "logits.pt")
    messages = [{"role": "user", "content": [{"type": "molecule", "molecule": "CCO"}, {"type": "text", "text": "what is this molecule?"}]}]
    inputs = tiny_processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
    assert torch.equal(inputs["input_ids"], fresh["input_ids"])
    with torch.no_grad():
        assert torch.equal(tiny_model(**inputs).logits, fresh["logits"])


def test_init_command_writes_a_loadable_folder(tiny_llm_dir, tmp_path):
    subprocess.run(
        [sys.executable, "-m", "instructmol.cli", "init", "--llm", str(tiny_llm_dir), "--graph-encoder", "none",
         "--projector", "mlp2x_gelu", "--output", str(tmp_path / "model")],
        check=True, capture_output=True,
    )
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["projector_type"] == "mlp2x_gelu" and config["mol_token_id"] is not None
    assert "base_model" not in (tmp_path / "model" / "README.md").read_text().split("---")[1]  # a local path is no Hub id


def test_projector_is_calibrated_to_the_token_embeddings_spread(tiny_model, tiny_processor):
    from instructmol.build import reference_molecules

    graph = tiny_processor.image_processor(reference_molecules(64), return_tensors="pt")
    with torch.no_grad():
        projected = tiny_model.model.get_molecule_features(**{name: graph[name] for name in GRAPH_INPUT_NAMES})
    embedding_std = tiny_model.get_input_embeddings().weight.std()
    assert abs(projected.std() / embedding_std - 1) < 0.25


def test_the_readmes_architecture_names_every_file_with_its_true_line_count():
    readme = (REPO_ROOT / "README.md").read_text()
    [section] = re.findall(r"\n## Architecture\n(.*?)\n## ", readme, re.S)
    for path in REMOTE_CODE_FILES:
        [lines] = re.findall(rf"\| `{path.name}` \|[^|]*\| (\d+) \|", section)
        assert int(lines) == len(path.read_text().splitlines()), path.name
    named = set(re.findall(r"`([a-z_]+(?:\.py|/))`", section))
    package = REPO_ROOT / "instructmol"
    modules = {path.name for path in package.glob("*.py") if path.name != "__init__.py"}
    modules |= {f"{path.name}/" for path in package.iterdir() if (path / "__init__.py").is_file()}
    assert modules <= named, sorted(modules - named)


def test_wheel_installs_the_remote_code_modules_and_package_but_never_datasets(package_wheel):
    from zipfile import ZipFile

    from tests_paths import REPO_ROOT

    wheel = ZipFile(package_wheel)
    names = wheel.namelist()
    assert {"configuration_instructmol.py", "modeling_instructmol.py", "processing_instructmol.py",
            "featurization_instructmol.py"} <= set(names)
    assert "instructmol/model_card.md" in names and "instructmol/cli.py" in names
    # One card template: the package's is the repository's model_card.md itself (a link), shipped as a file.
    assert wheel.read("instructmol/model_card.md") == (REPO_ROOT / "model_card.md").read_bytes()
    # What `instructmol quickstart` runs: the quickstart recipes (a link to recipes/quickstart/) and the builder.
    recipes = sorted((REPO_ROOT / "recipes" / "quickstart").glob("*.yaml"))
    assert recipes and all(wheel.read(f"instructmol/quickstart_recipes/{path.name}") == path.read_bytes()
                           for path in recipes)
    assert "instructmol/data/quickstart_dataset.py" in names
    assert not any(name.startswith(("datasets/", "tests/", "recipes/", "benchmarks/")) for name in names)


def test_ci_runs_exactly_the_readmes_test_command():
    """The README's second command sets up and runs the suite on a fresh machine; `.ci/run` runs that same line."""
    readme = (REPO_ROOT / "README.md").read_text()
    [command] = re.findall(r"## Tests\n\n```bash\n(.*?)\n```", readme)
    assert (REPO_ROOT / ".ci" / "run").read_text().rstrip().splitlines()[-1] == command
    assert command.startswith("bash tests/setup.sh && ")  # its own set-up, not the first command's `[quickstart]`
