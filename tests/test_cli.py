"""The `instructmol` command line: its help starts without loading the heavy libraries."""

import json
import subprocess
import sys

import pytest

from instructmol.commands import SUBCOMMANDS

# Each takes from a fraction of a second (huggingface_hub) to several (torch, transformers, RDKit, datasets) to
# import on a 2-core machine; none is needed to parse arguments or print help.
HEAVY_LIBRARIES = {"torch", "transformers", "rdkit", "datasets", "gradio", "pandas", "matplotlib", "evaluate",
                   "numpy", "peft", "trl", "accelerate", "selfies", "huggingface_hub", "nltk", "sklearn", "yaml"}

HELP_IN_A_FRESH_INTERPRETER = """
import contextlib, io, json, sys
from instructmol.cli import main
with contextlib.redirect_stdout(io.StringIO()) as help_text:
    try:
        main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
print(json.dumps({"code": code, "help": help_text.getvalue(), "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


@pytest.mark.parametrize("arguments", [["--help"], *[[name, "--help"] for name in SUBCOMMANDS]],
                         ids=lambda arguments: " ".join(arguments))
def test_help_imports_no_heavy_library(arguments):
    result = subprocess.run([sys.executable, "-c", HELP_IN_A_FRESH_INTERPRETER, *arguments],
                            capture_output=True, text=True, check=True)
    shown = json.loads(result.stdout)
    assert shown["code"] == 0 and "usage: instructmol" in shown["help"]
    assert HEAVY_LIBRARIES & set(shown["modules"]) == set()
    if len(arguments) == 2:  # a command's help shows its defaults, read from the light modules
        assert "--" in shown["help"].split("options:")[1]
