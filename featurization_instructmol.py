"""InstructMol molecular-graph featurizer (Hub remote code): SMILES -> OGB molecular graphs.

This file travels with every saved InstructMol checkpoint, as LLaVA's `image_processing_llava.py` does, and is loaded
with `trust_remote_code=True` (`AutoImageProcessor`, or as the processor's `image_processor`); it depends on numpy,
rdkit and transformers only.

The featurizer reproduces `ogb.utils.smiles2graph` exactly (9 atom features, 3 bond features, both bond directions,
the same order), which is what MoleculeSTM's GIN was pretrained on. It is written here rather than imported from
`ogb` because it is faster (see `benchmarks/featurize.py`) and because it maps values outside the encoder's embedding
tables into range instead of failing with an index error. `featurize` is the one check of a molecule in the package:
the processor, the dataset builders, the evaluation harness and the demo all call it.
"""

import functools
import re
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
from rdkit import Chem, rdBase
from transformers import BatchFeature
from transformers.image_processing_base import ImageProcessingMixin

try:  # a sibling module when loaded from a checkpoint with trust_remote_code
    from .configuration_instructmol import GRAPH_INPUT_NAMES, OGB_ATOM_FEATURE_DIMS, OGB_BOND_FEATURE_DIMS
except ImportError:  # a top-level module after `pip install`
    from configuration_instructmol import GRAPH_INPUT_NAMES, OGB_ATOM_FEATURE_DIMS, OGB_BOND_FEATURE_DIMS

# How many atoms each molecule of a batch has: the processor writes that many placeholders for it.
ATOMS_PER_MOLECULE = "atoms_per_molecule"
# Each atom becomes one prompt token: a molecule beyond this is not one an LLM prompt can hold. The SMILES length is
# bounded first (a SMILES needs at most a few characters per atom), so that no huge string reaches RDKit.
MAX_ATOMS_PER_MOLECULE = 4096
MAX_SMILES_LENGTH = 16 * MAX_ATOMS_PER_MOLECULE
# The characters of SMILES (OpenSMILES), and RDKit's dative bonds `->` and `<-` (their bond type is OGB's `misc`, as
# in `ogb.utils.smiles2graph`): RDKit reads a name after a space and stops at some other characters, so a string
# with anything else would be read in part; it is refused instead.
SMILES_CHARACTERS = re.compile(r"(?:[A-Za-z0-9@+\-\[\]()\\/%=#$:.*]|->|<-)+")


class InvalidMoleculeError(ValueError):
    """A SMILES string that cannot become a molecular graph (unparsable, without atoms, or too large)."""


class TooManyAtomsError(InvalidMoleculeError):
    """A molecule with more atoms than the caller's limit (a prompt holds one token per atom)."""


@dataclass(frozen=True)
class MolecularGraph:
    """One molecule in OGB form. Arrays are int64 and read-only (they may be shared by a cache).

    Attributes:
        atom_features: `[num_atoms, 9]` embedding-table indices per atom.
        bond_features: `[num_edges, 3]` embedding-table indices per directed edge (each bond twice).
        edge_index: `[2, num_edges]` source and target atom of each directed edge.
    """

    atom_features: np.ndarray
    bond_features: np.ndarray
    edge_index: np.ndarray

    @property
    def num_atoms(self) -> int:
        return self.atom_features.shape[0]


# OGB's allowed values per feature (`ogb.utils.features.allowable_features`), each list followed in OGB
# by `misc`, the index that `safe_index` gives any other value. RDKit enums are listed by member name.
_OGB_ATOM_VALUES = [
    list(range(1, 119)),  # atomic number
    ["CHI_UNSPECIFIED", "CHI_TETRAHEDRAL_CW", "CHI_TETRAHEDRAL_CCW", "CHI_OTHER"],
    list(range(0, 11)),  # total degree
    list(range(-5, 6)),  # formal charge
    list(range(0, 9)),  # total number of Hs
    list(range(0, 5)),  # radical electrons
    ["SP", "SP2", "SP3", "SP3D", "SP3D2"],
    [False, True],  # aromatic
    [False, True],  # in ring
]
_OGB_BOND_VALUES = [
    ["SINGLE", "DOUBLE", "TRIPLE", "AROMATIC"],
    # OGB has no `misc` for stereo and raises on unknown values; they map to its last entry here.
    ["STEREONONE", "STEREOZ", "STEREOE", "STEREOCIS", "STEREOTRANS", "STEREOANY"],
    [False, True],  # conjugated
]
_ATOM_ENUMS = {1: Chem.rdchem.ChiralType, 6: Chem.rdchem.HybridizationType}
_BOND_ENUMS = {0: Chem.rdchem.BondType, 1: Chem.rdchem.BondStereo}
_OGB_FEATURES_WITHOUT_MISC = {"atom": {7, 8}, "bond": {1, 2}}


class _IndexTable(dict):
    """Raw RDKit value -> embedding-table index, with OGB's `misc` index for any other value.

    Indices are clamped to the encoder's table size, so an OGB index beyond a smaller table (MoleculeSTM's
    chirality table has 4 rows, current OGB's 5) maps deterministically to the table's last row.
    """

    def __init__(self, ogb_values: list, table_size: int, enum_type=None, has_misc: bool = True):
        self.misc = min(len(ogb_values) if has_misc else len(ogb_values) - 1, table_size - 1)
        if enum_type is None:
            super().__init__((value, min(index, table_size - 1)) for index, value in enumerate(ogb_values))
        else:  # keyed by the enum members themselves: hashing them is cheaper than int() on each call
            super().__init__(
                (member, min(ogb_values.index(str(member)), table_size - 1) if str(member) in ogb_values else self.misc)
                for member in enum_type.values.values()
            )

    def __missing__(self, value) -> int:
        return self.misc


class MolecularGraphFeaturizerKwargs(TypedDict, total=False):
    """What a processor call may pass to the featurizer: only the tensor type (there is nothing to resize)."""

    return_tensors: str | None


class MolecularGraphFeaturizer(ImageProcessingMixin):
    """SMILES -> OGB molecular graphs, identical to `ogb.utils.smiles2graph`, clamped to the encoder's tables.

    The processor's `image_processor`, as an image processor is LLaVA's: saved with the processor (its table sizes)
    and loaded by `AutoImageProcessor` from a checkpoint's `featurization_instructmol.py`.

    Args:
        atom_feature_dims: sizes of the encoder's 9 atom embedding tables (current OGB's by default).
        bond_feature_dims: sizes of its 3 bond embedding tables.
        cache_size: how many featurized molecules to remember (not saved: a setting of this process). Training
            reads every molecule once per epoch, so after the first epoch featurization costs a dictionary lookup.
    """

    model_input_names = list(GRAPH_INPUT_NAMES)
    valid_kwargs = MolecularGraphFeaturizerKwargs

    def __init__(
        self,
        atom_feature_dims: list[int] | None = None,
        bond_feature_dims: list[int] | None = None,
        cache_size: int = 200_000,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.atom_feature_dims = list(atom_feature_dims or OGB_ATOM_FEATURE_DIMS)
        self.bond_feature_dims = list(bond_feature_dims or OGB_BOND_FEATURE_DIMS)
        self.cache_size = cache_size
        if len(self.atom_feature_dims) != len(_OGB_ATOM_VALUES) or len(self.bond_feature_dims) != len(_OGB_BOND_VALUES):
            raise ValueError(
                f"expected {len(_OGB_ATOM_VALUES)} atom and {len(_OGB_BOND_VALUES)} bond table sizes, got "
                f"{self.atom_feature_dims} and {self.bond_feature_dims}"
            )
        self._atom_tables = [
            _IndexTable(values, size, _ATOM_ENUMS.get(i), i not in _OGB_FEATURES_WITHOUT_MISC["atom"])
            for i, (values, size) in enumerate(zip(_OGB_ATOM_VALUES, self.atom_feature_dims))
        ]
        self._bond_tables = [
            _IndexTable(values, size, _BOND_ENUMS.get(i), i not in _OGB_FEATURES_WITHOUT_MISC["bond"])
            for i, (values, size) in enumerate(zip(_OGB_BOND_VALUES, self.bond_feature_dims))
        ]
        self._featurize_cached = functools.lru_cache(maxsize=cache_size)(self._featurize_uncached)

    def featurize(self, smiles: str, max_atoms: int | None = None) -> MolecularGraph:
        """The graph of one SMILES (cached): whether a molecule is usable, and what its graph is.

        Args:
            smiles: one SMILES string, read whole.
            max_atoms: the caller's atom limit (a dataset's `--max-atoms`, a demo's), within the absolute
                `MAX_ATOMS_PER_MOLECULE`.

        Raises:
            InvalidMoleculeError: naming the SMILES when it is not a string, holds characters SMILES does not use
                (whitespace, a name after the molecule), cannot be parsed (with RDKit's reason), has no atoms, or has
                more than `MAX_ATOMS_PER_MOLECULE` atoms; `TooManyAtomsError` when it has more than `max_atoms`.
        """
        check_smiles_string(smiles)
        graph = self._featurize_cached(smiles)
        if max_atoms is not None and graph.num_atoms > max_atoms:
            raise TooManyAtomsError(f"the SMILES {smiles!r:.80} has {graph.num_atoms} atoms, more than {max_atoms}")
        return graph

    def __call__(self, molecules: str | list[str], return_tensors: str | None = None, **kwargs) -> BatchFeature:
        """Featurizes molecules into one flat batch, PyG style.

        Args:
            molecules: one SMILES or a list of SMILES.
            return_tensors: `"pt"`, `"np"` or None (numpy arrays).

        Returns:
            `BatchFeature` with `atom_features` `[N, 9]`, `bond_features` `[E, 3]`, `edge_index` `[2, E]` (offset so
            that it indexes the batch's atom rows) and `atoms_per_molecule` `[num_molecules]`.

        Raises:
            InvalidMoleculeError: naming the first SMILES that cannot be featurized.
        """
        graphs = [self.featurize(smiles) for smiles in ([molecules] if isinstance(molecules, str) else molecules)]
        atom_counts = np.array([graph.num_atoms for graph in graphs], dtype=np.int64)
        offsets = np.cumsum(atom_counts) - atom_counts
        batch = {
            "atom_features": np.empty((0, len(self.atom_feature_dims)), dtype=np.int64),
            "bond_features": np.empty((0, len(self.bond_feature_dims)), dtype=np.int64),
            "edge_index": np.empty((2, 0), dtype=np.int64),
            ATOMS_PER_MOLECULE: atom_counts,
        }
        if graphs:
            batch["atom_features"] = np.concatenate([graph.atom_features for graph in graphs])
            batch["bond_features"] = np.concatenate([graph.bond_features for graph in graphs])
            batch["edge_index"] = np.concatenate(
                [graph.edge_index + offset for graph, offset in zip(graphs, offsets)], axis=1
            )
        return BatchFeature(batch, tensor_type=return_tensors)

    def to_dict(self) -> dict:
        """What `save_pretrained` writes: the table sizes (the cache is a setting of this process, not the model's)."""
        output = {
            "image_processor_type": type(self).__name__,
            "atom_feature_dims": self.atom_feature_dims,
            "bond_feature_dims": self.bond_feature_dims,
        }
        if getattr(self, "auto_map", None):  # where `AutoImageProcessor` finds this class in a checkpoint
            output["auto_map"] = self.auto_map
        return output

    def __getstate__(self) -> dict:
        # The cache holds a bound method and cannot be pickled (DataLoader workers, deepcopy: the processor's
        # `to_dict` deep-copies its attributes, so `auto_map` must survive the copy).
        return {**self.to_dict(), "cache_size": self.cache_size}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def _featurize_uncached(self, smiles: str) -> MolecularGraph:
        with rdBase.BlockLogs():  # RDKit would print to stderr; our error names the SMILES instead
            mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            raise InvalidMoleculeError(f"RDKit cannot parse the SMILES {smiles!r}: {_rdkit_failure_reason(smiles)}")
        if mol.GetNumAtoms() == 0:
            raise InvalidMoleculeError(f"the SMILES {smiles!r} has no atoms")
        if mol.GetNumAtoms() > MAX_ATOMS_PER_MOLECULE:
            raise InvalidMoleculeError(
                f"the SMILES {smiles[:40]!r}... has {mol.GetNumAtoms()} atoms, more than the {MAX_ATOMS_PER_MOLECULE} "
                "a prompt can hold (one token per atom)"
            )
        atom_features = self._atom_features(mol, has_chiral_tags="@" in smiles)
        bond_features, edge_index = self._bond_features(mol, has_bond_stereo="/" in smiles or "\\" in smiles)
        for array in (atom_features, bond_features, edge_index):
            array.flags.writeable = False
        return MolecularGraph(atom_features, bond_features, edge_index)

    # The per-atom and per-bond loops are written out (not looped over feature tables) because RDKit's
    # Python calls dominate featurization; every extra Python step per atom costs measurable throughput.
    def _atom_features(self, mol: Chem.Mol, has_chiral_tags: bool) -> np.ndarray:
        atomic_num, chirality, degree, charge, num_hs, radicals, hybridization, aromatic, in_ring = self._atom_tables
        no_chirality = chirality[Chem.rdchem.ChiralType.CHI_UNSPECIFIED]
        rows = [
            (
                atomic_num[atom.GetAtomicNum()],
                # Chiral tags come only from '@' in a SMILES string: skipping the slow enum call is exact.
                chirality[atom.GetChiralTag()] if has_chiral_tags else no_chirality,
                degree[atom.GetTotalDegree()],
                charge[atom.GetFormalCharge()],
                num_hs[atom.GetTotalNumHs()],
                radicals[atom.GetNumRadicalElectrons()],
                hybridization[atom.GetHybridization()],
                aromatic[atom.GetIsAromatic()],
                in_ring[atom.IsInRing()],
            )
            for atom in mol.GetAtoms()
        ]
        return np.array(rows, dtype=np.int64)

    def _bond_features(self, mol: Chem.Mol, has_bond_stereo: bool) -> tuple[np.ndarray, np.ndarray]:
        bond_type, stereo, conjugated = self._bond_tables
        no_stereo = stereo[Chem.rdchem.BondStereo.STEREONONE]
        # RDKit finds a bond by index by walking its bond list, so `mol.GetBonds()` (and GetBondWithIdx) take
        # time quadratic in the number of bonds; reaching each bond from its atoms is linear.
        bonds_by_index = [None] * mol.GetNumBonds()
        for atom in mol.GetAtoms():
            for bond in atom.GetBonds():
                bonds_by_index[bond.GetIdx()] = bond
        rows = [
            (
                bond.GetBeginAtomIdx(),
                bond.GetEndAtomIdx(),
                bond_type[bond.GetBondType()],
                # Double-bond stereo comes only from '/' or '\\' in a SMILES string.
                stereo[bond.GetStereo()] if has_bond_stereo else no_stereo,
                conjugated[bond.GetIsConjugated()],
            )
            for bond in bonds_by_index
        ]
        bonds = np.array(rows, dtype=np.int64).reshape(-1, 5)
        # Each bond becomes two directed edges, (i, j) then (j, i), in bond order, as in OGB.
        edge_index = np.empty((2, 2 * len(bonds)), dtype=np.int64)
        edge_index[0, 0::2] = edge_index[1, 1::2] = bonds[:, 0]
        edge_index[1, 0::2] = edge_index[0, 1::2] = bonds[:, 1]
        return np.repeat(bonds[:, 2:], 2, axis=0), edge_index


def check_smiles_string(smiles) -> None:
    """Raises InvalidMoleculeError unless `smiles` is a SMILES string that RDKit would read whole."""
    if not isinstance(smiles, str):
        raise InvalidMoleculeError(f"expected a SMILES string, got {type(smiles).__name__} {smiles!r:.80}")
    if not smiles:
        raise InvalidMoleculeError("the SMILES '' is empty")
    if len(smiles) > MAX_SMILES_LENGTH:
        raise InvalidMoleculeError(
            f"the SMILES {smiles[:40]!r}... is {len(smiles)} characters long, more than the {MAX_SMILES_LENGTH} a "
            f"molecule of at most {MAX_ATOMS_PER_MOLECULE} atoms needs"
        )
    if not SMILES_CHARACTERS.fullmatch(smiles):
        position, character = next((index, char) for index, char in enumerate(smiles)
                                    if not SMILES_CHARACTERS.fullmatch(char))
        raise InvalidMoleculeError(
            f"the SMILES {smiles!r:.80} holds {character!r} at position {position}, which SMILES does not use "
            "(a space, a line break or a name after the molecule would make RDKit read only part of it)"
        )


def _rdkit_failure_reason(smiles: str) -> str:
    """Why RDKit rejected a SMILES: a syntax error, or the sanitization error (e.g. a valence error)."""
    with rdBase.BlockLogs():
        unsanitized = Chem.MolFromSmiles(smiles, sanitize=False)
        if unsanitized is None:
            return "invalid SMILES syntax"
        try:
            Chem.SanitizeMol(unsanitized)
        except Exception as error:  # RDKit raises several exception types (valence, kekulization, ...)
            return f"{type(error).__name__}: {error}"
    return "unknown RDKit error"




__all__ = [
    "ATOMS_PER_MOLECULE",
    "InvalidMoleculeError",
    "MAX_ATOMS_PER_MOLECULE",
    "MolecularGraph",
    "MolecularGraphFeaturizer",
    "TooManyAtomsError",
    "check_smiles_string",
]
