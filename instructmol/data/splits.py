"""Deterministic splits: seeded random (by a hash of the row's group key) and Bemis-Murcko scaffold splits."""

import hashlib
from collections.abc import Sequence

from rdkit import rdBase
from rdkit.Chem.Scaffolds import MurckoScaffold

SPLIT_ORDER = ("train", "validation", "test")


def _hash_position(key: str, seed: int) -> float:
    """A hash of (seed, key) read as a number in [0, 1)."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hashed_split(key: str, seed: int, fractions: dict[str, float]) -> str:
    """The split a group key falls into, from a hash of (seed, key) read as a number in [0, 1).

    Rows sharing a key (one molecule with several descriptions) always land in the same split, the assignment does
    not depend on row order, and the split sizes match `fractions` up to sampling noise.
    """
    position = _hash_position(key, seed)
    cumulative = 0.0
    for split, fraction in fractions.items():
        cumulative += fraction
        if position < cumulative:
            return split
    return list(fractions)[-1]


def sized_random_split(keys: Sequence[str], seed: int, fractions: dict[str, float]) -> list[str]:
    """A split name per key, with split sizes exactly `fractions` of the number of distinct keys (rounded).

    For small samples, where `hashed_split`'s sampling noise could leave a split empty: distinct keys are ordered by
    the same seeded hash and cut at the exact sizes, so the assignment still does not depend on row order. Every
    split of `fractions` gets at least one key when there are enough keys; train gets the rest. A repeated key gets
    the split of its first occurrence (the builders then drop the repeat as a duplicate id).
    """
    distinct = list(dict.fromkeys(keys))
    held_out = [split for split in fractions if split != "train"]
    sizes = {split: max(1, round(fractions[split] * len(distinct))) if len(distinct) > len(held_out) else 0
             for split in held_out}
    order = sorted(distinct, key=lambda key: _hash_position(key, seed))
    split_of = dict.fromkeys(distinct, "train")
    start = 0
    for split in held_out:
        for key in order[start : start + sizes[split]]:
            split_of[key] = split
        start += sizes[split]
    return [split_of[key] for key in keys]


def split_fractions(validation_fraction: float, test_fraction: float = 0.0) -> dict[str, float]:
    """Fractions for `hashed_split`: train gets the rest; empty splits are left out."""
    if not 0 <= validation_fraction + test_fraction < 1:
        raise ValueError(f"validation ({validation_fraction}) and test ({test_fraction}) fractions must sum to [0, 1)")
    fractions = {"train": 1.0 - validation_fraction - test_fraction, "validation": validation_fraction,
                 "test": test_fraction}
    return {split: fraction for split, fraction in fractions.items() if fraction > 0}


def murcko_scaffold(smiles: str) -> str:
    """The Bemis-Murcko scaffold SMILES, chirality included (as GraphMVP and MoleculeSTM compute it)."""
    with rdBase.BlockLogs():
        return MurckoScaffold.MurckoScaffoldSmiles(smiles=smiles, includeChirality=True)


def scaffold_split(
    scaffolds: Sequence[str], fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
) -> list[str]:
    """The deterministic scaffold split of GraphMVP/MoleculeSTM's `scaffold_split`: a split name per molecule.

    Molecules are grouped by scaffold; groups are taken largest first (between groups of equal size, the one whose
    first molecule comes later in the source goes first, as in that code) and each goes to train unless train would
    exceed its share, else to validation unless train plus validation would exceed theirs, else to test. No
    scaffold is in two splits.
    """
    frac_train, frac_valid, frac_test = fractions
    if abs(frac_train + frac_valid + frac_test - 1.0) > 1e-9:
        raise ValueError(f"scaffold split fractions must sum to 1, got {fractions}")
    groups: dict[str, list[int]] = {}
    for index, scaffold in enumerate(scaffolds):
        groups.setdefault(scaffold, []).append(index)
    ordered_groups = sorted(groups.values(), key=lambda members: (len(members), members[0]), reverse=True)

    train_cutoff = frac_train * len(scaffolds)
    valid_cutoff = (frac_train + frac_valid) * len(scaffolds)
    assignment = [""] * len(scaffolds)
    num_train = num_valid = 0
    for members in ordered_groups:
        if num_train + len(members) <= train_cutoff:
            split, num_train = "train", num_train + len(members)
        elif num_train + num_valid + len(members) <= valid_cutoff:
            split, num_valid = "validation", num_valid + len(members)
        else:
            split = "test"
        for index in members:
            assignment[index] = split
    return assignment
