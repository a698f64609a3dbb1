"""InstructMol's forward pass: placeholder scatter, freezing, train/eval, checkpointing, attention, dtypes."""

import copy
import json
import shutil

import pytest
import torch

from configuration_instructmol import InstructMolConfig
from modeling_instructmol import InstructMolForConditionalGeneration

QUESTION = "USER: <mol>\nwhat is this molecule? ASSISTANT:"


def batch(processor, molecules=(("c1ccccc1O",), ("CCO",)), answer=" an alcohol"):
    texts = [QUESTION + answer] * len(molecules)
    return processor(text=texts, molecules=[list(m) for m in molecules], padding=True, return_tensors="pt")


def test_atom_vectors_replace_the_placeholders(tiny_model, tiny_processor):
    inputs = batch(tiny_processor)
    outputs = tiny_model(**inputs, output_hidden_states=True)
    llm_input = outputs.hidden_states[0]  # the embeddings the language model read
    placeholders = inputs["input_ids"] == tiny_model.config.mol_token_id
    assert torch.equal(llm_input[placeholders], outputs.molecule_embeddings)
    text_embeddings = tiny_model.get_input_embeddings()(inputs["input_ids"])
    assert torch.equal(llm_input[~placeholders], text_embeddings[~placeholders])
    assert outputs.logits.shape == (*inputs["input_ids"].shape, tiny_model.config.text_config.vocab_size)
    assert outputs.molecule_embeddings.shape == (7 + 3, tiny_model.config.text_config.hidden_size)


def test_the_answer_depends_on_the_molecule(tiny_model, tiny_processor):
    phenol, ethanol = (tiny_model(**batch(tiny_processor, molecules=[m])).logits[0, -1] for m in (["c1ccccc1O"], ["CCCO"]))
    assert not torch.allclose(phenol, ethanol)


def test_placeholder_atom_count_mismatch_says_both_counts(tiny_model, tiny_processor):
    inputs = batch(tiny_processor)
    short_graph = tiny_processor(text=QUESTION, molecules=["CCO"], return_tensors="pt")
    inputs.update({key: short_graph[key] for key in ("atom_features", "bond_features", "edge_index")})
    with pytest.raises(ValueError, match=r"10 <mol> token\(s\) in the input, 3 atom\(s\) in the graphs"):
        tiny_model(**inputs)
    inputs = batch(tiny_processor)
    for key in ("atom_features", "bond_features", "edge_index"):
        del inputs[key]
    with pytest.raises(ValueError, match=r"10 <mol> token\(s\) in the input, 0 atom\(s\)"):
        tiny_model(**inputs)


def test_loss_with_labels(tiny_model, tiny_processor):
    inputs = batch(tiny_processor)
    labels = inputs["input_ids"].masked_fill(inputs["input_ids"] == tiny_model.config.mol_token_id, -100)
    loss = tiny_model(**inputs, labels=labels).loss
    assert loss.ndim == 0 and torch.isfinite(loss)


def train_one_step(model, inputs) -> None:
    model.train()
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    model(**inputs, labels=inputs["input_ids"]).loss.backward()
    optimizer.step()


def test_frozen_graph_encoder_stays_in_eval_mode_and_keeps_its_batchnorm_statistics(tiny_model, tiny_processor):
    encoder = tiny_model.model.graph_encoder
    before = {name: tensor.clone() for name, tensor in encoder.state_dict().items()}
    tiny_model.train()
    assert tiny_model.training and tiny_model.model.language_model.training
    assert not encoder.training and not any(module.training for module in encoder.modules())
    train_one_step(tiny_model, batch(tiny_processor))
    after = encoder.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)  # running stats and weights
    assert tiny_model.model.projector.linear_1.weight.grad is not None


def test_unfrozen_graph_encoder_trains_its_batchnorm(tiny_model_dir, tiny_processor):
    model = InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir, freeze_graph_encoder=False)
    running_mean = model.model.graph_encoder.batch_norms[0].running_mean.clone()
    model.train()
    assert model.model.graph_encoder.training
    train_one_step(model, batch(tiny_processor))
    assert not torch.equal(running_mean, model.model.graph_encoder.batch_norms[0].running_mean)


def test_freezing_flags_survive_from_pretrained(tiny_model_dir):
    stage1 = InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir, freeze_llm=True)
    trainable = {name for name, parameter in stage1.named_parameters() if parameter.requires_grad}
    assert trainable == {"model.projector.linear_1.weight", "model.projector.linear_1.bias"}
    assert stage1.config.freeze_llm and stage1.config.freeze_graph_encoder
    everything = InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir, freeze_graph_encoder=False)
    assert all(parameter.requires_grad for parameter in everything.parameters())


def test_gradient_checkpointing_gives_the_same_gradients(tiny_model_dir, tiny_processor):
    inputs = batch(tiny_processor)
    gradients = []
    for checkpointing in (False, True):
        model = InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir, freeze_llm=True)
        if checkpointing:
            model.activation_checkpointing_enable()  # what TRL's gradient_checkpointing turns on
            assert model.is_activation_checkpointing
        model.train()
        model(**inputs, labels=inputs["input_ids"]).loss.backward()
        gradients.append(model.model.projector.linear_1.weight.grad)
    torch.testing.assert_close(gradients[0], gradients[1])


def test_language_model_uses_sdpa(tiny_model):
    assert tiny_model.config._attn_implementation == "sdpa"
    assert tiny_model.model.language_model.config._attn_implementation == "sdpa"


def test_bf16_language_model_keeps_a_float32_graph_encoder(tiny_model_dir, tiny_model, tiny_processor):
    bf16 = InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir, dtype=torch.bfloat16).eval()
    assert bf16.model.language_model.embed_tokens.weight.dtype == torch.bfloat16
    assert bf16.model.projector.linear_1.weight.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in bf16.model.graph_encoder.parameters())
    inputs = batch(tiny_processor)
    logits_bf16 = bf16(**inputs).logits
    assert logits_bf16.dtype == torch.bfloat16
    torch.testing.assert_close(logits_bf16.float(), tiny_model(**inputs).logits, atol=5e-2, rtol=5e-2)


def graph_of(processor) -> dict:
    return {key: batch(processor)[key] for key in ("atom_features", "bond_features", "edge_index")}


def cast_parameters(module: torch.nn.Module, dtype: torch.dtype) -> None:
    """What DeepSpeed does to a model in bf16 or fp16 mode: every parameter cast, buffers left as they are."""
    for parameter in module.parameters():
        parameter.data = parameter.data.to(dtype)


@pytest.mark.parametrize("engine_cast", ["deepspeed bf16", "deepspeed fp16", "everything bf16"])
def test_the_graph_encoder_computes_in_float32_whatever_an_engine_cast(tiny_model, tiny_processor, engine_cast):
    """DeepSpeed casts every parameter to bf16 and leaves BatchNorm's running statistics in float32 (a BatchNorm then
    refused to run); `.to(bf16)` casts both. Either way the GIN computes in float32 from the weights it was given."""
    graph = graph_of(tiny_processor)
    encoder = tiny_model.model.graph_encoder
    if engine_cast == "everything bf16":
        encoder.to(torch.bfloat16)
    else:
        cast_parameters(encoder, torch.bfloat16 if engine_cast == "deepspeed bf16" else torch.float16)
    same_weights_in_float32 = copy.deepcopy(encoder).float()
    atom_vectors = encoder(**graph)
    assert atom_vectors.dtype == torch.float32
    torch.testing.assert_close(atom_vectors, same_weights_in_float32(**graph), rtol=0, atol=0)


def test_the_graph_encoder_computes_in_float32_under_autocast(tiny_model, tiny_processor):
    """Trainer's bf16 (DDP) and FSDP run the forward under autocast, which would run the GIN's linear layers in bf16."""
    graph = graph_of(tiny_processor)
    encoder = tiny_model.model.graph_encoder
    with torch.autocast("cpu", dtype=torch.bfloat16):
        under_autocast = encoder(**graph)
        assert torch.nn.Linear(4, 4)(torch.ones(1, 4)).dtype == torch.bfloat16  # autocast is on here
    torch.testing.assert_close(under_autocast, encoder(**graph), rtol=0, atol=0)


def test_an_unfrozen_graph_encoder_with_bf16_statistics_still_updates_them(tiny_model_dir, tiny_processor):
    model = InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir, freeze_graph_encoder=False)
    encoder = model.model.graph_encoder
    encoder.to(torch.bfloat16)
    running_mean = encoder.batch_norms[0].running_mean.clone()
    model.train()
    encoder(**graph_of(tiny_processor)).sum().backward()
    assert encoder.batch_norms[0].running_mean.dtype == torch.bfloat16
    assert not torch.equal(running_mean, encoder.batch_norms[0].running_mean)
    assert encoder.batch_norms[0].num_batches_tracked == 1
    assert encoder.layers[0].conv.nn[0].weight.grad.dtype == torch.bfloat16


def test_a_jumping_knowledge_mode_the_encoder_lacks_is_refused(tiny_model_dir, tmp_path):
    """The encoder gives its last layer's atom vectors; a config asking for another mode would change nothing."""
    config = json.loads((tiny_model_dir / "config.json").read_text())
    for mode, loads in (("last", True), ("concat", False), ("max", False)):
        folder = tmp_path / mode
        shutil.copytree(tiny_model_dir, folder)
        (folder / "config.json").write_text(json.dumps({**config, "graph_jk": mode}))
        if loads:  # what earlier versions of this package wrote
            assert not hasattr(InstructMolConfig.from_pretrained(folder), "graph_jk")
        else:
            with pytest.raises(ValueError, match=f"graph_jk='{mode}' is not supported"):
                InstructMolForConditionalGeneration.from_pretrained(folder)
