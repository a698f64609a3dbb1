"""The model's probability of answering "Yes" rather than "No", read where training put the answer's first token.

Training (TRL's `SFTTrainer`, prompt-completion rows) renders the prompt with the chat template and the
generation prompt, renders prompt + completion, splits the two at their common prefix, and tokenizes each part
on its own without special tokens. The logits that predicted the answer's first token during training are
therefore those at the last token of that prompt. Here each candidate answer goes through the same TRL
functions, so the token compared is exactly the one the model learned (e.g. "▁Yes" after Vicuna's
"ASSISTANT:", "Yes" after ChatML's "<|im_start|>assistant\\n"), and the forward pass reads the same prompt.
"""

from dataclasses import dataclass

import torch
from trl.data_utils import apply_chat_template, prepare_multimodal_messages

from .generation import row_conversation

POSITIVE_ANSWER = "Yes"
NEGATIVE_ANSWER = "No"


@dataclass(frozen=True)
class TrainingRendering:
    """A row's prompt text as training tokenized it, and the first token id of each candidate answer."""

    prompt: str
    positive_token_id: int
    negative_token_id: int


def render_as_in_training(processor, row: dict, answer: str) -> tuple[str, str]:
    """(prompt text, completion text) of a row answered with `answer`, split exactly as TRL's collator splits it."""
    example = {
        "prompt": row_conversation(row),
        "completion": prepare_multimodal_messages([{"role": "assistant", "content": answer}]),
    }
    rendered = apply_chat_template(example, processor)
    return rendered["prompt"], rendered["completion"]


def first_answer_token(processor, completion: str) -> int:
    """The first token id of a completion tokenized on its own, as TRL's collator tokenizes it."""
    token_ids = processor.tokenizer(completion, add_special_tokens=False)["input_ids"]
    if not token_ids:
        raise ValueError(f"the completion {completion!r} tokenizes to nothing")
    return token_ids[0]


def training_rendering(processor, row: dict) -> TrainingRendering:
    """The prompt and the two candidate answer tokens of a Yes/No row.

    Raises:
        ValueError: when the chat template renders different prompts for the two answers, or "Yes" and "No"
            start with the same token (their first-token probabilities could not tell them apart).
    """
    positive_prompt, positive_completion = render_as_in_training(processor, row, POSITIVE_ANSWER)
    negative_prompt, negative_completion = render_as_in_training(processor, row, NEGATIVE_ANSWER)
    if positive_prompt != negative_prompt:
        raise ValueError(f"Row {row['id']!r}: the chat template renders a different prompt before 'Yes' and before 'No'")
    positive, negative = first_answer_token(processor, positive_completion), first_answer_token(processor, negative_completion)
    if positive == negative:
        raise ValueError(f"'Yes' and 'No' start with the same token ({positive}) after the prompt of row {row['id']!r}")
    return TrainingRendering(positive_prompt, positive, negative)


def yes_no_inputs(processor, rows: list[dict]) -> tuple[dict, torch.LongTensor]:
    """The processed prompts of Yes/No rows as training rendered them, left-padded, and each row's candidate answer
    tokens: (inputs of `input_ids` `[batch, prompt length]` and the graph tensors, `[batch, 2]` ids of "Yes", "No")."""
    renderings = [training_rendering(processor, row) for row in rows]
    inputs = processor(
        text=[rendering.prompt for rendering in renderings],
        images=[row["images"] for row in rows],
        padding=True,
        padding_side="left",
        add_special_tokens=False,
        return_tensors="pt",
    )
    candidate_ids = torch.tensor([[rendering.positive_token_id, rendering.negative_token_id] for rendering in renderings])
    return inputs, candidate_ids


@torch.no_grad()
def yes_probabilities(model, processor, rows: list[dict]) -> list[float]:
    """P("Yes") / (P("Yes") + P("No")) at the answer's first token, for one batch of rows (one forward pass).

    Prompts are left-padded; position ids follow the attention mask, as in `generate`, so that a padded row
    reads the same positions as when it is alone.
    """
    inputs, candidate_ids = yes_no_inputs(processor, rows)
    inputs = inputs.to(model.device)
    position_ids = (inputs["attention_mask"].cumsum(dim=-1) - 1).clamp(min=0)
    logits = model(**inputs, position_ids=position_ids, logits_to_keep=1).logits[:, -1, :].float()
    two_way = torch.softmax(logits.gather(1, candidate_ids.to(logits.device)), dim=-1)
    return two_way[:, 0].tolist()
