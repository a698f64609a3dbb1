"""What transformers promises of any model, checked on InstructMol (the paths transformers' own common tests run):
loading information, every generation path (a given cache, `inputs_embeds`, assisted, static cache), compile,
initialisation from a config, dtype rules, `return_dict=False`, the pipelines."""

import copy
import math
import warnings

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch_geometric.nn import GINEConv
from transformers import AutoModel, AutoModelForMultimodalLM, pipeline

from instructmol.build import build_instructmol, save_instructmol
from modeling_instructmol import CACHE_NAME, GINLinear, InstructMolForConditionalGeneration
from tiny_models import build_tiny_llm, build_tiny_tokenizer

PROMPT = "USER: what is <mol>\nthis molecule? ASSISTANT:"
GREEDY = {"max_new_tokens": 8, "min_new_tokens": 8, "do_sample": False}


@pytest.fixture
def inputs(tiny_processor):
    return tiny_processor(text=[PROMPT], molecules=[["c1ccccc1O"]], return_tensors="pt")


def new_tokens(output: torch.Tensor, inputs) -> list[int]:
    return output[0, inputs["input_ids"].shape[1]:].tolist()


def graphs(inputs) -> dict:
    return {name: inputs[name] for name in ("atom_features", "bond_features", "edge_index")}


# ---------------------------------------------------------------- loading


def test_from_pretrained_with_loading_info_returns_the_frozen_model_and_the_info(tiny_model_dir):
    model, info = InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir, output_loading_info=True)
    assert isinstance(model, InstructMolForConditionalGeneration)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    assert not any(parameter.requires_grad for parameter in model.model.graph_encoder.parameters())
    auto_model, auto_info = AutoModel.from_pretrained(tiny_model_dir, trust_remote_code=True, output_loading_info=True)
    assert not auto_info["missing_keys"] and not any(p.requires_grad for p in auto_model.model.graph_encoder.parameters())


# ---------------------------------------------------------------- generation paths


def test_generation_continues_from_a_given_cache(tiny_model, inputs):
    expected = new_tokens(tiny_model.generate(**inputs, **GREEDY), inputs)
    ids = inputs["input_ids"]
    first_molecule = int((ids[0] == tiny_model.config.mol_token_id).nonzero()[0])
    # A cache of the text before the molecule: the graphs go with the rest of the prompt.
    with torch.no_grad():
        prefix = tiny_model(input_ids=ids[:, :first_molecule], use_cache=True)
    continued = tiny_model.generate(**inputs, **{CACHE_NAME: getattr(prefix, CACHE_NAME)}, **GREEDY)
    assert new_tokens(continued, inputs) == expected
    # A cache of the whole prompt but its last token (the molecule included): no graph is read again.
    with torch.no_grad():
        almost = tiny_model(input_ids=ids[:, :-1], **graphs(inputs), use_cache=True)
    continued = tiny_model.generate(**inputs, **{CACHE_NAME: getattr(almost, CACHE_NAME)}, **GREEDY)
    assert new_tokens(continued, inputs) == expected


@pytest.mark.parametrize("num_beams", [1, 3])
def test_generation_from_inputs_embeds(tiny_model, inputs, num_beams):
    settings = {**GREEDY, "num_beams": num_beams}
    expected = new_tokens(tiny_model.generate(**inputs, **settings), inputs)
    embeds = tiny_model.get_input_embeddings()(inputs["input_ids"])
    generated = tiny_model.generate(inputs_embeds=embeds, attention_mask=inputs["attention_mask"], **graphs(inputs),
                                    **settings)
    assert generated[0].tolist() == expected  # from embeddings, generate returns the new tokens only


@pytest.fixture
def draft_model(tmp_path):
    """Another tiny InstructMol (other weights, the same tokenizer) as an assistant."""
    tokenizer = build_tiny_tokenizer()
    model, processor = build_instructmol(build_tiny_llm(len(tokenizer), seed=1), tokenizer)
    return InstructMolForConditionalGeneration.from_pretrained(save_instructmol(model, processor, tmp_path)).eval()


def test_assisted_generation_with_an_instructmol_draft(tiny_model, draft_model, inputs):
    expected = new_tokens(tiny_model.generate(**inputs, **GREEDY), inputs)
    assisted = tiny_model.generate(**inputs, assistant_model=draft_model, **GREEDY)
    assert new_tokens(assisted, inputs) == expected  # greedy assisted decoding keeps the main model's answer


def test_static_cache_generation_equals_the_dynamic_cache(tiny_model, inputs):
    expected = new_tokens(tiny_model.generate(**inputs, **GREEDY), inputs)
    assert new_tokens(tiny_model.generate(**inputs, cache_implementation="static", **GREEDY), inputs) == expected


def test_compiled_forward_gives_the_eager_logits(tiny_model, inputs):
    with torch.no_grad():
        prefill = tiny_model(**inputs, use_cache=True)
        next_token = prefill.logits[:, -1:].argmax(-1)
        # Each call gets its own copy of the cache: a forward pass appends to the cache it is given.
        cache = getattr(prefill, CACHE_NAME)
        eager = tiny_model(input_ids=next_token, cache=copy.deepcopy(cache)).logits
        # A decoding step (what generate compiles) captures in one graph; the prefill with its graphs compiles too.
        compiled = torch.compile(tiny_model, fullgraph=True, backend="aot_eager")
        torch.testing.assert_close(compiled(input_ids=next_token, cache=copy.deepcopy(cache)).logits, eager)
        torch.testing.assert_close(torch.compile(tiny_model, backend="aot_eager")(**inputs).logits, tiny_model(**inputs).logits)


def test_the_cache_is_also_taken_under_its_name_before_transformers_5_24(tiny_model, inputs):
    """As transformers' own `test_bc_cache_name_forward`: `past_key_values=` gives what `cache=` gives, with a
    FutureWarning on a transformers whose name is `cache` (5.24 on) and silently on 5.23, where it is the name."""
    with torch.no_grad():
        prefill = tiny_model(**inputs, use_cache=True)
        next_token = prefill.logits[:, -1:].argmax(-1)
        cache = getattr(prefill, CACHE_NAME)
        expected = tiny_model(input_ids=next_token, cache=copy.deepcopy(cache)).logits
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            old_name = tiny_model(input_ids=next_token, past_key_values=copy.deepcopy(cache)).logits
    torch.testing.assert_close(old_name, expected)
    deprecations = [w for w in caught if issubclass(w.category, FutureWarning) and "past_key_values" in str(w.message)]
    assert len(deprecations) == (1 if CACHE_NAME == "cache" else 0)
    with pytest.raises(ValueError, match="once"):
        tiny_model(input_ids=next_token, cache=copy.deepcopy(cache), past_key_values=copy.deepcopy(cache))


def test_the_model_never_generates_its_placeholder_however_built(tiny_model_dir, inputs):
    """Even a model built from a config alone (no `suppress_tokens` in its generation config), whose head prefers
    <mol> above everything."""
    config = InstructMolForConditionalGeneration.config_class.from_pretrained(tiny_model_dir)
    model = InstructMolForConditionalGeneration(config).eval()
    assert not model.generation_config.suppress_tokens
    with torch.no_grad():
        model.lm_head.weight[config.mol_token_id] = 10 * model.lm_head.weight.abs().max()
        assert model(**inputs).logits[0, -1].argmax() == config.mol_token_id
    for settings in (GREEDY, {"max_new_tokens": 8, "do_sample": True}, {**GREEDY, "num_beams": 2}):
        assert config.mol_token_id not in new_tokens(model.generate(**inputs, **settings), inputs)


# ---------------------------------------------------------------- outputs, initialisation, dtypes


def test_return_dict_false_gives_tuples(tiny_model, inputs):
    labels = inputs["input_ids"].masked_fill(inputs["input_ids"] == tiny_model.config.mol_token_id, -100)
    loss, logits, *_ = tiny_model(**inputs, labels=labels, return_dict=False)
    assert loss.ndim == 0 and logits.shape[:2] == inputs["input_ids"].shape
    torch.testing.assert_close(logits, tiny_model(**inputs).logits)
    last_hidden_state, *_ = tiny_model.model(**inputs, return_dict=False)
    assert last_hidden_state.shape == (*inputs["input_ids"].shape, tiny_model.config.text_config.hidden_size)


def assert_documented_graph_encoder_init(model: InstructMolForConditionalGeneration) -> None:
    """OGB's tables xavier-uniform, the GIN MLPs as PyTorch initialises Linear, eps 0, fresh BatchNorms; every
    parameter and buffer of the whole model finite."""
    for name, tensor in [*model.named_parameters(), *model.named_buffers()]:
        assert torch.isfinite(tensor.float()).all(), name
    encoder = model.model.graph_encoder
    tables = [module for module in encoder.modules() if isinstance(module, torch.nn.Embedding)]
    assert len(tables) == 9 + 3 * model.config.graph_num_layers
    for table in tables:
        bound = math.sqrt(6 / sum(table.weight.shape))
        assert table.weight.abs().max() <= bound and table.weight.std() > 0.4 * bound  # not normal(0.02)
    linears = [module for module in encoder.modules() if isinstance(module, GINLinear)]
    assert len(linears) == 2 * model.config.graph_num_layers
    for linear in linears:
        bound = 1 / math.sqrt(linear.in_features)
        assert linear.weight.abs().max() <= bound and linear.bias.abs().max() <= bound
        assert linear.weight.std() > 0.4 * bound
    for conv in (module for module in encoder.modules() if isinstance(module, GINEConv)):
        assert conv.eps.item() == 0
    for norm in (module for module in encoder.modules() if isinstance(module, torch.nn.BatchNorm1d)):
        assert (norm.weight == 1).all() and (norm.bias == 0).all()
        assert (norm.running_mean == 0).all() and (norm.running_var == 1).all() and norm.num_batches_tracked == 0


def test_a_model_built_from_a_config_gets_the_documented_initialisation(tiny_model_dir):
    config = InstructMolForConditionalGeneration.config_class.from_pretrained(tiny_model_dir)
    assert_documented_graph_encoder_init(InstructMolForConditionalGeneration(config))
    assert_documented_graph_encoder_init(InstructMolForConditionalGeneration._from_config(config))


def test_a_checkpoint_without_graph_encoder_weights_is_refused_naming_them(tiny_model_dir, tmp_path):
    """transformers would initialise missing weights (`_init_weights`, tested above from a config) and answer with a
    random GIN; an InstructMol checkpoint whose graph weights are missing is damaged, and says so (issue 20, E12)."""
    folder = tmp_path / "no-gin"
    InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir).save_pretrained(folder)
    weights = load_file(folder / "model.safetensors")
    save_file({name: value for name, value in weights.items() if "graph_encoder" not in name},
              folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(ValueError, match=r"graph encoder and projector weights do not fit its config .* missing or "
                                         r"unexpected, e\.g\. model\.graph_encoder\."):
        InstructMolForConditionalGeneration.from_pretrained(folder)


def test_bf16_from_config_keeps_the_graph_encoder_in_float32(tiny_model_dir, inputs):
    config = InstructMolForConditionalGeneration.config_class.from_pretrained(tiny_model_dir)
    model = InstructMolForConditionalGeneration._from_config(config, dtype=torch.bfloat16).eval()
    assert {p.dtype for p in model.model.graph_encoder.parameters()} == {torch.float32}
    assert {p.dtype for p in model.model.language_model.parameters()} == {torch.bfloat16}
    with torch.no_grad():
        assert model(**inputs).logits.dtype == torch.bfloat16


def test_tensor_parallel_plan_covers_the_tied_head(tiny_model):
    plan = tiny_model.tp_plan
    assert plan["lm_head"] == "colwise_gather_output"
    assert any(key.startswith("model.language_model.") for key in plan)


# ---------------------------------------------------------------- pipelines


MESSAGES = [{"role": "user", "content": [{"type": "molecule", "molecule": "c1ccccc1O"},
                                         {"type": "text", "text": "what is this molecule?"}]}]


def test_image_text_to_text_pipeline_reads_molecule_blocks(tiny_model_dir, tiny_model, tiny_processor):
    generator = pipeline("image-text-to-text", model=str(tiny_model_dir), trust_remote_code=True)
    output = generator(text=MESSAGES, max_new_tokens=6, do_sample=False, return_full_text=False)
    inputs = tiny_processor.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=True, return_dict=True,
                                                return_tensors="pt")
    expected = tiny_processor.post_process_generation(
        tiny_model.generate(**inputs, max_new_tokens=6, do_sample=False), inputs["input_ids"].shape[1])[0]
    assert output[0]["generated_text"].strip() == expected.strip()


def test_any_to_any_pipeline_and_multimodal_auto_class(tiny_model_dir):
    model = AutoModelForMultimodalLM.from_pretrained(tiny_model_dir, trust_remote_code=True)
    assert type(model).__name__ == "InstructMolForConditionalGeneration"
    generator = pipeline("any-to-any", model=str(tiny_model_dir), trust_remote_code=True)
    output = generator(text=MESSAGES, max_new_tokens=4, do_sample=False)
    assert isinstance(output[0]["generated_text"], (str, list))
