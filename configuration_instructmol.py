"""InstructMol configuration (Hub remote code).

This file travels with every saved InstructMol checkpoint and is loaded with
`trust_remote_code=True`; it depends on transformers only.
"""

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

# Sizes of the embedding tables of current OGB (`ogb.utils.features.get_atom_feature_dims()` and
# `get_bond_feature_dims()`): atomic number, chirality, degree, formal charge, number of Hs,
# radical electrons, hybridization, aromatic, in ring / bond type, stereo, conjugated.
# A converted checkpoint brings its own sizes (MoleculeSTM's chirality table has 4 rows).
OGB_ATOM_FEATURE_DIMS = [119, 5, 12, 12, 10, 6, 6, 2, 2]
OGB_BOND_FEATURE_DIMS = [5, 6, 2]
# A molecular graph batch as the featurizer writes it and the model reads it (flat over the batch, PyG style).
GRAPH_INPUT_NAMES = ("atom_features", "bond_features", "edge_index")

PROJECTOR_TYPES = ("linear", "mlp2x_gelu")


@strict
class InstructMolConfig(PreTrainedConfig):
    r"""
    Configuration of an InstructMol model: a GIN graph encoder reads a molecular graph, a projector maps each
    atom vector into the LLM's embedding space, and a causal LLM reads them in place of the `<mol>` tokens.

    Args:
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            Configuration of the language model (any causal LM; a Llama config by default).
        graph_num_layers (`int`, defaults to 5): number of GIN layers.
        graph_hidden_size (`int`, defaults to 300): width of the atom vectors.
        graph_dropout (`float`, defaults to 0.5):
            Dropout between GIN layers (the pretrain-gnns / MoleculeSTM fine-tuning value). Inactive while the
            encoder is frozen, because a frozen encoder always runs in eval mode.
        atom_feature_dims (`list[int]`): size of each of the 9 atom feature embedding tables.
        bond_feature_dims (`list[int]`): size of each of the 3 bond feature embedding tables.
        projector_type (`"linear"` or `"mlp2x_gelu"`):
            `"linear"` as in the paper; `"mlp2x_gelu"` (Linear, GELU, Linear) for the ablation.
        mol_token_id (`int`, *optional*): id of the `<mol>` placeholder token in the tokenizer.
        freeze_llm (`bool`): keep the language model and its head frozen (stage 1).
        freeze_graph_encoder (`bool`): keep the graph encoder frozen and in eval mode (both stages).
    """

    model_type = "instructmol"
    sub_configs_defaults = {"text_config": SubConfigSpec(config_class=AutoConfig, model_type="llama")}

    text_config: dict | PreTrainedConfig | None = None
    graph_num_layers: int = 5
    graph_hidden_size: int = 300
    graph_dropout: float = 0.5
    atom_feature_dims: list[int] | None = None
    bond_feature_dims: list[int] | None = None
    projector_type: str = "linear"
    mol_token_id: int | None = None
    freeze_llm: bool = False
    freeze_graph_encoder: bool = True
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        # Configs written by earlier versions of this package carry `graph_jk: "last"`, the only mode the encoder has (the atom
        # vectors of its last layer, as InstructMol reads MoleculeSTM's GIN): taken as it is; any other mode would
        # be a setting with no effect, so it is refused.
        jumping_knowledge = kwargs.pop("graph_jk", "last")
        if jumping_knowledge != "last":
            raise ValueError(
                f"graph_jk={jumping_knowledge!r} is not supported: the graph encoder gives the atom vectors of its "
                "last layer (InstructMol's choice); remove graph_jk from the config"
            )
        super().__post_init__(**kwargs)
        if self.atom_feature_dims is None:
            self.atom_feature_dims = list(OGB_ATOM_FEATURE_DIMS)
        if self.bond_feature_dims is None:
            self.bond_feature_dims = list(OGB_BOND_FEATURE_DIMS)
        if len(self.atom_feature_dims) != len(OGB_ATOM_FEATURE_DIMS):
            raise ValueError(
                f"atom_feature_dims must have {len(OGB_ATOM_FEATURE_DIMS)} entries (one per OGB atom feature), "
                f"got {self.atom_feature_dims}"
            )
        if len(self.bond_feature_dims) != len(OGB_BOND_FEATURE_DIMS):
            raise ValueError(
                f"bond_feature_dims must have {len(OGB_BOND_FEATURE_DIMS)} entries (one per OGB bond feature), "
                f"got {self.bond_feature_dims}"
            )
        if self.projector_type not in PROJECTOR_TYPES:
            raise ValueError(f"projector_type must be one of {PROJECTOR_TYPES}, got {self.projector_type!r}")
        self._check_sizes()
        # The LM head is tied to the input embeddings exactly when the language model ties them.
        if not self.tie_word_embeddings and self.text_config.tie_word_embeddings:
            self.tie_word_embeddings = True


    def _check_sizes(self) -> None:
        """Refuses sizes no model can be built or answer with (as transformers' own configs check theirs), naming
        the field: a damaged config.json fails here, not as an IndexError inside the model or at every answer."""
        for name in ("graph_num_layers", "graph_hidden_size"):
            if not (isinstance(getattr(self, name), int) and getattr(self, name) >= 1):
                raise ValueError(f"{name} must be a whole number of at least 1, got {getattr(self, name)!r}")
        if not 0 <= self.graph_dropout < 1:
            raise ValueError(f"graph_dropout must be at least 0 and below 1, got {self.graph_dropout!r}")
        for name in ("atom_feature_dims", "bond_feature_dims"):
            if not all(isinstance(size, int) and size >= 1 for size in getattr(self, name)):
                raise ValueError(f"every entry of {name} (an embedding table's rows) must be at least 1, got "
                                 f"{getattr(self, name)}")
        layers = getattr(self.text_config, "num_hidden_layers", None)
        if layers is not None and layers < 1:
            raise ValueError(f"text_config.num_hidden_layers must be at least 1, got {layers}")
        if self.mol_token_id is None:
            return
        vocab_size = getattr(self.text_config, "vocab_size", None)
        if self.mol_token_id < 0 or (vocab_size is not None and self.mol_token_id >= vocab_size):
            raise ValueError(f"mol_token_id must be a token of the language model (0 to {vocab_size - 1 if vocab_size else '...'}), "
                             f"got {self.mol_token_id}")


__all__ = ["GRAPH_INPUT_NAMES", "InstructMolConfig", "OGB_ATOM_FEATURE_DIMS", "OGB_BOND_FEATURE_DIMS"]
