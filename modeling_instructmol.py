"""InstructMol model (Hub remote code): GIN graph encoder + projector + causal LLM, LLaVA style.

This file travels with every saved InstructMol checkpoint and is loaded with `trust_remote_code=True`;
it depends on torch, torch_geometric and transformers only.
"""

import math
import warnings
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.nn import GINEConv
from transformers import AutoModel, GenerationConfig, GenerationMixin, PreTrainedModel
from transformers import initialization as init
from transformers.cache_utils import Cache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast
from transformers.modeling_utils import slice_logits_to_keep
from transformers.utils import is_torchdynamo_compiling, torch_compilable_check
from transformers.utils.generic import can_return_tuple

try:  # a sibling module when loaded from a checkpoint with trust_remote_code
    from .configuration_instructmol import GRAPH_INPUT_NAMES, InstructMolConfig
except ImportError:  # a top-level module after `pip install`
    from configuration_instructmol import GRAPH_INPUT_NAMES, InstructMolConfig

# transformers 5.24 renamed the key/value cache `past_key_values` to `cache`, as an argument and as an output field.
# This file runs on whichever transformers loads the checkpoint, so it passes and reads the cache under the installed
# version's name; the model's own forward takes both (see `cache_under_either_name`).
CACHE_NAME = "cache" if "cache" in BaseModelOutputWithPast.__dataclass_fields__ else "past_key_values"


def cache_under_either_name(cache: Cache | None, past_key_values: Cache | None) -> Cache | None:
    """The key/value cache given as `cache` or as `past_key_values`: the name before transformers 5.24 (what 5.23's
    `generate` passes), and since then a deprecated alias with the FutureWarning transformers' own models give."""
    if past_key_values is None:
        return cache
    if cache is not None:
        raise ValueError("Pass the key/value cache once, as `cache` (or `past_key_values` before transformers 5.24)")
    if CACHE_NAME == "cache" and not is_torchdynamo_compiling():
        warnings.warn("`past_key_values` is deprecated since transformers 5.24: pass the key/value cache as `cache`",
                      FutureWarning, stacklevel=3)
    return past_key_values


@dataclass
class InstructMolModelOutputWithPast(BaseModelOutputWithPast):
    """The language model's outputs, plus `molecule_embeddings` `[num_atoms, hidden]`: the projected atom
    vectors that replaced the `<mol>` tokens (None when the input had no molecule)."""

    molecule_embeddings: torch.FloatTensor | None = None


@dataclass
class InstructMolCausalLMOutputWithPast(CausalLMOutputWithPast):
    """Causal LM outputs, plus `molecule_embeddings` `[num_atoms, hidden]` as in `InstructMolModelOutputWithPast`."""

    molecule_embeddings: torch.FloatTensor | None = None


class OGBFeatureEmbedding(nn.Module):
    """OGB's AtomEncoder/BondEncoder: one embedding table per categorical feature, the embeddings summed.

    Args:
        feature_dims: size of each feature's table.
        hidden_size: embedding width.
    """

    def __init__(self, feature_dims: list[int], hidden_size: int):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(size, hidden_size) for size in feature_dims)

    def forward(self, features: torch.LongTensor) -> torch.Tensor:
        """`features` `[n, num_features]` table indices -> `[n, hidden_size]` in float32 (see the encoder)."""
        embedded = self.tables[0](features[:, 0]).float()
        for column, table in enumerate(self.tables[1:], start=1):
            embedded = embedded + table(features[:, column]).float()
        return embedded


# The graph encoder computes in float32 whatever dtype a training engine gave its parameters: DeepSpeed casts every
# parameter to bf16 (and leaves buffers in float32), FSDP2 gathers parameters in its compute dtype, autocast runs
# linear layers in bf16. The encoder's layers therefore cast their parameters to float32 where they use them, under
# `torch.autocast(enabled=False)`; where the parameters already are float32 (transformers keeps the encoder so when it
# loads a model, `_keep_in_fp32_modules_strict`) the casts are no-ops.


class GINLinear(nn.Linear):
    """A linear layer of a GIN layer's MLP, computing in float32. Its own class also so that initialisation can tell it
    from the projector's: it starts as PyTorch initialises `nn.Linear`, as in pretrain-gnns' GIN, which MoleculeSTM
    continued from."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        return F.linear(input.float(), self.weight.float(), self.bias.float())


class GINBatchNorm(nn.BatchNorm1d):
    """BatchNorm of the graph encoder, computing in float32. In training mode the running statistics are updated in
    float32 and written back into the buffers, whatever their dtype."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        running_mean, running_var = self.running_mean.float(), self.running_var.float()
        output = F.batch_norm(input.float(), running_mean, running_var, self.weight.float(), self.bias.float(),
                              self.training, self.momentum, self.eps)
        if self.training:
            if running_mean is not self.running_mean:
                self.running_mean.copy_(running_mean)
                self.running_var.copy_(running_var)
            self.num_batches_tracked.add_(1)
        return output


class ShardSafeGINEConv(GINEConv):
    """`GINEConv` that leaves the MLP it is given as it was built. GINEConv's own reset re-initialises the MLP after
    its layers initialised themselves; under DeepSpeed ZeRO-3 those layers' parameters are already partitioned by
    then (a weight is an empty placeholder) and the reset fails. transformers' `_init_weights` initialises the whole
    encoder afterwards either way."""

    def reset_parameters(self) -> None:
        self.eps.data.fill_(self.initial_eps)


class GINLayer(nn.Module):
    """One GIN layer of MoleculeSTM/OGB: `mlp((1 + eps) * x_i + sum_j relu(x_j + bond_embedding_ij))`.

    That is exactly `torch_geometric.nn.GINEConv` with a trainable eps; each layer embeds the bond
    features with tables of its own.
    """

    def __init__(self, hidden_size: int, bond_feature_dims: list[int]):
        super().__init__()
        self.bond_embedding = OGBFeatureEmbedding(bond_feature_dims, hidden_size)
        mlp = nn.Sequential(
            GINLinear(hidden_size, 2 * hidden_size),
            GINBatchNorm(2 * hidden_size),
            nn.ReLU(),
            GINLinear(2 * hidden_size, hidden_size),
        )
        self.conv = ShardSafeGINEConv(mlp, train_eps=True)

    def forward(self, atom_states: torch.Tensor, edge_index: torch.LongTensor, bond_features: torch.LongTensor):
        """`atom_states` `[N, hidden]`, `edge_index` `[2, E]`, `bond_features` `[E, 3]` -> `[N, hidden]`."""
        return self.conv(atom_states, edge_index, self.bond_embedding(bond_features))


class InstructMolGraphEncoder(nn.Module):
    """The GIN of InstructMol (MoleculeSTM's): OGB feature embeddings, GIN layers with BatchNorm, ReLU on
    all but the last layer, jumping knowledge "last". Returns one vector per atom (no pooling).

    A frozen encoder (no parameter requires grad) stays in eval mode whatever `train()` says, so its
    BatchNorm running statistics never move and dropout stays off, as in the paper.
    """

    def __init__(self, config: InstructMolConfig):
        super().__init__()
        self.atom_embedding = OGBFeatureEmbedding(config.atom_feature_dims, config.graph_hidden_size)
        self.layers = nn.ModuleList(
            GINLayer(config.graph_hidden_size, config.bond_feature_dims) for _ in range(config.graph_num_layers)
        )
        self.batch_norms = nn.ModuleList(GINBatchNorm(config.graph_hidden_size) for _ in range(config.graph_num_layers))
        self.dropout = nn.Dropout(config.graph_dropout)

    def train(self, mode: bool = True):
        is_frozen = not any(parameter.requires_grad for parameter in self.parameters())
        return super().train(mode and not is_frozen)

    def forward(
        self, atom_features: torch.LongTensor, bond_features: torch.LongTensor, edge_index: torch.LongTensor
    ) -> torch.Tensor:
        """Atom vectors of a flat batch of molecular graphs.

        Args:
            atom_features: `[N, 9]` OGB atom feature indices, all molecules concatenated.
            bond_features: `[E, 3]` OGB bond feature indices, one row per directed edge.
            edge_index: `[2, E]` source and target rows of `atom_features` (offsets global over the batch).

        Returns:
            `[N, graph_hidden_size]` float32 atom vectors, whatever the dtype of the encoder's parameters and any
            autocast around it.

        Raises:
            ValueError: the three tensors disagree in shape, an edge points at no atom, a feature index lies outside
                its embedding table, or a BatchNorm in training mode would see a single atom.
        """
        self.check_graph_batch(atom_features, bond_features, edge_index)
        with torch.autocast(device_type=atom_features.device.type, enabled=False):
            atom_states = self.atom_embedding(atom_features)
            last_layer = len(self.layers) - 1
            for index, (layer, batch_norm) in enumerate(zip(self.layers, self.batch_norms)):
                atom_states = batch_norm(layer(atom_states, edge_index, bond_features))
                if index < last_layer:
                    atom_states = torch.relu(atom_states)
                atom_states = self.dropout(atom_states)
        return atom_states

    def check_graph_batch(
        self, atom_features: torch.LongTensor, bond_features: torch.LongTensor, edge_index: torch.LongTensor
    ) -> None:
        """Raises a ValueError naming the tensor and the problem unless the three describe one batch of graphs."""
        num_atom_features, num_bond_features = len(self.atom_embedding.tables), len(self.layers[0].bond_embedding.tables)
        shapes = {name: tuple(tensor.shape) for name, tensor in
                  (("atom_features", atom_features), ("bond_features", bond_features), ("edge_index", edge_index))}
        if (atom_features.ndim != 2 or atom_features.shape[1] != num_atom_features or bond_features.ndim != 2
                or bond_features.shape[1] != num_bond_features or edge_index.ndim != 2 or edge_index.shape[0] != 2
                or bond_features.shape[0] != edge_index.shape[1]):
            raise ValueError(
                f"A graph batch is atom_features [num_atoms, {num_atom_features}], bond_features [num_edges, "
                f"{num_bond_features}] and edge_index [2, num_edges] with the same num_edges; got {shapes}"
            )
        if any(tensor.is_floating_point() for tensor in (atom_features, bond_features, edge_index)):
            raise ValueError("atom_features, bond_features and edge_index hold integer indices, not floats")
        for name, features, tables in (("atom_features", atom_features, self.atom_embedding.tables),
                                       ("bond_features", bond_features, self.layers[0].bond_embedding.tables)):
            sizes = torch.tensor([table.num_embeddings for table in tables], device=features.device)
            torch_compilable_check(
                ((features >= 0) & (features < sizes)).all(),
                lambda name=name, features=features, sizes=sizes: _out_of_table_message(name, features, sizes),
            )
        num_atoms = atom_features.shape[0]
        torch_compilable_check(
            ((edge_index >= 0) & (edge_index < num_atoms)).all(),
            lambda: f"edge_index points at atoms outside 0..{num_atoms - 1} (values {int(edge_index.min())} to "
            f"{int(edge_index.max())}); were graphs of several batches mixed?",
        )
        if self.training and num_atoms < 2:
            raise ValueError(
                "The graph encoder is in training mode and got a batch of one atom: its BatchNorm needs at least two. "
                "Batch more molecules, or keep the encoder frozen (freeze_graph_encoder=True), which runs it in eval mode."
            )


def _out_of_table_message(name: str, features: torch.Tensor, sizes: torch.Tensor) -> str:
    bad = ((features < 0) | (features >= sizes)).nonzero()[0]
    row, column = int(bad[0]), int(bad[1])
    return (f"{name}[{row}, {column}] is {int(features[row, column])}, outside its embedding table of "
            f"{int(sizes[column])} rows (0..{int(sizes[column]) - 1}); the processor maps every value into range")


class InstructMolProjector(nn.Module):
    """Maps atom vectors into the LLM's embedding space: `linear` (the paper) or `mlp2x_gelu` (ablation)."""

    def __init__(self, config: InstructMolConfig):
        super().__init__()
        text_hidden_size = config.text_config.hidden_size
        self.linear_1 = nn.Linear(config.graph_hidden_size, text_hidden_size)
        if config.projector_type == "mlp2x_gelu":
            self.act = nn.GELU()
            self.linear_2 = nn.Linear(text_hidden_size, text_hidden_size)

    def forward(self, atom_vectors: torch.Tensor) -> torch.Tensor:
        """`[N, graph_hidden_size]` -> `[N, text hidden_size]`."""
        hidden = self.linear_1(atom_vectors.to(self.linear_1.weight.dtype))
        if hasattr(self, "linear_2"):
            hidden = self.linear_2(self.act(hidden))
        return hidden


def _init_like_torch_linear(linear: nn.Linear) -> None:
    """PyTorch's default Linear init (what pretrain-gnns' GIN used), through transformers' guarded
    init functions so that weights loaded from a checkpoint are never overwritten."""
    init.kaiming_uniform_(linear.weight, a=math.sqrt(5))
    bound = 1 / math.sqrt(linear.in_features)
    init.uniform_(linear.bias, -bound, bound)


class InstructMolPreTrainedModel(PreTrainedModel):
    config_class = InstructMolConfig
    config: InstructMolConfig
    base_model_prefix = "model"
    input_modalities = ("molecule", "text")
    main_input_name = "input_ids"
    supports_gradient_checkpointing = True
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    # Decoding steps read no graph (graphs go in at prefill), so they compile as the language model does.
    _can_compile_fullgraph = True
    # The GIN is small (about 2M parameters) and sums messages over neighbours: keep it in float32 even
    # when the LLM loads in bf16 or fp16. It also runs in bf16 on CPU (tested); this is for precision.
    _keep_in_fp32_modules_strict = ["graph_encoder"]

    def _init_weights(self, module: nn.Module) -> None:
        # transformers calls this for the modules holding parameters of their own (the language model initialises
        # its modules itself), so the graph encoder's initialisation is written per parameter-holding module.
        if isinstance(module, nn.Embedding):  # only the GIN's feature tables: OGB's AtomEncoder/BondEncoder init
            init.xavier_uniform_(module.weight)
        elif isinstance(module, GINLinear):
            _init_like_torch_linear(module)
        elif isinstance(module, GINEConv):
            init.zeros_(module.eps)
        else:
            super()._init_weights(module)

    @classmethod
    def from_pretrained(cls, *args, output_loading_info: bool = False, **kwargs):
        # A graph encoder or projector weight missing from the checkpoint, or one it holds that the config has no
        # place for (`graph_num_layers: 2` against a 5-layer checkpoint), would leave random weights that answer
        # without an error: refused, naming them. transformers also re-creates parameters with requires_grad=True
        # while loading, which undoes the freezing done in __init__: the config's flags are applied again.
        model, loading_info = super().from_pretrained(*args, output_loading_info=True, **kwargs)
        mismatched = sorted(key for key in {*loading_info["missing_keys"], *loading_info["unexpected_keys"]}
                            if "graph_encoder." in key or "projector." in key)
        if mismatched:
            raise ValueError(
                f"the checkpoint's graph encoder and projector weights do not fit its config (graph_num_layers, "
                f"graph_hidden_size, projector_type): {len(mismatched)} missing or unexpected, e.g. "
                f"{', '.join(mismatched[:3])}"
            )
        model.freeze_from_config()
        return (model, loading_info) if output_loading_info else model

    def freeze_from_config(self) -> None:
        """Freezes what `config.freeze_llm` and `config.freeze_graph_encoder` say, unfreezes the rest of them."""
        instructmol = self.base_model
        instructmol.graph_encoder.requires_grad_(not self.config.freeze_graph_encoder)
        instructmol.language_model.requires_grad_(not self.config.freeze_llm)
        output_embeddings = self.get_output_embeddings()
        if output_embeddings is not None:
            output_embeddings.requires_grad_(not self.config.freeze_llm)
        # Re-evaluate train/eval mode of the graph encoder under the new flags.
        instructmol.graph_encoder.train(self.training)


class InstructMolModel(InstructMolPreTrainedModel):
    """Graph encoder, projector and language model without an LM head; returns the LLM's last hidden state."""

    def __init__(self, config: InstructMolConfig):
        super().__init__(config)
        # float32 whatever the default dtype while building (`_from_config(dtype=...)`), as `from_pretrained`
        # keeps it through `_keep_in_fp32_modules_strict`.
        self.graph_encoder = InstructMolGraphEncoder(config).float()
        self.projector = InstructMolProjector(config)
        self.language_model = AutoModel.from_config(config.text_config)
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.language_model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.language_model.set_input_embeddings(value)

    def get_molecule_features(
        self, atom_features: torch.LongTensor, bond_features: torch.LongTensor, edge_index: torch.LongTensor
    ) -> torch.Tensor:
        """Projected atom vectors `[N, text hidden_size]` for a flat batch of graphs (see the encoder)."""
        return self.projector(self.graph_encoder(atom_features, bond_features, edge_index))

    def molecule_token_mask(
        self, input_ids: torch.LongTensor | None, inputs_embeds: torch.Tensor | None = None
    ) -> torch.BoolTensor:
        """`[batch, seq]` True at `<mol>` positions, read from `input_ids`, or from `inputs_embeds` (positions
        holding the `<mol>` embedding) when the input is embeddings only."""
        if inputs_embeds is not None and (input_ids is None or input_ids.shape[-1] == 0):
            mol_embedding = self.get_input_embeddings()(
                torch.tensor(self.config.mol_token_id, dtype=torch.long, device=inputs_embeds.device)
            )
            return (inputs_embeds == mol_embedding).all(-1)
        return input_ids == self.config.mol_token_id

    def get_placeholder_mask(
        self, input_ids: torch.LongTensor | None, inputs_embeds: torch.Tensor, num_atoms: int
    ) -> torch.BoolTensor:
        """`[batch, seq, 1]` mask of the `<mol>` positions; raises if their count differs from `num_atoms`."""
        placeholder_mask = self.molecule_token_mask(input_ids, inputs_embeds)
        num_placeholders = placeholder_mask.sum()
        torch_compilable_check(
            num_placeholders == num_atoms,
            lambda: f"Molecule placeholders and atoms do not match: {int(num_placeholders)} <mol> token(s) in the "
            f"input, {num_atoms} atom(s) in the graphs. The processor repeats <mol> once per heavy atom; was the "
            "sequence truncated or the graph batch built separately?",
        )
        return placeholder_mask.unsqueeze(-1)

    def embed_inputs(
        self,
        input_ids: torch.LongTensor | None,
        atom_features: torch.LongTensor | None = None,
        bond_features: torch.LongTensor | None = None,
        edge_index: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What the language model reads: `[batch, seq, hidden]` token embeddings with the projected atom vectors in
        the `<mol>` positions (the one place they are put there: forward, generation and serving all come here), and
        the atom vectors `[N, hidden]` (None without graphs)."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Pass exactly one of input_ids or inputs_embeds.")
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
        if atom_features is None:
            if input_ids is not None and self.config.mol_token_id is not None:
                self.get_placeholder_mask(input_ids, inputs_embeds, num_atoms=0)  # a <mol> without its graph: raises
            return inputs_embeds, None
        if bond_features is None or edge_index is None:
            raise ValueError("atom_features needs bond_features and edge_index (the processor returns all three).")
        molecule_embeddings = self.get_molecule_features(atom_features, bond_features, edge_index)
        placeholder_mask = self.get_placeholder_mask(input_ids, inputs_embeds, molecule_embeddings.shape[0])
        inputs_embeds = inputs_embeds.masked_scatter(
            placeholder_mask, molecule_embeddings.to(inputs_embeds.device, inputs_embeds.dtype)
        )
        return inputs_embeds, molecule_embeddings

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        atom_features: torch.LongTensor | None = None,
        bond_features: torch.LongTensor | None = None,
        edge_index: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> tuple | InstructMolModelOutputWithPast:
        """
        Args:
            input_ids: `[batch, seq]` token ids with one `<mol>` per atom of each molecule.
            atom_features, bond_features, edge_index: the flat graph batch of the processor
                (`[N, 9]`, `[E, 3]`, `[2, E]`); the i-th atom fills the i-th `<mol>` in row-major order.
            cache: the language model's key/value cache (`past_key_values`: the same, its name before transformers
                5.24).
            inputs_embeds: `[batch, seq, hidden]` instead of `input_ids`; `<mol>` positions hold the `<mol>`
                embedding, replaced by the atoms.
            kwargs: passed to the language model (`use_cache`, attention options, ...).
        """
        cache = cache_under_either_name(cache, past_key_values)
        inputs_embeds, molecule_embeddings = self.embed_inputs(
            input_ids, atom_features, bond_features, edge_index, inputs_embeds=inputs_embeds
        )
        outputs = self.language_model(
            inputs_embeds=inputs_embeds, attention_mask=attention_mask, position_ids=position_ids, **{CACHE_NAME: cache},
            **kwargs,
        )
        return InstructMolModelOutputWithPast(**outputs, molecule_embeddings=molecule_embeddings)


class InstructMolForConditionalGeneration(InstructMolPreTrainedModel, GenerationMixin):
    """InstructMol with the LM head: answers instructions about molecules given as graphs."""

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}
    # Tensor parallelism shards the language model as its own plan says; the head (tied to the embeddings) is
    # sharded by output column and gathered, as LLaVA's.
    _tp_plan = {"lm_head": "colwise_gather_output"}

    def __init__(self, config: InstructMolConfig):
        super().__init__(config)
        self.model = InstructMolModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()
        self.freeze_from_config()

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, new_embeddings: nn.Module) -> None:
        self.lm_head = new_embeddings

    @torch.no_grad()
    def prompt_embeddings(
        self,
        input_ids: torch.LongTensor,
        attention_mask: torch.Tensor | None = None,
        atom_features: torch.LongTensor | None = None,
        bond_features: torch.LongTensor | None = None,
        edge_index: torch.LongTensor | None = None,
    ) -> list[torch.Tensor]:
        """Each prompt of a processed batch as the embeddings its language model reads, padding removed: a list of
        `[seq_i, hidden]` tensors, what an engine that takes prompt embeddings (vLLM's `prompt_embeds`) runs through
        the exported language model (`instructmol.export`) to answer as this model does."""
        inputs_embeds, _ = self.model.embed_inputs(input_ids, atom_features, bond_features, edge_index)
        if attention_mask is None:
            return list(inputs_embeds)
        return [embeddings[mask.bool()] for embeddings, mask in zip(inputs_embeds, attention_mask)]

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        atom_features: torch.LongTensor | None = None,
        bond_features: torch.LongTensor | None = None,
        edge_index: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        past_key_values: Cache | None = None,
        **kwargs,
    ) -> tuple | InstructMolCausalLMOutputWithPast:
        """
        Args:
            input_ids, atom_features, bond_features, edge_index, cache, inputs_embeds, past_key_values: as in
                `InstructMolModel.forward`.
            labels: `[batch, seq]` next-token targets (-100 ignored); shifted inside the loss.
            logits_to_keep: compute logits for the last `n` positions only (0: all).

        Returns:
            `logits` `[batch, seq or logits_to_keep, vocab]`, `loss` when labels are given, the cache, and
            `molecule_embeddings`; a tuple of those that are set with `return_dict=False`.
        """
        outputs = self.model(
            input_ids=input_ids,
            atom_features=atom_features,
            bond_features=bond_features,
            edge_index=edge_index,
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache_under_either_name(cache, past_key_values),
            inputs_embeds=inputs_embeds,
            **kwargs,
        )
        logits = self.lm_head(slice_logits_to_keep(outputs.last_hidden_state, logits_to_keep))
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size, **kwargs)
        return InstructMolCausalLMOutputWithPast(
            loss=loss,
            logits=logits,
            **{CACHE_NAME: getattr(outputs, CACHE_NAME)},
            hidden_states=outputs.hidden_states,
            attentions=outputs.attentions,
            molecule_embeddings=outputs.molecule_embeddings,
        )

    def prepare_inputs_for_generation(
        self,
        input_ids: torch.LongTensor,
        next_sequence_length: int | None = None,
        attention_mask: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        is_first_iteration: bool | None = False,
        atom_features: torch.LongTensor | None = None,
        bond_features: torch.LongTensor | None = None,
        edge_index: torch.LongTensor | None = None,
        **kwargs,
    ) -> dict:
        # The cache stays in kwargs under the installed transformers' name (CACHE_NAME).
        model_inputs = super().prepare_inputs_for_generation(
            input_ids, next_sequence_length=next_sequence_length, attention_mask=attention_mask,
            inputs_embeds=inputs_embeds, is_first_iteration=is_first_iteration, **kwargs,
        )
        # The graphs go with the forward pass that reads their <mol> positions: the prompt's, whether it is the
        # first step (of generate, or of an assistant's draft), a continuation of a cache that does not hold them
        # yet, or every step without a cache. Later steps read new tokens and the cache only.
        if atom_features is not None and self._reads_molecule_tokens(model_inputs):
            model_inputs.update(atom_features=atom_features, bond_features=bond_features, edge_index=edge_index)
        return model_inputs

    def _reads_molecule_tokens(self, model_inputs: dict) -> bool:
        if model_inputs.get("inputs_embeds") is not None:
            return True  # the prompt itself, as embeddings
        return bool((model_inputs["input_ids"] == self.config.mol_token_id).any())

    def _prepare_generation_config(self, generation_config: GenerationConfig | None, **kwargs) -> tuple:
        # A generated <mol> would stand for an atom that no graph provides, and the next step would fail: the
        # placeholder is never generated, whatever generation config the model was built or loaded with.
        generation_config, model_kwargs = super()._prepare_generation_config(generation_config, **kwargs)
        suppressed = list(generation_config.suppress_tokens or [])
        if self.config.mol_token_id is not None and self.config.mol_token_id not in suppressed:
            generation_config.suppress_tokens = [*suppressed, self.config.mol_token_id]
        return generation_config, model_kwargs

    def _expand_inputs_for_generation(
        self, expand_size: int = 1, is_encoder_decoder: bool = False, input_ids: torch.LongTensor | None = None, **model_kwargs
    ):
        # GenerationMixin repeats every tensor along dim 0, which is wrong for flat graph tensors: each
        # sample's atoms and edges must be repeated as a block, once per beam or returned sequence.
        # Called once per `generate`, with the whole prompt: where graphs and `<mol>` tokens are checked to match
        # (otherwise no forward pass would read the graphs, and the answer would ignore the molecule).
        graph = {name: model_kwargs.pop(name, None) for name in GRAPH_INPUT_NAMES}
        if graph["atom_features"] is not None:
            molecule_tokens = self.model.molecule_token_mask(input_ids, model_kwargs.get("inputs_embeds"))
            self.model.get_placeholder_mask(input_ids, model_kwargs.get("inputs_embeds"), graph["atom_features"].shape[0])
            if expand_size > 1:
                graph = expand_graphs_per_sample(graph, molecule_tokens, expand_size)
        input_ids, model_kwargs = super()._expand_inputs_for_generation(
            expand_size=expand_size, is_encoder_decoder=is_encoder_decoder, input_ids=input_ids, **model_kwargs
        )
        model_kwargs.update(graph)
        return input_ids, model_kwargs


def expand_graphs_per_sample(graph: dict[str, torch.Tensor], placeholder_mask: torch.BoolTensor, expand_size: int):
    """Repeats each sample's atoms and edges `expand_size` times, matching `input_ids.repeat_interleave`.

    Args:
        graph: `atom_features` `[N, 9]`, `bond_features` `[E, 3]`, `edge_index` `[2, E]` of a flat batch.
        placeholder_mask: `[batch, seq]` True at `<mol>` tokens; a row's count is its number of atoms.
        expand_size: copies per sample.

    Returns:
        The same keys for the expanded batch: `[N * expand_size, 9]`, `[E * expand_size, 3]`, `[2, E * expand_size]`.
    """
    atom_features, bond_features, edge_index = (graph[name] for name in GRAPH_INPUT_NAMES)
    device = atom_features.device
    atoms_per_sample = placeholder_mask.sum(dim=1).to(device)
    sample_of_atom = torch.repeat_interleave(torch.arange(len(atoms_per_sample), device=device), atoms_per_sample)
    num_atoms = atom_features.shape[0]

    # Every (copy, atom) pair, ordered by (sample, copy, atom): the row order of the expanded batch.
    copy_of_pair = torch.arange(expand_size, device=device).repeat_interleave(num_atoms)
    atom_of_pair = torch.arange(num_atoms, device=device).repeat(expand_size)
    pair_order = torch.argsort(sample_of_atom[atom_of_pair] * expand_size + copy_of_pair, stable=True)
    new_row_of_pair = torch.empty_like(pair_order)
    new_row_of_pair[pair_order] = torch.arange(len(pair_order), device=device)

    num_edges = edge_index.shape[1]
    copy_of_edge_pair = torch.arange(expand_size, device=device).repeat_interleave(num_edges)
    edge_of_pair = torch.arange(num_edges, device=device).repeat(expand_size)
    edge_pair_order = torch.argsort(
        sample_of_atom[edge_index[0, edge_of_pair]] * expand_size + copy_of_edge_pair, stable=True
    )
    copy_of_edge_pair, edge_of_pair = copy_of_edge_pair[edge_pair_order], edge_of_pair[edge_pair_order]
    expanded_edge_index = new_row_of_pair[copy_of_edge_pair * num_atoms + edge_index[:, edge_of_pair]]
    return {
        "atom_features": atom_features[atom_of_pair[pair_order]],
        "bond_features": bond_features[edge_of_pair],
        "edge_index": expanded_edge_index,
    }


__all__ = [
    "CACHE_NAME",
    "InstructMolPreTrainedModel",
    "InstructMolModel",
    "InstructMolForConditionalGeneration",
    "InstructMolGraphEncoder",
    "InstructMolProjector",
    "expand_graphs_per_sample",
]
