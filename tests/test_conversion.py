"""MoleculeSTM checkpoint conversion: every key mapped, shapes checked, same atom vectors as MoleculeSTM's GIN."""

import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from ogb.utils import smiles2graph

from configuration_instructmol import GRAPH_INPUT_NAMES
from instructmol.build import reference_molecules
from instructmol.conversion import CheckpointConversionError, convert_moleculestm_state_dict, load_moleculestm_checkpoint
from modeling_instructmol import InstructMolForConditionalGeneration
from processing_instructmol import InstructMolProcessor

# MoleculeSTM was trained with an older OGB whose chirality table has 4 rows.
MOLECULESTM_ATOM_DIMS = [119, 4, 12, 12, 10, 6, 6, 2, 2]
MOLECULESTM_BOND_DIMS = [5, 6, 2]
NUM_LAYERS, HIDDEN = 5, 300


def fake_moleculestm_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under MoleculeSTM's exact `GNN_graphpred` key names and shapes."""
    generator = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=0.1):
        return torch.randn(*shape, generator=generator) * scale

    def batch_norm(prefix: str, width: int) -> dict[str, torch.Tensor]:
        return {
            f"{prefix}.weight": 1 + randn(width),
            f"{prefix}.bias": randn(width),
            f"{prefix}.running_mean": randn(width),
            f"{prefix}.running_var": 0.5 + torch.rand(width, generator=generator),
            f"{prefix}.num_batches_tracked": torch.tensor(1000),
        }

    node = "molecule_node_model."
    state = {f"{node}atom_encoder.atom_embedding_list.{i}.weight": randn(size, HIDDEN) for i, size in enumerate(MOLECULESTM_ATOM_DIMS)}
    for layer in range(NUM_LAYERS):
        gnn = f"{node}gnns.{layer}."
        state[f"{gnn}eps"] = randn(1)
        state[f"{gnn}mlp.0.weight"], state[f"{gnn}mlp.0.bias"] = randn(2 * HIDDEN, HIDDEN), randn(2 * HIDDEN)
        state.update(batch_norm(f"{gnn}mlp.1", 2 * HIDDEN))
        state[f"{gnn}mlp.3.weight"], state[f"{gnn}mlp.3.bias"] = randn(HIDDEN, 2 * HIDDEN), randn(HIDDEN)
        for j, size in enumerate(MOLECULESTM_BOND_DIMS):
            state[f"{gnn}bond_encoder.bond_embedding_list.{j}.weight"] = randn(size, HIDDEN)
        state.update(batch_norm(f"{node}batch_norms.{layer}", HIDDEN))
    state["graph_pred_linear.weight"], state["graph_pred_linear.bias"] = randn(1, HIDDEN), randn(1)
    return state


def moleculestm_gin_reference(state: dict[str, torch.Tensor], smiles: str) -> torch.Tensor:
    """MoleculeSTM's GIN in eval mode, in plain torch, on OGB's own featurization: `[num_atoms, 300]`."""
    graph = smiles2graph(smiles)
    atoms, bonds = torch.from_numpy(graph["node_feat"]), torch.from_numpy(graph["edge_feat"])
    source, target = torch.from_numpy(graph["edge_index"])
    weight = lambda key: state["molecule_node_model." + key]  # noqa: E731

    def batch_norm_eval(x, prefix):
        return F.batch_norm(x, weight(f"{prefix}.running_mean"), weight(f"{prefix}.running_var"), weight(f"{prefix}.weight"), weight(f"{prefix}.bias"))

    h = sum(weight(f"atom_encoder.atom_embedding_list.{i}.weight")[atoms[:, i]] for i in range(atoms.shape[1]))
    for layer in range(NUM_LAYERS):
        gnn = f"gnns.{layer}"
        bond_embedding = sum(weight(f"{gnn}.bond_encoder.bond_embedding_list.{j}.weight")[bonds[:, j]] for j in range(3))
        messages = torch.relu(h[source] + bond_embedding)
        aggregated = torch.zeros_like(h).index_add_(0, target, messages)
        z = (1 + weight(f"{gnn}.eps")) * h + aggregated
        z = torch.relu(batch_norm_eval(F.linear(z, weight(f"{gnn}.mlp.0.weight"), weight(f"{gnn}.mlp.0.bias")), f"{gnn}.mlp.1"))
        z = F.linear(z, weight(f"{gnn}.mlp.3.weight"), weight(f"{gnn}.mlp.3.bias"))
        h = batch_norm_eval(z, f"batch_norms.{layer}")
        if layer < NUM_LAYERS - 1:
            h = torch.relu(h)
    return h


@pytest.fixture(scope="module")
def moleculestm_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("moleculestm") / "molecule_model.pth"
    torch.save(fake_moleculestm_state_dict(), path)
    return path


@pytest.fixture(scope="module")
def converted_model_dir(tiny_llm_dir, moleculestm_checkpoint, tmp_path_factory):
    """`instructmol init` through its real command line."""
    output = tmp_path_factory.mktemp("converted")
    command = [sys.executable, "-m", "instructmol.cli", "init", "--llm", str(tiny_llm_dir),
               "--graph-encoder", str(moleculestm_checkpoint), "--output", str(output)]
    subprocess.run(command, check=True, capture_output=True)
    return output


def test_table_sizes_come_from_the_checkpoint(converted_model_dir):
    model = InstructMolForConditionalGeneration.from_pretrained(converted_model_dir)
    processor = InstructMolProcessor.from_pretrained(converted_model_dir, trust_remote_code=True)
    assert model.config.atom_feature_dims == MOLECULESTM_ATOM_DIMS
    assert processor.image_processor.atom_feature_dims == MOLECULESTM_ATOM_DIMS
    assert model.model.graph_encoder.atom_embedding.tables[1].num_embeddings == 4


def test_converted_encoder_computes_moleculestms_atom_vectors(converted_model_dir):
    state = fake_moleculestm_state_dict()
    model = InstructMolForConditionalGeneration.from_pretrained(converted_model_dir).eval()
    processor = InstructMolProcessor.from_pretrained(converted_model_dir, trust_remote_code=True)
    for smiles in reference_molecules(100):
        graph = processor.image_processor([smiles], return_tensors="pt")
        graph = {name: graph[name] for name in GRAPH_INPUT_NAMES}
        with torch.no_grad():
            atom_vectors = model.model.graph_encoder(**graph)
        torch.testing.assert_close(atom_vectors, moleculestm_gin_reference(state, smiles), rtol=1e-4, atol=1e-4)


def test_every_key_is_mapped():
    converted = convert_moleculestm_state_dict(fake_moleculestm_state_dict())
    # All but the unused prediction head: 9 atom tables + per layer (eps, 2 linears x 2, BN x 5, 3 bond tables, BN x 5).
    assert len(converted.state_dict) == 9 + NUM_LAYERS * (1 + 4 + 5 + 3 + 5)
    assert converted.config_kwargs() == {
        "atom_feature_dims": MOLECULESTM_ATOM_DIMS, "bond_feature_dims": MOLECULESTM_BOND_DIMS,
        "graph_num_layers": NUM_LAYERS, "graph_hidden_size": HIDDEN,
    }


def test_missing_and_unexpected_keys_are_listed():
    state = fake_moleculestm_state_dict()
    del state["molecule_node_model.gnns.2.mlp.3.bias"], state["molecule_node_model.batch_norms.4.running_var"]
    with pytest.raises(CheckpointConversionError, match=r"lacks .*'batch_norms\.4\.running_var', 'layers\.2\.conv\.nn\.3\.bias'"):
        convert_moleculestm_state_dict(state)
    state = fake_moleculestm_state_dict()
    state["molecule_node_model.virtual_node.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointConversionError, match=r"not part of MoleculeSTM's GIN: \['molecule_node_model\.virtual_node\.weight'\]"):
        convert_moleculestm_state_dict(state)
    state = fake_moleculestm_state_dict()
    state["molecule_node_model.gnns.0.mlp.0.extra"] = torch.zeros(1)
    with pytest.raises(CheckpointConversionError, match=r"does not have: \['layers\.0\.conv\.nn\.0\.extra'\]"):
        convert_moleculestm_state_dict(state)


def test_wrong_shapes_are_listed():
    state = fake_moleculestm_state_dict()
    state["molecule_node_model.gnns.1.mlp.3.weight"] = torch.ones(HIDDEN, HIDDEN)
    with pytest.raises(CheckpointConversionError, match=r"layers\.1\.conv\.nn\.3\.weight: checkpoint \(300, 300\), encoder \(300, 600\)"):
        convert_moleculestm_state_dict(state)


def test_checkpoints_that_would_run_code_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"weights": torch.zeros(1), "callback": print}, path)
    with pytest.raises(CheckpointConversionError, match="refusing to unpickle"):
        load_moleculestm_checkpoint(path)


def test_init_reports_a_bad_checkpoint_without_a_traceback(tiny_llm_dir, tmp_path):
    state = fake_moleculestm_state_dict()
    del state["molecule_node_model.gnns.0.eps"]
    torch.save(state, tmp_path / "broken.pth")
    result = subprocess.run(
        [sys.executable, "-m", "instructmol.cli", "init", "--llm", str(tiny_llm_dir), "--graph-encoder",
         str(tmp_path / "broken.pth"), "--output", str(tmp_path / "out")],
        capture_output=True, text=True,
    )
    assert result.returncode == 2
    assert "lacks these graph-encoder weights: ['layers.0.conv.eps']" in result.stderr
    assert "Traceback" not in result.stderr
