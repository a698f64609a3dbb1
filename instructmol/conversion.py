"""Conversion of MoleculeSTM's GIN checkpoint into InstructMol's graph encoder.

MoleculeSTM's `molecule_model.pth` (Hub repo `chao1224/MoleculeSTM`, `demo/demo_checkpoints_Graph/`) is the
state dict of its `GNN_graphpred`. Every key is mapped and every shape checked: the original InstructMol
loaded it with `strict=False`, which silently loads nothing when the names do not match.
"""

import pickle
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import hf_hub_download

from .defaults import MOLECULESTM_GRAPH_CHECKPOINT, MOLECULESTM_REPO_ID


# MoleculeSTM key (without the `molecule_node_model.` prefix) -> InstructMol graph-encoder key.
_KEY_PATTERNS = [
    (r"atom_encoder\.atom_embedding_list\.(\d+)\.weight", r"atom_embedding.tables.\1.weight"),
    (r"gnns\.(\d+)\.eps", r"layers.\1.conv.eps"),
    (r"gnns\.(\d+)\.mlp\.([013])\.(.+)", r"layers.\1.conv.nn.\2.\3"),
    (r"gnns\.(\d+)\.bond_encoder\.bond_embedding_list\.(\d+)\.weight", r"layers.\1.bond_embedding.tables.\2.weight"),
    (r"batch_norms\.(\d+)\.(.+)", r"batch_norms.\1.\2"),
]
_NODE_MODEL_PREFIX = "molecule_node_model."
# The graph-level prediction head of GNN_graphpred; InstructMol reads atom vectors, not a graph prediction.
_UNUSED_PREFIXES = ("graph_pred_linear.",)


class CheckpointConversionError(ValueError):
    """A checkpoint whose keys or shapes do not match MoleculeSTM's GIN."""


@dataclass
class ConvertedGraphEncoder:
    """A converted encoder: its state dict (InstructMol names) and the architecture read from the checkpoint."""

    state_dict: dict[str, torch.Tensor]
    atom_feature_dims: list[int]
    bond_feature_dims: list[int]
    num_layers: int
    hidden_size: int

    def config_kwargs(self) -> dict:
        """The `InstructMolConfig` fields this checkpoint determines."""
        return {
            "atom_feature_dims": self.atom_feature_dims,
            "bond_feature_dims": self.bond_feature_dims,
            "graph_num_layers": self.num_layers,
            "graph_hidden_size": self.hidden_size,
        }


def load_moleculestm_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """Loads a `.pth` state dict safely (`weights_only=True`: no code from the file is executed).

    Raises:
        CheckpointConversionError: naming the file when it is missing, a folder, empty, truncated, not a PyTorch
            file, holds objects other than tensors, or is not a dict of tensors.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"the graph-encoder checkpoint {path} does not exist")
    if not path.is_file():
        raise CheckpointConversionError(f"{path} is a folder; --graph-encoder takes the .pth file itself")
    with open(path, "rb") as file:
        head = file.read(4)
    # torch.save writes a zip archive (or, before torch 1.6, a pickle starting with its protocol byte 0x80).
    if not head.startswith((b"PK\x03\x04", b"\x80")):
        raise CheckpointConversionError(
            f"{path} is not a PyTorch checkpoint (it is {'empty' if not head else 'neither a zip archive nor a pickle'})"
        )
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointConversionError(
            f"{path} holds more than tensors; refusing to unpickle it (torch.load weights_only=True): {error}"
        ) from None
    except (RuntimeError, EOFError, OSError) as error:  # torch's reader reports a cut or damaged archive this way
        raise CheckpointConversionError(f"{path} cannot be read as a PyTorch checkpoint (truncated?): {error}") from None
    if not isinstance(state_dict, dict):
        raise CheckpointConversionError(f"{path} does not hold a state dict (found {type(state_dict).__name__}).")
    not_tensors = sorted(str(key) for key, value in state_dict.items() if not isinstance(value, torch.Tensor))
    if not_tensors:
        raise CheckpointConversionError(f"{path}: these entries are not tensors: {not_tensors[:10]}")
    return state_dict


def _rename(key: str) -> str | None:
    for pattern, replacement in _KEY_PATTERNS:
        if re.fullmatch(pattern, key):
            return re.sub(pattern, replacement, key)
    return None


def convert_moleculestm_state_dict(state_dict: dict[str, torch.Tensor]) -> ConvertedGraphEncoder:
    """Maps MoleculeSTM GIN keys to InstructMol's graph encoder; the architecture is read off the shapes.

    Raises:
        CheckpointConversionError: listing every unexpected key, or every key the encoder needs but the
            checkpoint lacks, or every shape that disagrees.
    """
    converted, unexpected = {}, []
    for key, tensor in state_dict.items():
        if key.startswith(_UNUSED_PREFIXES):
            continue
        new_key = _rename(key.removeprefix(_NODE_MODEL_PREFIX))
        if new_key is None:
            unexpected.append(key)
        else:
            converted[new_key] = tensor
    if unexpected:
        raise CheckpointConversionError(f"Keys that are not part of MoleculeSTM's GIN: {sorted(unexpected)}")

    atom_tables = sorted(
        (int(m.group(1)), tensor) for key, tensor in converted.items() if (m := re.fullmatch(r"atom_embedding\.tables\.(\d+)\.weight", key))
    )
    if not atom_tables:
        raise CheckpointConversionError("The checkpoint has no atom embedding tables (atom_encoder.atom_embedding_list.*).")
    check_values(state_dict)
    hidden_size = common_table_width(state_dict)
    layer_ids = {int(m.group(1)) for key in converted if (m := re.match(r"layers\.(\d+)\.", key))}
    bond_tables = sorted(
        (int(m.group(1)), tensor) for key, tensor in converted.items() if (m := re.fullmatch(r"layers\.0\.bond_embedding\.tables\.(\d+)\.weight", key))
    )
    result = ConvertedGraphEncoder(
        state_dict=converted,
        atom_feature_dims=[tensor.shape[0] for _, tensor in atom_tables],
        bond_feature_dims=[tensor.shape[0] for _, tensor in bond_tables],
        num_layers=len(layer_ids),
        hidden_size=hidden_size,
    )
    check_against_encoder(result)
    return result


def check_values(state_dict: dict[str, torch.Tensor]) -> None:
    """Refuses weights that would make the encoder's outputs meaningless: non-finite values, a BatchNorm
    variance that is not positive, or a weight tensor of zeros only."""
    problems = []
    for key, tensor in state_dict.items():
        values = tensor.float()
        if not torch.isfinite(values).all():
            problems.append(f"{key} holds NaN or infinite values")
        elif key.endswith("running_var") and (values <= 0).any():
            problems.append(f"{key} holds a variance that is not positive ({float(values.min()):.3g})")
        elif key.endswith("weight") and values.numel() and not values.any():
            problems.append(f"{key} is all zeros")
    if problems:
        raise CheckpointConversionError("The checkpoint's weights are not usable: " + "; ".join(problems))


def common_table_width(state_dict: dict[str, torch.Tensor]) -> int:
    """The width shared by the atom and bond embedding tables; names any table whose width differs (the encoder's
    hidden size is read from the tables, so one odd table would otherwise show up as wrong shapes elsewhere)."""
    tables = {key: tensor.shape[-1] for key, tensor in state_dict.items()
              if re.search(r"(atom|bond)_embedding_list\.\d+\.weight$", key) and tensor.ndim == 2}
    width, _ = Counter(tables.values()).most_common(1)[0]
    odd = sorted(f"{key} ({table_width})" for key, table_width in tables.items() if table_width != width)
    if odd:
        raise CheckpointConversionError(
            f"Embedding tables of another width than the other {len(tables) - len(odd)} tables ({width}): {odd}"
        )
    return width


def check_against_encoder(converted: ConvertedGraphEncoder) -> None:
    """Builds the encoder the checkpoint describes and checks that keys and shapes match one to one."""
    from configuration_instructmol import InstructMolConfig
    from modeling_instructmol import InstructMolGraphEncoder

    try:
        config = InstructMolConfig(text_config={"model_type": "llama"}, **converted.config_kwargs())
    except ValueError as error:
        raise CheckpointConversionError(f"The checkpoint's tables do not fit an OGB GIN: {error}") from None
    with torch.device("meta"):
        expected = InstructMolGraphEncoder(config).state_dict()
    missing = sorted(set(expected) - set(converted.state_dict))
    if missing:
        raise CheckpointConversionError(f"The checkpoint lacks these graph-encoder weights: {missing}")
    unexpected = sorted(set(converted.state_dict) - set(expected))
    if unexpected:
        raise CheckpointConversionError(f"Weights the graph encoder does not have: {unexpected}")
    wrong_shapes = [
        f"{key}: checkpoint {tuple(converted.state_dict[key].shape)}, encoder {tuple(tensor.shape)}"
        for key, tensor in expected.items()
        if converted.state_dict[key].shape != tensor.shape
    ]
    if wrong_shapes:
        raise CheckpointConversionError("Shapes that do not match the encoder: " + "; ".join(wrong_shapes))


def resolve_graph_encoder(spec: str) -> ConvertedGraphEncoder | None:
    """None for 'none'; else the converted MoleculeSTM checkpoint at a path or on the Hub."""
    if spec == "none":
        return None
    if spec == "moleculestm":
        spec = hf_hub_download(MOLECULESTM_REPO_ID, MOLECULESTM_GRAPH_CHECKPOINT)
    return convert_moleculestm_state_dict(load_moleculestm_checkpoint(spec))
