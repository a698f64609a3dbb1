"""The SMILES -> graph featurizer against `ogb.utils.smiles2graph` on real molecules."""

import pickle

import numpy as np
import pytest
from ogb.utils import smiles2graph
from rdkit import Chem
from ogb.utils.features import get_atom_feature_dims, get_bond_feature_dims

from instructmol.build import NCI_MOLECULES
from configuration_instructmol import OGB_ATOM_FEATURE_DIMS, OGB_BOND_FEATURE_DIMS
from featurization_instructmol import InvalidMoleculeError, MolecularGraphFeaturizer, TooManyAtomsError


def nci_smiles() -> list[str]:
    return [line.split()[0] for line in NCI_MOLECULES.read_text().splitlines()]


def test_default_table_sizes_are_current_ogbs():
    assert OGB_ATOM_FEATURE_DIMS == get_atom_feature_dims()
    assert OGB_BOND_FEATURE_DIMS == get_bond_feature_dims()


def test_identical_to_ogb_on_rdkits_5000_nci_molecules():
    """Every molecule the featurizer reads gives OGB's graph exactly; every one it refuses is one RDKit itself cannot
    read (how many depends on the RDKit release: 8 with 2026.9, 5 with 2024.3), its message naming the SMILES."""
    featurizer = MolecularGraphFeaturizer(cache_size=0)
    molecules = nci_smiles()
    compared, rejected = 0, {}
    for smiles in molecules:
        try:
            graph = featurizer.featurize(smiles)
        except InvalidMoleculeError as error:
            rejected[smiles] = str(error)
            continue
        reference = smiles2graph(smiles)
        np.testing.assert_array_equal(graph.atom_features, reference["node_feat"], err_msg=smiles)
        np.testing.assert_array_equal(graph.bond_features, reference["edge_feat"], err_msg=smiles)
        np.testing.assert_array_equal(graph.edge_index, reference["edge_index"], err_msg=smiles)
        compared += 1
    assert compared + len(rejected) == len(molecules) and compared > 0.99 * len(molecules)
    for smiles, message in rejected.items():
        assert Chem.MolFromSmiles(smiles) is None, f"RDKit reads {smiles!r}, the featurizer refused it: {message}"
        assert f"SMILES '{smiles}'" in message


@pytest.mark.parametrize(
    "smiles",
    [
        "*C(=O)O",  # dummy atom: atomic number 0 -> OGB's misc
        "F[Pt@SP1](Cl)(Br)I",  # square-planar chirality -> misc
        "C/C=C/C",  # double-bond stereo
        "C[C@H](N)C(=O)O",  # tetrahedral chirality
        "[Na+].[Cl-]",  # no bonds
        "C",  # one atom
    ],
)
def test_identical_to_ogb_on_edge_cases(smiles):
    graph = MolecularGraphFeaturizer().featurize(smiles)
    reference = smiles2graph(smiles)
    np.testing.assert_array_equal(graph.atom_features, reference["node_feat"])
    np.testing.assert_array_equal(graph.bond_features, reference["edge_feat"])
    np.testing.assert_array_equal(graph.edge_index, reference["edge_index"])


def test_values_beyond_a_smaller_table_map_to_its_last_row():
    # MoleculeSTM's chirality table has 4 rows; OGB's misc chirality (index 4) must become row 3.
    moleculestm_dims = list(OGB_ATOM_FEATURE_DIMS)
    moleculestm_dims[1] = 4
    square_planar = "F[Pt@SP1](Cl)(Br)I"
    assert MolecularGraphFeaturizer().featurize(square_planar).atom_features[1, 1] == 4
    assert MolecularGraphFeaturizer(moleculestm_dims).featurize(square_planar).atom_features[1, 1] == 3
    # In-range values are untouched.
    clockwise = MolecularGraphFeaturizer(moleculestm_dims).featurize("C[C@@H](N)O").atom_features
    np.testing.assert_array_equal(clockwise, smiles2graph("C[C@@H](N)O")["node_feat"])


def test_batch_is_flat_with_global_edge_offsets():
    batch = MolecularGraphFeaturizer()(["CCO", "c1ccccc1", "[Na+].[Cl-]"])
    assert batch["atoms_per_molecule"].tolist() == [3, 6, 2]
    assert batch["atom_features"].shape == (11, 9)
    assert batch["bond_features"].shape == (4 + 12, 3)
    ethanol_edges = smiles2graph("CCO")["edge_index"]
    benzene_edges = smiles2graph("c1ccccc1")["edge_index"] + 3
    np.testing.assert_array_equal(batch["edge_index"], np.concatenate([ethanol_edges, benzene_edges], axis=1))


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [("C1CC", "invalid SMILES syntax"), ("N(=O)(=O)(=O)C", "Explicit valence"), ("", "is empty"), (None, "expected a SMILES string")],
)
def test_bad_molecules_raise_naming_the_smiles(smiles, reason):
    with pytest.raises(InvalidMoleculeError, match=reason) as error:
        MolecularGraphFeaturizer().featurize(smiles)
    assert repr(smiles) in str(error.value)


def test_the_callers_atom_limit_is_its_own_error_within_the_absolute_one():
    featurizer = MolecularGraphFeaturizer()
    assert featurizer.featurize("c1ccccc1O", max_atoms=7).num_atoms == 7
    with pytest.raises(TooManyAtomsError, match=r"'c1ccccc1O' has 7 atoms, more than 6"):
        featurizer.featurize("c1ccccc1O", max_atoms=6)
    with pytest.raises(InvalidMoleculeError, match="invalid SMILES syntax"):  # unreadable before too large
        featurizer.featurize("C1CC", max_atoms=1)


def test_cached_graphs_are_read_only_and_the_featurizer_pickles():
    featurizer = MolecularGraphFeaturizer(cache_size=10)
    graph = featurizer.featurize("CCO")
    assert featurizer.featurize("CCO") is graph
    with pytest.raises(ValueError, match="read-only"):
        graph.atom_features[0, 0] = 5
    restored = pickle.loads(pickle.dumps(featurizer))
    np.testing.assert_array_equal(restored.featurize("CCO").atom_features, graph.atom_features)
