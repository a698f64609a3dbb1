"""generate(): batched = one by one, beams and several return sequences with graphs, graphs at prefill only."""

import pytest
import torch

from modeling_instructmol import GRAPH_INPUT_NAMES, expand_graphs_per_sample

PROMPTS = [
    ("USER: <mol>\nwhat is this molecule? ASSISTANT:", ["c1ccccc1O"]),
    ("USER: <mol>\ndescribe it please ASSISTANT:", ["CCO"]),
    ("USER: <mol> and <mol>\nwhat is the reaction product? ASSISTANT:", ["CC(=O)O", "OCC"]),
]


@pytest.fixture
def left_padded(tiny_processor):
    tiny_processor.tokenizer.padding_side = "left"
    return tiny_processor


def generate_each(model, processor, prompts, **generate_kwargs):
    answers = []
    for text, molecules in prompts:
        inputs = processor(text=[text], molecules=[molecules], return_tensors="pt")
        output = model.generate(**inputs, **generate_kwargs)
        answers.extend(output[:, inputs["input_ids"].shape[1]:].tolist())
    return answers


def generate_batched(model, processor, prompts, **generate_kwargs):
    inputs = processor(
        text=[text for text, _ in prompts], molecules=[m for _, m in prompts], padding=True, return_tensors="pt"
    )
    output = model.generate(**inputs, **generate_kwargs)
    return output[:, inputs["input_ids"].shape[1]:].tolist()


def test_batched_left_padded_generation_equals_one_by_one(tiny_model, left_padded):
    settings = {"max_new_tokens": 12, "do_sample": False, "min_new_tokens": 12}
    assert generate_batched(tiny_model, left_padded, PROMPTS, **settings) == generate_each(
        tiny_model, left_padded, PROMPTS, **settings
    )


@pytest.mark.parametrize("num_beams", [1, 3])
def test_beams_and_several_return_sequences_with_different_molecules(tiny_model, left_padded, num_beams):
    settings = {"max_new_tokens": 8, "min_new_tokens": 8, "num_return_sequences": 2}
    settings.update({"num_beams": num_beams} if num_beams > 1 else {"do_sample": True})
    torch.manual_seed(0)
    batched = generate_batched(tiny_model, left_padded, PROMPTS[:2], **settings)
    assert len(batched) == 4
    if num_beams > 1:  # deterministic: each sample's beams equal its beams when generated alone
        assert batched == generate_each(tiny_model, left_padded, PROMPTS[:2], **settings)


def test_expanded_graphs_give_each_copy_its_own_molecule(tiny_model, left_padded):
    """Expanding per sample (for beams) must equal feeding each sample's molecules repeated by hand."""
    inputs = left_padded(
        text=[text for text, _ in PROMPTS], molecules=[m for _, m in PROMPTS], padding=True, return_tensors="pt"
    )
    expanded = expand_graphs_per_sample(
        {name: inputs[name] for name in GRAPH_INPUT_NAMES}, inputs["input_ids"] == tiny_model.config.mol_token_id, 2
    )
    repeated_texts = [text for text, _ in PROMPTS for _ in range(2)]
    repeated_molecules = [m for _, m in PROMPTS for _ in range(2)]
    by_hand = left_padded(text=repeated_texts, molecules=repeated_molecules, padding=True, return_tensors="pt")
    for name in GRAPH_INPUT_NAMES:
        assert torch.equal(expanded[name], by_hand[name]), name
    logits = tiny_model(
        input_ids=inputs["input_ids"].repeat_interleave(2, dim=0),
        attention_mask=inputs["attention_mask"].repeat_interleave(2, dim=0),
        **expanded,
    ).logits
    torch.testing.assert_close(logits, tiny_model(**by_hand).logits)


@pytest.mark.parametrize(("use_cache", "expected_calls"), [(True, 1), (False, 5)])
def test_graphs_are_encoded_at_prefill_only_when_caching(tiny_model, left_padded, use_cache, expected_calls):
    calls = []
    hook = tiny_model.model.graph_encoder.register_forward_hook(lambda *args: calls.append(1))
    try:
        generate_batched(tiny_model, left_padded, PROMPTS[:2], max_new_tokens=5, min_new_tokens=5, use_cache=use_cache)
    finally:
        hook.remove()
    assert len(calls) == expected_calls


def test_the_placeholder_is_never_generated(tiny_model, left_padded):
    """A generated <mol> would have no atom behind it at the next step; generation suppresses it."""
    mol_id = tiny_model.config.mol_token_id
    with torch.no_grad():
        tiny_model.lm_head.weight[mol_id] *= 1000  # the model now prefers <mol> everywhere
    answers = generate_batched(tiny_model, left_padded, PROMPTS[:2], max_new_tokens=4, min_new_tokens=4, do_sample=False)
    assert all(mol_id not in answer for answer in answers)
