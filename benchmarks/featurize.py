"""Featurization throughput on RDKit's 5,000 NCI molecules, as ratios against OGB and PyG in the same process.

    python benchmarks/featurize.py [--rounds 5]

Prints molecules per second (median over rounds, methods interleaved so machine noise hits all alike) and
the ratio of ours to `ogb.utils.smiles2graph` and to `torch_geometric.utils.from_smiles`, cold (no cache:
every molecule parsed) and warm (the cache of a training run's second epoch). Checks identical output first.
"""

import argparse
import statistics
import time

import numpy as np
from ogb.utils import smiles2graph
from rdkit import rdBase
from torch_geometric.utils import from_smiles

from instructmol.build import reference_molecules
from featurization_instructmol import MolecularGraphFeaturizer


def molecules_per_second(featurize, molecules: list[str]) -> float:
    start = time.perf_counter()
    for smiles in molecules:
        featurize(smiles)
    return len(molecules) / (time.perf_counter() - start)


def check_identical(molecules: list[str]) -> None:
    featurizer = MolecularGraphFeaturizer(cache_size=0)
    for smiles in molecules:
        ours, reference = featurizer.featurize(smiles), smiles2graph(smiles)
        assert np.array_equal(ours.atom_features, reference["node_feat"]), smiles
        assert np.array_equal(ours.bond_features, reference["edge_feat"]), smiles
        assert np.array_equal(ours.edge_index, reference["edge_index"]), smiles


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    molecules = reference_molecules(5000)  # the 4,991 NCI molecules RDKit can parse
    check_identical(molecules)
    warm = MolecularGraphFeaturizer()
    for smiles in molecules:
        warm.featurize(smiles)
    methods = {
        "ogb.utils.smiles2graph": smiles2graph,
        "torch_geometric.utils.from_smiles": from_smiles,
        "instructmol (cold, no cache)": MolecularGraphFeaturizer(cache_size=0).featurize,
        "instructmol (warm cache, epoch 2+)": warm.featurize,
    }
    rates = {name: [] for name in methods}
    with rdBase.BlockLogs():
        for _ in range(args.rounds):
            for name, featurize in methods.items():
                rates[name].append(molecules_per_second(featurize, molecules))
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"{len(molecules)} molecules, identical output to ogb.utils.smiles2graph: yes; median of {args.rounds} rounds")
    for name, rate in median.items():
        print(f"  {name:38s} {rate:10.0f} mol/s")
    for ours in ("instructmol (cold, no cache)", "instructmol (warm cache, epoch 2+)"):
        print(f"{ours}: {median[ours] / median['ogb.utils.smiles2graph']:.2f}x ogb, "
              f"{median[ours] / median['torch_geometric.utils.from_smiles']:.2f}x torch_geometric")


if __name__ == "__main__":
    main()
