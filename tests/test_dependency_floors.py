"""The lowest versions `setup.py` accepts work: each direct dependency at its floor, as `uv pip install --resolution
lowest-direct` resolves them, runs the tests that touch the dependencies' APIs (the remote code on the lowest
transformers, the processor and chat templates, the featurizer, datasets, evaluation, metrics, training).

torch stays at the CPU build this environment runs (a bare `torch` requirement would pull a multi-GB CUDA build): it is
installed first with pip, as `.ci/run` installs it, and uv keeps it.
"""

import json
import os
import subprocess
import sys
import textwrap

import torch

from tests_paths import REPO_ROOT

API_TESTS = [
    "tests/test_model.py", "tests/test_transformers_contract.py", "tests/test_generation.py", "tests/test_processor.py",
    "tests/test_packaging.py", "tests/test_featurizer.py", "tests/test_conversion.py", "tests/test_tasks.py",
    "tests/test_export.py",
    "tests/test_recipes.py", "tests/test_card.py", "tests/test_datasets.py", "tests/test_datasets_machinery.py",
    "tests/test_evaluate.py", "tests/test_evaluate_parts.py", "tests/test_metrics_captioning.py",
    "tests/test_metrics_generation.py", "tests/test_metrics_regression.py", "tests/test_metrics_classification.py",
    "tests/test_metrics_loading.py", "tests/test_metrics_wordnet.py", "tests/test_training.py",
]
# Two-process training and resuming exercise accelerate and torch more than the floors; the main run covers them.
TRAINING_LEFT_TO_THE_MAIN_RUN = "not two_cpu_processes and not resumed_run"

INSTALLED_AGAINST_DECLARED = textwrap.dedent("""
    import json
    from importlib.metadata import requires, version
    from packaging.requirements import Requirement

    declared = {}
    for line in requires("instructmol-hf"):
        requirement = Requirement(line)
        floors = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if floors and (requirement.marker is None or requirement.marker.evaluate({"extra": "test"})):
            declared[requirement.name] = (floors[0], version(requirement.name))
    print(json.dumps(declared))
""")


def run(command: list[str], **options) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO_ROOT, **options)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def same_version(installed: str, floor: str) -> bool:
    """`2.6.0` is the floor `2.6`."""
    def parts(text: str) -> list[int]:
        numbers = [int(part) for part in text.split("+")[0].split(".")]
        while numbers and numbers[-1] == 0:
            numbers.pop()
        return numbers
    return parts(installed) == parts(floor)


def test_the_lowest_versions_setup_py_accepts_pass_the_api_tests(tmp_path):
    venv = tmp_path / "lowest"
    python = str(venv / "bin" / "python")
    uv = [sys.executable, "-m", "uv"]
    run([*uv, "venv", "--quiet", "--seed", "--python", sys.executable, str(venv)])
    running_torch = torch.__version__.split("+")[0]
    run([python, "-m", "pip", "install", "--quiet", f"torch=={running_torch}"])
    constraints = tmp_path / "constraints.txt"
    constraints.write_text(f"torch=={torch.__version__}\n")
    # `--python`: run as `python -m uv`, uv would otherwise install into this interpreter's own environment.
    run([*uv, "pip", "install", "--quiet", "--python", python, "--resolution", "lowest-direct", "--constraint",
         str(constraints), "-e", ".[test]"])

    declared = json.loads(run([python, "-I", "-c", INSTALLED_AGAINST_DECLARED]).stdout)
    off_floor = {name: versions for name, versions in declared.items()
                 if name != "torch" and not same_version(versions[1], versions[0])}
    assert not off_floor, f"floors that no installation reaches (declared, installed): {off_floor}"

    run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--basetemp", str(tmp_path / "tests"), *API_TESTS,
         "-k", TRAINING_LEFT_TO_THE_MAIN_RUN],
        env={**os.environ, "VIRTUAL_ENV": str(venv), "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"},
        timeout=1800)
