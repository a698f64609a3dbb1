"""InstructMol processor (Hub remote code): text with `<mol>` placeholders plus SMILES -> tokens and graphs.

This file travels with every saved InstructMol checkpoint and is loaded with `trust_remote_code=True`; it depends on
numpy and transformers only. As LLaVA's processor does, it leaves the work to `ProcessorMixin` and fills in its public
hooks: `prepare_inputs_layout` (one list of SMILES per sample), `validate_inputs` (placeholders against molecules, each
SMILES checked by the featurizer), `replace_image_token` (one `<mol>` per atom) and `apply_chat_template` (content
blocks flattened by `flatten_content`, the one rule for the text around `<mol>`). The featurizer, its image processor,
is `featurization_instructmol.MolecularGraphFeaturizer`.
"""

from collections.abc import Iterable

import numpy as np
from transformers import BatchFeature, ProcessorMixin

try:  # a sibling module when loaded from a checkpoint with trust_remote_code
    from .featurization_instructmol import ATOMS_PER_MOLECULE
except ImportError:  # a top-level module after `pip install`
    from featurization_instructmol import ATOMS_PER_MOLECULE

MOLECULE_TOKEN = "<mol>"
VICUNA_SYSTEM_PROMPT = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
# Vicuna v1 conversation as InstructMol trained it: "<s>{system} USER: <mol>\n{question} ASSISTANT: {answer}</s>".
# The template writes the BOS token itself: TRL tokenizes rendered conversations without special tokens. It reads
# string content only: `InstructMolProcessor.apply_chat_template` turns content blocks into the text around `<mol>`
# (`flatten_content`, the one rule for it), and the template refuses blocks that reach it another way.
VICUNA_CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['content'] is not string -%}"
    "{{- raise_exception('This template reads string content: render conversations with content blocks through "
    "InstructMolProcessor.apply_chat_template, which turns molecule blocks into <mol>') -}}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- set system_message = messages[0]['content'] -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set system_message = '" + VICUNA_SYSTEM_PROMPT.replace("'", "\\'") + "' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{{- bos_token + system_message + ' ' -}}"
    "{%- for message in loop_messages -%}"
    "{%- if message['role'] == 'user' -%}{{- 'USER: ' + message['content'] + ' ' -}}"
    "{%- else -%}{{- 'ASSISTANT: ' + message['content'] + eos_token -}}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- 'ASSISTANT:' -}}{%- endif -%}"
)
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


def special_token_in(text: str, tokenizer, allowed: tuple[str, ...] = ()) -> str | None:
    """The first special token of `tokenizer` (a named one, or an added token marked special) that `text` holds,
    other than `allowed`; None when it holds none. A user's text holding `<|im_end|>` would be tokenized into the
    token itself, closing a chat turn the user never closed."""
    specials = {*tokenizer.all_special_tokens,
                *(token.content for token in tokenizer.added_tokens_decoder.values() if token.special)} - set(allowed)
    return next((token for token in sorted(specials, key=len, reverse=True) if token and token in text), None)


class InstructMolProcessor(ProcessorMixin):
    r"""
    Turns text with `<mol>` placeholders plus SMILES strings into model inputs: token ids in which each
    placeholder is repeated once per heavy atom of its molecule, and the molecules' graphs as flat tensors.

    Molecules travel where `ProcessorMixin` and TRL's collator put images (`images=`, `processor_kwargs["images"]`):
    the featurizer is the image processor, `<mol>` the image token.

    Args:
        image_processor (`MolecularGraphFeaturizer`): SMILES -> graphs, with the encoder's embedding-table sizes.
        tokenizer: the LLM's tokenizer, with the molecule token added (`instructmol init` does this).
        chat_template (`str`, *optional*): Jinja chat template; Vicuna v1 (`VICUNA_CHAT_TEMPLATE`) for
            models without their own.
        molecule_token (`str`, defaults to `"<mol>"`): the placeholder token.

    Example:

    ```python
    >>> inputs = processor(text=["USER: <mol>\nWhat is this? ASSISTANT:"], molecules=[["CCO"]], return_tensors="pt")
    >>> inputs["input_ids"].shape, inputs["atom_features"].shape, inputs["edge_index"].shape
    (torch.Size([1, 13]), torch.Size([3, 9]), torch.Size([2, 4]))
    ```
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template: str | None = None,
                 molecule_token: str = MOLECULE_TOKEN, **kwargs):
        self.molecule_token = molecule_token
        super().__init__(image_processor, tokenizer, chat_template=chat_template, **kwargs)
        self.mol_token_id = tokenizer.convert_tokens_to_ids(molecule_token)
        if self.mol_token_id is None or self.mol_token_id == tokenizer.unk_token_id:
            raise ValueError(
                f"The tokenizer has no {molecule_token!r} token. Add it as a special token and resize the model's "
                "embeddings (`instructmol init` does both)."
            )

    # `ProcessorMixin` finds the placeholder as `image_token` and counts it as `image_token_id`.
    @property
    def image_token(self) -> str:
        return self.molecule_token

    @property
    def image_token_id(self) -> int:
        return self.mol_token_id

    @property
    def unused_input_names(self) -> list[str]:
        """The featurizer's atom counts size the placeholders; the model counts them itself."""
        return [ATOMS_PER_MOLECULE]

    def __call__(
        self,
        text: str | list[str] | None = None,
        molecules: list[list[str]] | list[str] | str | None = None,
        *,
        images: list[list[str]] | None = None,
        **kwargs,
    ) -> BatchFeature:
        """Tokenizes `text`, expanding the i-th `<mol>` of a sample into one token per atom of its i-th molecule.

        `ProcessorMixin.__call__` does the work through this class's hooks; this signature only names the
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
            ValueError: naming the sample and SMILES when a SMILES cannot become a graph, when the number of `<mol>`
                does not match the molecules given, or (transformers' own check) when truncation cut a molecule.
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
                try:  # cached: the graph is built here once and read again by `_process_images`
                    self.image_processor.featurize(smiles)
                except ValueError as error:  # the checkpoint's own featurizer module raises its own error class
                    raise ValueError(f"Sample {sample_index}: {error}") from None

    # The one private hook: `ProcessorMixin._process_images` counts images with `make_flat_list_of_images`, which
    # reads SMILES strings as no images, so molecules are flattened here. `replace_image_token` stays the public
    # expansion; tests/test_processor.py fails if transformers stops calling this hook.
    def _process_images(self, images: list[list[str]], **kwargs) -> tuple[BatchFeature, list[str]]:
        """The graphs of every sample's molecules as one flat batch, and each molecule's placeholder expansion."""
        flat_smiles = [smiles for sample_molecules in images for smiles in sample_molecules]
        graph_batch = self.image_processor(flat_smiles, **kwargs)
        return graph_batch, [self.replace_image_token(graph_batch, index) for index in range(len(flat_smiles))]

    def replace_image_token(self, image_inputs: dict, image_idx: int, **kwargs) -> str:
        """One `<mol>` per atom of the `image_idx`-th molecule of the batch."""
        return self.molecule_token * int(image_inputs[ATOMS_PER_MOLECULE][image_idx])

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

    def apply_chat_template(self, conversation, chat_template: str | None = None, processor_kwargs: dict | None = None,
                            **kwargs):
        """`ProcessorMixin.apply_chat_template`, with each message's content blocks flattened to one string first
        (`flatten_content`: a molecule block is `<mol>`), so that any LLM's string template renders them, and the
        blocks' SMILES passed as the conversation's molecules. The tokenizer adds no special token unless told to:
        the template writes them, as when TRL's collator tokenizes rendered conversations. Text holding one of the
        tokenizer's special tokens (`special_token_in`) is refused: only the template writes them."""
        is_batched = bool(conversation) and isinstance(conversation[0], (list, tuple))
        conversations = conversation if is_batched else [conversation]
        flat_conversations, molecules = [], []
        for conversation_index, messages in enumerate(conversations):
            flat_messages, conversation_molecules = [], []
            for message_index, message in enumerate(messages):
                content, smiles = flatten_content(message.get("content") or "", self.molecule_token)
                special = special_token_in(content, self.tokenizer, allowed=(self.molecule_token,))
                if special:
                    raise ValueError(
                        f"Conversation {conversation_index}, message {message_index} ({message.get('role')}): its text "
                        f"holds {special!r}, a special token of the tokenizer, which text never becomes (it would "
                        "open or close a turn of the chat template); remove it"
                    )
                flat_messages.append({**message, "content": content})
                conversation_molecules += smiles
            if None in conversation_molecules:
                raise ValueError(
                    f"Conversation {conversation_index}: a molecule block has no SMILES; write "
                    "{'type': 'molecule', 'molecule': smiles}."
                )
            flat_conversations.append(flat_messages)
            molecules.append(conversation_molecules)
        processor_kwargs = {"add_special_tokens": False, **(processor_kwargs or {})}
        if any(molecules):
            processor_kwargs["images"] = molecules if is_batched else molecules[0]
        return super().apply_chat_template(flat_conversations if is_batched else flat_conversations[0],
                                           chat_template=chat_template, processor_kwargs=processor_kwargs, **kwargs)

    def post_process_generation(self, generated_ids, prompt_length: int = 0, **decode_kwargs) -> list[str]:
        """Decodes generated ids after the prompt (`generate` returns prompt + answer), special tokens removed."""
        decode_kwargs.setdefault("skip_special_tokens", True)
        if not hasattr(generated_ids, "shape"):  # lists of ids; tensors stay on their device
            generated_ids = np.asarray(generated_ids, dtype=np.int64)
        if generated_ids.ndim != 2:
            raise ValueError(f"Expected generated ids of shape [batch, length], got shape {tuple(generated_ids.shape)}")
        return self.batch_decode(generated_ids[:, prompt_length:], **decode_kwargs)


__all__ = ["InstructMolProcessor", "MOLECULE_TOKEN", "VICUNA_CHAT_TEMPLATE", "VICUNA_SYSTEM_PROMPT", "flatten_content",
           "special_token_in"]
