"""InstructMolProcessor: placeholder expansion, TRL's keywords, chat template, bad input."""

import pickle

import jinja2
import numpy as np
import pytest
import torch

from transformers import AutoImageProcessor, ProcessorMixin

from featurization_instructmol import MolecularGraphFeaturizer
from processing_instructmol import VICUNA_CHAT_TEMPLATE, VICUNA_SYSTEM_PROMPT, InstructMolProcessor, flatten_content

QUESTION = "USER: <mol>\nwhat is this molecule? ASSISTANT:"


def count_molecule_tokens(processor, input_ids) -> list[int]:
    return (torch.as_tensor(input_ids) == processor.mol_token_id).sum(dim=1).tolist()


def test_each_placeholder_becomes_one_token_per_heavy_atom(tiny_processor):
    inputs = tiny_processor(
        text=[QUESTION, "USER: <mol> and <mol>? ASSISTANT:"],
        molecules=[["c1ccccc1O"], ["CCO", "[Na+].[Cl-]"]],
        padding=True,
        return_tensors="pt",
    )
    assert count_molecule_tokens(tiny_processor, inputs["input_ids"]) == [7, 3 + 2]
    assert inputs["atom_features"].shape == (7 + 3 + 2, 9)
    assert inputs["bond_features"].shape == (14 + 4 + 0, 3)
    assert inputs["edge_index"].shape == (2, 18)
    assert inputs["edge_index"][:, 14:].min() == 7  # ethanol's edges are offset past phenol's atoms
    assert all(torch.is_tensor(value) and value.dtype == torch.long for value in inputs.values())


def test_images_keyword_is_the_same_as_molecules(tiny_processor):
    by_molecules = tiny_processor(text=[QUESTION], molecules=[["CCO"]], return_tensors="pt")
    by_images = tiny_processor(text=[QUESTION], images=[["CCO"]], return_tensors="pt")
    assert by_molecules.keys() == by_images.keys()
    for key in by_molecules:
        assert torch.equal(by_molecules[key], by_images[key])


def test_single_sample_accepts_a_flat_list_or_string(tiny_processor):
    nested = tiny_processor(text=QUESTION, molecules=[["CCO"]], return_tensors="pt")
    for molecules in (["CCO"], "CCO"):
        flat = tiny_processor(text=QUESTION, molecules=molecules, return_tensors="pt")
        assert torch.equal(flat["input_ids"], nested["input_ids"])


def test_accepts_every_keyword_trl_passes(tiny_processor):
    prompts = tiny_processor(
        images=[["CCO"], ["c1ccccc1"]],
        text=[QUESTION, QUESTION + " yes"],
        padding=True,
        padding_side="left",
        truncation=False,
        max_length=None,
        add_special_tokens=False,
        pad_to_multiple_of=8,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    assert prompts["input_ids"].shape[1] % 8 == 0
    assert (prompts["attention_mask"][:, 0] == 0).any()  # left padding
    assert "offset_mapping" in prompts
    completions = tiny_processor(text=[" yes</s>", " no</s>"], padding=True, padding_side="right", return_tensors="pt")
    assert "atom_features" not in completions
    empty = tiny_processor(text=["hello", "world"], images=[[], []], return_tensors="pt")
    assert "atom_features" not in empty and empty["input_ids"].shape[0] == 2


def test_without_return_tensors_graphs_stay_numpy(tiny_processor):
    inputs = tiny_processor(text=QUESTION, molecules=["CCO"])
    assert isinstance(inputs["atom_features"], np.ndarray) and isinstance(inputs["input_ids"], list)


@pytest.mark.parametrize(
    ("text", "molecules", "message"),
    [
        ([QUESTION, QUESTION], [["CCO"], ["C1CC"]], r"Sample 1: .*'C1CC'.*invalid SMILES syntax"),
        ([QUESTION], [[""]], r"Sample 0: the SMILES '' is empty"),
        ([QUESTION, "USER: no molecule here ASSISTANT:"], [["CCO"], ["CCO"]], r"Sample 1: the text has 0 <mol> .* 1 molecule\(s\) were given \['CCO'\]"),
        (["USER: <mol> <mol> ASSISTANT:"], [["CCO"]], r"Sample 0: the text has 2 <mol> placeholder\(s\) but 1 molecule"),
        ([QUESTION], None, r"Sample 0: the text has 1 <mol> placeholder\(s\) but 0 molecule"),
        ([QUESTION, QUESTION], [["CCO"]], r"one list of SMILES per sample \(2 samples\)"),
    ],
)
def test_bad_input_names_the_sample_and_smiles(tiny_processor, text, molecules, message):
    with pytest.raises(ValueError, match=message):
        tiny_processor(text=text, molecules=molecules, return_tensors="pt")


def test_truncation_that_would_cut_a_molecule_is_refused(tiny_processor):
    # transformers' own check (`ProcessorMixin._check_special_mm_tokens`), which counts `image_token_id`.
    with pytest.raises(ValueError, match=r"Mismatch in `image` token count between text and `input_ids`.*text=\[7\]"):
        tiny_processor(text=[QUESTION], molecules=[["c1ccccc1O"]], truncation=True, max_length=5, return_tensors="pt")


def test_vicuna_template_renders_the_papers_conversation(tiny_processor):
    conversation = [
        {"role": "user", "content": [{"type": "molecule", "molecule": "CCO"}, {"type": "text", "text": "What is it?"}]},
        {"role": "assistant", "content": "An alcohol."},
    ]
    rendered = tiny_processor.apply_chat_template(conversation)
    assert rendered == f"<s>{VICUNA_SYSTEM_PROMPT} USER: <mol>\nWhat is it? ASSISTANT: An alcohol.</s>"
    prompt = tiny_processor.apply_chat_template(conversation[:1], add_generation_prompt=True)
    assert prompt == f"<s>{VICUNA_SYSTEM_PROMPT} USER: <mol>\nWhat is it? ASSISTANT:"
    # TRL's blocks: {"type": "image", "image": smiles}; and a custom system prompt replaces the default.
    trl_style = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "image", "image": "CCO"}, {"type": "text", "text": "What is it?"}]},
    ]
    assert tiny_processor.apply_chat_template(trl_style, add_generation_prompt=True) == (
        "<s>Be brief. USER: <mol>\nWhat is it? ASSISTANT:"
    )


@pytest.mark.parametrize(("blocks", "user_turn"), [
    (["image", "molecule", "text"], "<mol>\n<mol>\nCompare."),
    (["text", "image"], "Compare.\n<mol>"),  # the released code's graph after the instruction
    (["image"], "<mol>"),  # the released stage 1: the graph alone
    (["text", "image", "text"], "Compare.\n<mol>\nCompare."),
])
def test_blocks_become_text_by_one_rule_and_the_template_alone_refuses_them(tiny_processor, blocks, user_turn):
    """`flatten_content` is the one rule for the text around `<mol>`: the processor renders blocks through it, and the
    Jinja template, used alone (as a tokenizer would), refuses blocks instead of writing them its own way."""
    content = [{"type": "text", "text": "Compare."} if block == "text" else {"type": block, block: "C"}
               for block in blocks]
    conversation = [
        {"role": "user", "content": content},
        {"role": "assistant", "content": [{"type": "text", "text": "Both are small."}]},
    ]
    assert tiny_processor.apply_chat_template(conversation) == (
        f"<s>{VICUNA_SYSTEM_PROMPT} USER: {user_turn} ASSISTANT: Both are small.</s>")
    with pytest.raises(jinja2.TemplateError, match="InstructMolProcessor.apply_chat_template"):
        tiny_processor.tokenizer.apply_chat_template(conversation, chat_template=VICUNA_CHAT_TEMPLATE, tokenize=False)
    flat = [{**message, "content": flatten_content(message["content"])[0]} for message in conversation]
    direct = jinja2.Environment().from_string(VICUNA_CHAT_TEMPLATE).render(
        messages=flat, bos_token="<s>", eos_token="</s>", add_generation_prompt=False)
    assert direct == tiny_processor.apply_chat_template(conversation)


def test_the_one_private_hook_the_processor_overrides_is_still_called_by_transformers(tiny_processor, monkeypatch):
    """`_process_images` is the only private `ProcessorMixin` hook the processor overrides (the rest are public):
    if transformers renames or stops calling it, this fails here (and in the floor test) before a user sees it."""
    overridden_private = sorted(name for name, value in vars(InstructMolProcessor).items()
                                if name.startswith("_") and not name.startswith("__") and callable(value)
                                and hasattr(ProcessorMixin, name))
    assert overridden_private == ["_process_images"]
    calls = []
    original = InstructMolProcessor._process_images
    monkeypatch.setattr(InstructMolProcessor, "_process_images",
                        lambda self, images, **kwargs: calls.append(images) or original(self, images, **kwargs))
    inputs = tiny_processor(text=[QUESTION], molecules=[["CCO"]], return_tensors="pt")
    assert calls == [[["CCO"]]] and count_molecule_tokens(tiny_processor, inputs["input_ids"]) == [3]
    assert "atoms_per_molecule" not in inputs  # sizes the placeholders, then dropped (`unused_input_names`)


def test_the_featurizer_is_the_checkpoints_auto_image_processor(tiny_model_dir, tmp_path):
    featurizer = AutoImageProcessor.from_pretrained(tiny_model_dir, trust_remote_code=True)
    assert type(featurizer).__name__ == "MolecularGraphFeaturizer"
    assert type(featurizer).__module__.startswith("transformers_modules")  # the checkpoint's own file
    batch = featurizer(["CCO", "c1ccccc1"], return_tensors="pt")
    assert batch["atoms_per_molecule"].tolist() == [3, 6] and batch["atom_features"].shape == (9, 9)
    moleculestm = MolecularGraphFeaturizer([119, 4, 11, 11, 9, 5, 5, 2, 2], [5, 6, 2], cache_size=16)
    moleculestm.save_pretrained(tmp_path)
    reloaded = MolecularGraphFeaturizer.from_pretrained(tmp_path)
    assert reloaded.atom_feature_dims == moleculestm.atom_feature_dims and reloaded.cache_size == 200_000
    assert "cache_size" not in (tmp_path / "preprocessor_config.json").read_text()  # a setting of one process


def test_chat_template_tokenizes_with_molecules_from_blocks(tiny_processor):
    conversations = [
        [{"role": "user", "content": [{"type": "molecule", "molecule": "CCO"}, {"type": "text", "text": "What is it?"}]}],
        [{"role": "user", "content": [{"type": "image", "image": "c1ccccc1"}, {"type": "text", "text": "And this?"}]}],
    ]
    inputs = tiny_processor.apply_chat_template(
        conversations, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt",
        processor_kwargs={"padding": True},
    )
    assert count_molecule_tokens(tiny_processor, inputs["input_ids"]) == [3, 6]
    assert inputs["atom_features"].shape[0] == 9
    with pytest.raises(ValueError, match="Conversation 0: a molecule block has no SMILES"):
        tiny_processor.apply_chat_template([[{"role": "user", "content": [{"type": "molecule"}]}]], tokenize=True)


def test_an_llms_own_chat_template_gets_molecule_placeholders(tiny_processor):
    chatml = (
        "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    conversation = [{"role": "user", "content": [{"type": "molecule", "molecule": "CCO"}, {"type": "text", "text": "Hi"}]}]
    rendered = tiny_processor.apply_chat_template(conversation, chat_template=chatml, add_generation_prompt=True)
    assert rendered == "<|im_start|>user\n<mol>\nHi<|im_end|>\n<|im_start|>assistant\n"
    # Tokenized, the tokenizer adds no BOS the template did not write (as TRL tokenizes rendered conversations).
    input_ids = tiny_processor.apply_chat_template(conversation, chat_template=chatml, add_generation_prompt=True,
                                                   tokenize=True)[0]
    assert tiny_processor.tokenizer.bos_token_id not in list(input_ids)
    assert count_molecule_tokens(tiny_processor, [input_ids]) == [3]


def test_assistant_masks_cover_the_answer_after_expanded_molecules(tiny_processor):
    """ProcessorMixin's own `apply_chat_template` renders and tokenizes (ours only flattens blocks first), so its
    assistant masks, which TRL's `assistant_only_loss` reads, hold for a template with `{% generation %}` once
    molecules are expanded."""
    template = (
        "{% for message in messages %}{{ message['role'] + ': ' }}{% if message['role'] == 'assistant' %}"
        "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}{% else %}{{ message['content'] }}"
        "{% endif %}{{ '\n' }}{% endfor %}"
    )
    conversation = [
        {"role": "user", "content": [{"type": "molecule", "molecule": "CCO"}, {"type": "text", "text": "what is it"}]},
        {"role": "assistant", "content": "an aromatic alcohol"},
    ]
    inputs = tiny_processor.apply_chat_template(conversation, chat_template=template, tokenize=True, return_dict=True,
                                                return_assistant_tokens_mask=True)
    tokens = tiny_processor.tokenizer.convert_ids_to_tokens(inputs["input_ids"][0])
    assert tokens.count("<mol>") == 3
    assert [token for token, mask in zip(tokens, inputs["assistant_masks"][0]) if mask] == [
        "an", "aromatic", "alcohol", "</s>"]


def test_decode_and_batch_decode_drop_placeholders(tiny_processor):
    inputs = tiny_processor(text=[QUESTION], molecules=[["CCO"]])
    decoded = tiny_processor.batch_decode(inputs["input_ids"], skip_special_tokens=True)[0]
    assert "<mol>" not in decoded and "molecule" in decoded
    assert tiny_processor.decode(inputs["input_ids"][0], skip_special_tokens=False).count("<mol>") == 3


def test_save_load_round_trip_and_pickling(tiny_processor, tmp_path):
    tiny_processor.save_pretrained(tmp_path)
    saved_settings = (tmp_path / "processor_config.json").read_text()
    assert "featurizer" not in saved_settings and '"molecule_token": "<mol>"' in saved_settings
    reloaded = InstructMolProcessor.from_pretrained(tmp_path, trust_remote_code=True)
    restored = pickle.loads(pickle.dumps(reloaded))  # DataLoader workers pickle the collator's processor
    for processor in (reloaded, restored):
        inputs = processor(text=[QUESTION], molecules=[["CCO"]], return_tensors="pt")
        expected = tiny_processor(text=[QUESTION], molecules=[["CCO"]], return_tensors="pt")
        assert all(torch.equal(inputs[key], expected[key]) for key in expected)
    assert reloaded.chat_template == tiny_processor.chat_template


def test_tokenizer_without_the_molecule_token_is_refused():
    from tiny_models import build_tiny_tokenizer

    with pytest.raises(ValueError, match="has no '<mol>' token"):
        InstructMolProcessor(image_processor=MolecularGraphFeaturizer(), tokenizer=build_tiny_tokenizer())


def test_tokenized_chat_has_exactly_one_bos_as_in_training(tiny_processor):
    """TRL tokenizes rendered conversations without special tokens; the template writes the BOS itself."""
    conversation = [{"role": "user", "content": [{"type": "molecule", "molecule": "CCO"}, {"type": "text", "text": "hi"}]}]
    input_ids = tiny_processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=True)[0]
    bos = tiny_processor.tokenizer.bos_token_id
    assert input_ids[0] == bos and list(input_ids).count(bos) == 1
