"""InstructMol processor (Hub remote code): SMILES -> OGB molecular graphs, text -> tokens.

This file travels with every saved InstructMol checkpoint and is loaded with `trust_remote_code=True`;
it depends on numpy, rdkit and transformers only.

The featurizer reproduces `ogb.utils.smiles2graph` exactly (9 atom features, 3 bond features, both
bond directions, the same order), which is what MoleculeSTM's GIN was pretrained on. It is written
here rather than imported from `ogb` because it is faster (see `benchmarks/featurize.py`) and because
it maps values outside the encoder's embedding tables into range instead of failing with an index error.
"""

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from rdkit import Chem, rdBase
from transformers import BatchFeature, ProcessorMixin

# Current OGB table sizes (`ogb.utils.features.get_atom_feature_dims()` / `get_bond_feature_dims()`).
# Kept in sync with configuration_instructmol.py, which the processor must not import (it is
# loaded on its own by AutoProcessor).
OGB_ATOM_FEATURE_DIMS = [119, 5, 12, 12, 10, 6, 6, 2, 2]
OGB_BOND_FEATURE_DIMS = [5, 6, 2]
GRAPH_INPUT_NAMES = ["atom_features", "bond_features", "edge_index"]
MOLECULE_TOKEN = "<mol>"
# Each atom becomes one prompt token: a molecule beyond this is not one an LLM prompt can hold. The SMILES length is
# bounded first (a SMILES needs at most a few characters per atom), so that no huge string reaches RDKit.
MAX_ATOMS_PER_MOLECULE = 4096
MAX_SMILES_LENGTH = 16 * MAX_ATOMS_PER_MOLECULE
# The characters of SMILES (OpenSMILES): RDKit reads a name after a space and stops at some other characters,
# so a string with anything else would be read in part; it is refused instead.
SMILES_CHARACTERS = re.compile(r"[A-Za-z0-9@+\-\[\]()\\/%=#$:.*]+")

VICUNA_SYSTEM_PROMPT = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
# Vicuna v1 conversation as InstructMol trained it: "<s>{system} USER: <mol>\n{question} ASSISTANT: {answer}</s>".
# The template writes the BOS token itself: TRL tokenizes rendered conversations without special tokens.
# Content may be a string or a list of blocks; image and molecule blocks render as the placeholder, separated by a
# newline from the blocks next to them, exactly like `InstructMolProcessor.flatten_message_content`.
VICUNA_CHAT_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set system_message = messages[0]['content'] if messages[0]['content'] is string "
    "else messages[0]['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text') | join('') -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set system_message = '" + VICUNA_SYSTEM_PROMPT.replace("'", "\\'") + "' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{{- bos_token + system_message + ' ' -}}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'user' -%}{{- 'USER: ' -}}{%- else -%}{{- 'ASSISTANT: ' -}}{%- endif -%}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- else -%}{%- for block in message['content'] -%}"
    "{%- set is_molecule = block['type'] in ['image', 'molecule'] -%}"
    "{%- if not loop.first and (is_molecule or loop.previtem['type'] in ['image', 'molecule']) -%}"
    "{{- '\\n' -}}{%- endif -%}"
    "{%- if is_molecule -%}{{- '" + MOLECULE_TOKEN + "' -}}"
    "{%- elif block['type'] == 'text' -%}{{- block['text'] -}}{%- endif -%}"
    "{%- endfor -%}{%- endif -%}"
    "{%- if message['role'] == 'user' -%}{{- ' ' -}}{%- else -%}{{- eos_token -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'ASSISTANT:' -}}{%- endif -%}"
)


class InvalidMoleculeError(ValueError):
    """A SMILES string that cannot become a molecular graph (unparsable, or without atoms)."""


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


class MolecularGraphFeaturizer:
    """SMILES -> OGB molecular graphs, identical to `ogb.utils.smiles2graph`, clamped to the encoder's tables.

    Args:
        atom_feature_dims: sizes of the encoder's 9 atom embedding tables (current OGB's by default).
        bond_feature_dims: sizes of its 3 bond embedding tables.
        cache_size: how many featurized molecules to remember. Training reads every molecule once per
            epoch, so after the first epoch featurization costs a dictionary lookup.
    """

    def __init__(
        self,
        atom_feature_dims: list[int] | None = None,
        bond_feature_dims: list[int] | None = None,
        cache_size: int = 200_000,
    ):
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

    def featurize(self, smiles: str) -> MolecularGraph:
        """The graph of one SMILES (cached).

        Raises:
            InvalidMoleculeError: naming the SMILES when it is not a string, holds characters SMILES does not use
                (whitespace, a name after the molecule), cannot be parsed, has no atoms, or has more than
                `MAX_ATOMS_PER_MOLECULE` atoms.
        """
        check_smiles_string(smiles)
        return self._featurize_cached(smiles)

    def __getstate__(self) -> dict:
        # The cache holds a bound method and cannot be pickled (DataLoader workers, deepcopy).
        return {
            "atom_feature_dims": self.atom_feature_dims,
            "bond_feature_dims": self.bond_feature_dims,
            "cache_size": self.cache_size,
        }

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

    def __call__(self, molecules: list[str]) -> tuple[dict[str, np.ndarray], list[int]]:
        """Featurizes molecules into one flat batch, PyG style.

        Returns:
            `({"atom_features": [N, 9], "bond_features": [E, 3], "edge_index": [2, E]}, atoms_per_molecule)`,
            with `edge_index` offset so that it indexes the batch's atom rows.

        Raises:
            InvalidMoleculeError: naming the first SMILES that cannot be featurized.
        """
        graphs = [self.featurize(smiles) for smiles in molecules]
        atom_counts = [graph.num_atoms for graph in graphs]
        offsets = np.cumsum([0, *atom_counts[:-1]], dtype=np.int64)
        batch = {
            "atom_features": np.empty((0, len(self.atom_feature_dims)), dtype=np.int64),
            "bond_features": np.empty((0, len(self.bond_feature_dims)), dtype=np.int64),
            "edge_index": np.empty((2, 0), dtype=np.int64),
        }
        if graphs:
            batch["atom_features"] = np.concatenate([graph.atom_features for graph in graphs])
            batch["bond_features"] = np.concatenate([graph.bond_features for graph in graphs])
            batch["edge_index"] = np.concatenate(
                [graph.edge_index + offset for graph, offset in zip(graphs, offsets)], axis=1
            )
        return batch, atom_counts


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


# Where a message flattened for the chat template keeps the SMILES of its molecule blocks.
MESSAGE_MOLECULES_KEY = "molecules"
# Tokenizer options that would split or rearrange a sample's tokens away from its molecules.
_UNSUPPORTED_TOKENIZER_KWARGS = ("return_overflowing_tokens", "is_split_into_words", "stride")


def _is_molecule_block(block: dict) -> bool:
    return block.get("type") in ("image", "molecule")


def flatten_content(content: str | list[dict], molecule_token: str = MOLECULE_TOKEN) -> tuple[str, list[str | None]]:
    """A message's content as one string and the SMILES of its molecule blocks.

    A molecule block becomes `molecule_token`, separated by a newline from the blocks next to it: `<mol>\\n{text}`
    or `{text}\\n<mol>`, as InstructMol's released code wrote the graph before or after an instruction. Accepts
    `{"type": "molecule", "molecule": smiles}` and `{"type": "image", "image": smiles}` (what TRL builds from a
    dataset's `images` column); a block without a SMILES yields None.
    """
    if isinstance(content, str):
        return content, []
    pieces, smiles, previous_is_molecule = [], [], None
    for block in content:
        is_molecule = _is_molecule_block(block)
        if is_molecule:
            piece = molecule_token
            smiles.append(block.get(block["type"]))
        elif block.get("type") == "text":
            piece = block.get("text")
            if not isinstance(piece, str):
                raise ValueError(f"A text block needs a string under 'text': {block!r:.200}")
        else:
            raise ValueError(f"Unsupported content block type {block.get('type')!r} in {block!r:.200}")
        if previous_is_molecule is not None and (is_molecule or previous_is_molecule):
            pieces.append("\n")
        pieces.append(piece)
        previous_is_molecule = is_molecule
    return "".join(pieces), smiles


class InstructMolProcessor(ProcessorMixin):
    r"""
    Turns text with `<mol>` placeholders plus SMILES strings into model inputs: token ids in which each
    placeholder is repeated once per heavy atom of its molecule, and the molecules' graphs as flat tensors.

    Args:
        tokenizer: the LLM's tokenizer, with the molecule token added (`instructmol init` does this).
        chat_template (`str`, *optional*): Jinja chat template; Vicuna v1 (`VICUNA_CHAT_TEMPLATE`) for
            models without their own.
        molecule_token (`str`, defaults to `"<mol>"`): the placeholder token.
        atom_feature_dims, bond_feature_dims (`list[int]`, *optional*): sizes of the graph encoder's
            embedding tables (current OGB's by default); values beyond a table map to its last row.

    Example:

    ```python
    >>> inputs = processor(text=["USER: <mol>\nWhat is this? ASSISTANT:"], molecules=[["CCO"]], return_tensors="pt")
    >>> inputs["input_ids"].shape, inputs["atom_features"].shape, inputs["edge_index"].shape
    (torch.Size([1, 13]), torch.Size([3, 9]), torch.Size([2, 4]))
    ```
    """

    def __init__(
        self,
        tokenizer=None,
        chat_template: str | None = None,
        molecule_token: str = MOLECULE_TOKEN,
        atom_feature_dims: list[int] | None = None,
        bond_feature_dims: list[int] | None = None,
        **kwargs,
    ):
        self.molecule_token = molecule_token
        self.atom_feature_dims = list(atom_feature_dims or OGB_ATOM_FEATURE_DIMS)
        self.bond_feature_dims = list(bond_feature_dims or OGB_BOND_FEATURE_DIMS)
        super().__init__(tokenizer, chat_template=chat_template, **kwargs)
        self.featurizer = MolecularGraphFeaturizer(self.atom_feature_dims, self.bond_feature_dims)
        self.mol_token_id = tokenizer.convert_tokens_to_ids(molecule_token)
        if self.mol_token_id is None or self.mol_token_id == tokenizer.unk_token_id:
            raise ValueError(
                f"The tokenizer has no {molecule_token!r} token. Add it as a special token and resize the model's "
                "embeddings (`instructmol init` does both)."
            )

    def to_dict(self) -> dict:
        output = super().to_dict()
        output.pop("featurizer", None)
        output.pop("mol_token_id", None)
        return output

    @property
    def model_input_names(self) -> list[str]:
        return [*self.tokenizer.model_input_names, *GRAPH_INPUT_NAMES]

    # ProcessorMixin's `__call__` and `apply_chat_template` expand `images` at `image_token` (and count `image_token_id`,
    # which the model's config and this processor call `mol_token_id`): molecules travel there
    # (TRL's collator passes them as `images`), the featurizer is their processor, `<mol>` their placeholder.
    @property
    def image_token(self) -> str:
        return self.molecule_token

    @property
    def image_token_id(self) -> int:
        return self.mol_token_id

    @property
    def image_processor(self) -> MolecularGraphFeaturizer:
        return self.featurizer

    def __call__(
        self,
        text: str | list[str] | None = None,
        molecules: list[list[str]] | list[str] | str | None = None,
        *,
        images: list[list[str]] | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Tokenizes `text`, expanding the i-th `<mol>` of a sample into one token per atom of its i-th molecule.

        `ProcessorMixin.__call__` does the work through this class's hooks (`prepare_inputs_layout`,
        `validate_inputs`, `_process_images`, `_check_special_mm_tokens`); this signature only names the
        modality: `processor(text, molecules)`.

        Args:
            text: one string or a batch of strings, each with one `<mol>` per molecule.
            molecules: SMILES per sample (`list[list[str]]`); a `str` or `list[str]` is read as the molecules
                of a single sample.
            images: the same as `molecules`, under the name TRL's vision-language collator passes.
            kwargs: `return_tensors` (`"pt"`, `"np"` or None; graph arrays follow it, numpy when None) and the
                tokenizer's options (`padding`, `padding_side`, `truncation`, `max_length`, `add_special_tokens`,
                `pad_to_multiple_of`, `return_offsets_mapping`, ...).

        Returns:
            `BatchFeature` with the tokenizer's outputs and, when any molecule is given, `atom_features` `[N, 9]`,
            `bond_features` `[E, 3]`, `edge_index` `[2, E]` (offsets global over the batch).

        Raises:
            ValueError: naming the sample and SMILES when a SMILES cannot be parsed or has no atoms, when the
                number of `<mol>` does not match the molecules given, or when truncation would cut a molecule.
        """
        if molecules is not None and images is not None:
            raise ValueError("Pass molecules either as `molecules=` or as `images=`, not both.")
        return super().__call__(images=molecules if molecules is not None else images, text=text, **kwargs)

    def prepare_inputs_layout(self, images=None, text=None, videos=None, audio=None, **kwargs):
        """`text` as a list of strings and the molecules as one list of SMILES per sample (None when there are
        none); a ValueError names the sample and value that is neither."""
        texts = self._texts(text)
        molecules_per_sample = self._molecules_per_sample(images, len(texts))
        return (molecules_per_sample if any(molecules_per_sample) else None), texts, videos, audio

    def validate_inputs(self, images=None, text=None, videos=None, audio=None, **kwargs) -> None:
        """Refuses tokenizer options that would part a sample's tokens from its molecules, a sample whose `<mol>`
        count differs from its molecules, and a SMILES the featurizer cannot read (naming the sample)."""
        unsupported = sorted(key for key in _UNSUPPORTED_TOKENIZER_KWARGS if kwargs.get(key))
        if unsupported:
            raise ValueError(
                f"InstructMolProcessor does not support {', '.join(unsupported)}: a sample's tokens and its molecules "
                "must stay one row (split the text yourself, keeping whole molecules)."
            )
        for sample_index, sample_text in enumerate(text):
            sample_molecules = images[sample_index] if images is not None else []
            placeholders = sample_text.count(self.molecule_token)
            if placeholders != len(sample_molecules):
                raise ValueError(
                    f"Sample {sample_index}: the text has {placeholders} {self.molecule_token} placeholder(s) but "
                    f"{len(sample_molecules)} molecule(s) were given {list(sample_molecules)}."
                )
            for smiles in sample_molecules:
                self._num_atoms(smiles, sample_index)

    def _process_images(self, images: list[list[str]], **kwargs) -> tuple[dict[str, np.ndarray], list[str]]:
        """The graphs of every sample's molecules as one flat batch, and each molecule's placeholder expansion
        (one `<mol>` per atom, in order)."""
        flat_smiles = [smiles for sample_molecules in images for smiles in sample_molecules]
        graph_batch, atom_counts = self.featurizer(flat_smiles)
        return graph_batch, [self.molecule_token * count for count in atom_counts]

    def _check_special_mm_tokens(self, text: list[str], text_inputs, modalities: list[str]) -> None:
        """Every expanded `<mol>` survived tokenization; else truncation cut a molecule (naming the sample)."""
        for sample_index, (sample_text, ids) in enumerate(zip(text, text_inputs["input_ids"])):
            expected = sample_text.count(self.molecule_token)
            found = int((np.asarray(ids) == self.mol_token_id).sum())
            if found != expected:
                raise ValueError(
                    f"Sample {sample_index}: its molecules need {expected} {self.molecule_token} tokens but only "
                    f"{found} survived tokenization (the sample was cut at {len(ids)} tokens). Raise max_length or "
                    "drop the sample."
                )

    @staticmethod
    def _texts(text) -> list[str]:
        """`text` as a non-empty list of strings that UTF-8 can encode; a ValueError names what is not."""
        if text is None:
            raise ValueError("InstructMolProcessor needs `text` (with one <mol> per molecule).")
        texts = [text] if isinstance(text, str) else list(text) if isinstance(text, (list, tuple)) else None
        if not texts:
            raise ValueError(f"`text` must be a string or a non-empty list of strings, got {text!r:.80}")
        for sample_index, sample_text in enumerate(texts):
            if not isinstance(sample_text, str):
                raise ValueError(f"Sample {sample_index}: the text must be a string, got {type(sample_text).__name__} "
                                 f"{sample_text!r:.80}")
            try:
                sample_text.encode("utf-8")
            except UnicodeEncodeError as error:
                raise ValueError(f"Sample {sample_index}: the text holds {sample_text[error.start]!r} at position "
                                 f"{error.start}, which is not a character (a lone surrogate)") from None
        return texts

    @staticmethod
    def _molecules_per_sample(molecules, num_samples: int) -> list[list[str]]:
        """One list of SMILES per sample; a `str` or a flat list of strings is a single sample's molecules."""
        if molecules is None:
            return [[] for _ in range(num_samples)]
        if isinstance(molecules, str):
            molecules = [molecules]
        elif isinstance(molecules, Iterable) and not isinstance(molecules, (bytes, dict)):
            molecules = list(molecules)  # generators and other iterables are read once
        else:
            raise ValueError(f"Expected SMILES per sample, got {type(molecules).__name__} {molecules!r:.200}.")
        if num_samples == 1 and all(isinstance(m, str) for m in molecules):
            molecules = [molecules]
        if len(molecules) != num_samples or not all(isinstance(m, (list, tuple)) for m in molecules):
            raise ValueError(
                f"Expected one list of SMILES per sample ({num_samples} samples), got {molecules!r:.200}."
            )
        for sample_index, sample_molecules in enumerate(molecules):
            for smiles in sample_molecules:
                if not isinstance(smiles, str):
                    raise ValueError(f"Sample {sample_index}: a molecule must be a SMILES string, got "
                                     f"{type(smiles).__name__} {smiles!r:.80}")
        return [list(m) for m in molecules]

    def _num_atoms(self, smiles: str, sample_index: int) -> int:
        try:
            return self.featurizer.featurize(smiles).num_atoms
        except InvalidMoleculeError as error:
            raise ValueError(f"Sample {sample_index}: {error}") from None

    def flatten_message_content(self, content: str | list[dict]) -> tuple[str, list[str | None]]:
        """A message's content as one string and the SMILES of its molecule blocks (see `flatten_content`)."""
        return flatten_content(content, self.molecule_token)

    # `apply_chat_template` is ProcessorMixin's; these two hooks let any LLM's own chat template render molecules.
    def _normalize_conversations(self, conversation) -> tuple[list, bool]:
        """ProcessorMixin's normalisation, then every message's content flattened to one string (molecule blocks
        become `<mol>`, see `flatten_message_content`), the blocks' SMILES kept beside it under `molecules`: string-only
        templates render it, and `_multimodal_inputs_from_conversations` reads the SMILES."""
        conversations, is_batched = super()._normalize_conversations(conversation)
        flattened = []
        for messages in conversations:
            flat_messages = []
            for message in messages:
                content, smiles = self.flatten_message_content(message.get("content") or "")
                flat_messages.append({**message, "content": content, MESSAGE_MOLECULES_KEY: smiles})
            flattened.append(flat_messages)
        return flattened, is_batched

    def _prepare_processor_kwargs(self, *args, **kwargs) -> dict:
        """ProcessorMixin's, with the tokenizer adding no special token unless told to: the template writes them all,
        as when TRL's collator tokenizes rendered conversations (whether or not the template starts with BOS)."""
        return {"add_special_tokens": False, **super()._prepare_processor_kwargs(*args, **kwargs)}

    def _multimodal_inputs_from_conversations(self, conversations, audio_loading_params, load_audio_from_video=False):
        """The SMILES of each conversation's molecule blocks, in order, as its `images`."""
        batch_molecules = []
        for conversation_index, messages in enumerate(conversations):
            molecules = [smiles for message in messages for smiles in message[MESSAGE_MOLECULES_KEY]]
            if None in molecules:
                raise ValueError(
                    f"Conversation {conversation_index}: a molecule block has no SMILES; write "
                    "{'type': 'molecule', 'molecule': smiles}."
                )
            batch_molecules.append(molecules)
        return batch_molecules, [[] for _ in conversations], [], {}

    def post_process_generation(self, generated_ids, prompt_length: int = 0, **decode_kwargs) -> list[str]:
        """Decodes generated ids after the prompt (`generate` returns prompt + answer), special tokens removed."""
        decode_kwargs.setdefault("skip_special_tokens", True)
        if not hasattr(generated_ids, "shape"):  # lists of ids; tensors stay on their device
            generated_ids = np.asarray(generated_ids, dtype=np.int64)
        if generated_ids.ndim != 2:
            raise ValueError(f"Expected generated ids of shape [batch, length], got shape {tuple(generated_ids.shape)}")
        return self.batch_decode(generated_ids[:, prompt_length:], **decode_kwargs)


__all__ = [
    "InstructMolProcessor",
    "MolecularGraphFeaturizer",
    "MolecularGraph",
    "InvalidMoleculeError",
    "VICUNA_CHAT_TEMPLATE",
    "flatten_content",
    "VICUNA_SYSTEM_PROMPT",
]
