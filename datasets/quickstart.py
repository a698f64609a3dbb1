"""Small offline datasets for the CPU quickstart: NCI molecules with RDKit-fact descriptions, and a QM9 gap subset.

    python datasets/quickstart.py --output quickstart [--num-molecules 5000] [--num-qm9 4000]

The builder itself is `instructmol.data.quickstart_dataset` (its docstring lists the configs), so that
`instructmol quickstart` runs it from an installed wheel as well as from a clone.
"""

from instructmol.data import run_builder
from instructmol.data.quickstart_dataset import main

if __name__ == "__main__":
    run_builder(main, "quickstart.py")
