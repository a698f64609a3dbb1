"""Batched generation over dataset rows: left padding, greedy by default, a progress bar."""

from collections.abc import Iterable, Iterator

import torch
from tqdm.auto import tqdm
from trl.data_utils import prepare_multimodal_messages


def row_conversation(row: dict) -> list[dict]:
    """A dataset row's prompt as a conversation, its `images` filled into its placeholders by TRL's own function,
    exactly as the training collator fills them (so train and test prompts are rendered alike)."""
    return prepare_multimodal_messages(row["prompt"], images=row["images"])


def batches(items: list, batch_size: int) -> Iterator[list]:
    """Consecutive slices of `items`, `batch_size` long (the last may be shorter)."""
    for start in range(0, len(items), batch_size):
        yield items[start : start + batch_size]


def prompt_inputs(processor, conversations: list[list[dict]], device: torch.device | str):
    """The model inputs of conversations ending in a user turn, left-padded (every answer starts right after its
    prompt), with the assistant turn opened: `input_ids` `[batch, prompt length]` and the graph tensors."""
    processor.tokenizer.padding_side = "left"
    return processor.apply_chat_template(
        conversations,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        return_tensors="pt",
        # As TRL's collator tokenized the rendered prompts in training: the chat template writes every special
        # token itself, and a tokenizer that adds a BOS (Llama's) would otherwise prepend one training never had.
        processor_kwargs={"padding": True, "add_special_tokens": False},
    ).to(device)


def generate_answers(
    model,
    processor,
    rows: Iterable[dict],
    batch_size: int = 16,
    max_new_tokens: int = 64,
    progress: bool = True,
) -> Iterator[str]:
    """Yields the model's greedy answer to each row (in order), `batch_size` prompts at a time, through
    `TransformersEngine` (left-padded prompts, so every answer starts right after its prompt)."""
    from ..engines import Decoding, TransformersEngine

    rows = list(rows)
    engine, decoding = TransformersEngine(model, processor), Decoding(max_new_tokens)
    bar = tqdm(total=len(rows), desc="Generating", unit="prompt", disable=not progress)
    for batch in batches(rows, batch_size):
        yield from engine.generate([row_conversation(row) for row in batch], decoding)
        bar.update(len(batch))
    bar.close()
