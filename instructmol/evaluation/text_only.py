"""A plain causal LM's tokenizer behind the processor interface the evaluator uses, for the text-only baselines
(the `_s` configs: the molecule as its string, no graph)."""

from transformers import BatchFeature, PreTrainedTokenizerBase


class TextOnlyProcessor:
    """What `InstructMolProcessor` does for text, with a plain tokenizer: chat templates over string contents,
    tokenization, decoding. It reads no molecules.

    Args:
        tokenizer: the LLM's tokenizer, with a chat template.

    Raises:
        ValueError: (at construction) the tokenizer has no chat template; (when called) molecules are given.
    """

    reads_molecules = False
    mol_token_id = None

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        if not tokenizer.chat_template:
            raise ValueError(
                f"the tokenizer of {tokenizer.name_or_path!r} has no chat template; the baseline recipes train with "
                "one (chat_template_path), and the trained adapter or model folder keeps it"
            )
        self.tokenizer = tokenizer

    def __call__(self, text: str | list[str], images: list | None = None, **tokenizer_kwargs) -> BatchFeature:
        if images and any(images):
            raise ValueError("a plain language model reads no molecules; evaluate it on a text-only `_s` config")
        return BatchFeature(self.tokenizer(text, **tokenizer_kwargs), tensor_type=tokenizer_kwargs.get("return_tensors"))

    @staticmethod
    def _text_messages(messages: list[dict]) -> list[dict]:
        """Messages whose content blocks are joined into one string (what a text-only chat template reads)."""
        return [
            {**message, "content": message["content"] if isinstance(message.get("content"), str)
             else "".join(block["text"] for block in message.get("content") or [] if block.get("type") == "text")}
            for message in messages
        ]

    def apply_chat_template(self, conversation: list[dict] | list[list[dict]], add_generation_prompt: bool = False,
                            tokenize: bool = False, return_dict: bool = False, return_tensors: str | None = None,
                            processor_kwargs: dict | None = None, **template_kwargs):
        """Renders one conversation or a batch; with `tokenize`, tokenizes the text as the chat template wrote it
        (no special tokens added: the template writes them)."""
        is_batched = bool(conversation) and isinstance(conversation[0], (list, tuple))
        texts = [self.tokenizer.apply_chat_template(self._text_messages(messages), tokenize=False,
                                                    add_generation_prompt=add_generation_prompt, **template_kwargs)
                 for messages in (conversation if is_batched else [conversation])]
        if not tokenize:
            return texts if is_batched else texts[0]
        inputs = self(texts, return_tensors=return_tensors, **{"add_special_tokens": False, **(processor_kwargs or {})})
        return inputs if return_dict else inputs["input_ids"]

    def post_process_generation(self, generated_ids, prompt_length: int = 0, **decode_kwargs) -> list[str]:
        """Decodes generated ids after the prompt, special tokens removed."""
        decode_kwargs.setdefault("skip_special_tokens", True)
        return self.tokenizer.batch_decode(generated_ids[:, prompt_length:], **decode_kwargs)
