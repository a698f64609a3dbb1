"""Where answers come from: transformers' `generate` in this process (`TransformersEngine`), or a vLLM server
(`instructmol.serving.InstructMolClient`). Chat, the demo and evaluation take either; both have `generate`
(answers to conversations, in order), `stream` (one answer, piece by piece; the generator's return value says whether
`max_new_tokens` cut it), `yes_probabilities` (Yes/No rows) and `description` (what ran, for reports and status lines).
"""

import math
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from threading import Thread

import torch

from .arguments import SEED_RANGE
from .evaluation.generation import prompt_inputs
from .evaluation.settings import decoding_kwargs


@dataclass(frozen=True)
class Decoding:
    """How answers are decoded: at most `max_new_tokens`, greedy or sampling at `temperature` from `seed` (None: not
    seeded).

    Raises:
        ValueError: `max_new_tokens` below 1, a sampling temperature that is not a positive finite number (`nan`
            would fall back to greedy and `inf` fail inside sampling, after the model loaded), or a seed outside
            `SEED_RANGE`.
    """

    max_new_tokens: int
    sample: bool = False
    temperature: float = 0.2
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"the most new tokens must be at least 1, got {self.max_new_tokens}")
        if self.sample and not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"a sampling temperature must be a positive finite number, got {self.temperature}")
        if self.seed is not None and self.seed not in SEED_RANGE:
            raise ValueError(f"a seed must be from 0 to 2**32 - 1, got {self.seed}")

    def generate_kwargs(self) -> dict:
        """`model.generate`'s arguments."""
        return {"max_new_tokens": self.max_new_tokens, **decoding_kwargs(self.sample, self.temperature)}


class PieceStream:
    """An engine's `stream`, iterable with `for`: yields the answer's pieces; once they end, `cut` holds the
    generator's return value (whether `max_new_tokens` cut the answer)."""

    def __init__(self, pieces: Generator[str, None, bool]):
        self.pieces = pieces
        self.cut = False

    def __iter__(self) -> Iterator[str]:
        self.cut = yield from self.pieces


def cut_by_limit(answer_ids: list[int], decoding: Decoding, eos_token_id: int | list[int] | None) -> bool:
    """Whether an answer of these token ids stopped at `decoding.max_new_tokens` rather than at an end-of-sequence
    token (`generate` stops at one or the other)."""
    eos_ids = {eos_token_id} if isinstance(eos_token_id, int) else set(eos_token_id or ())
    return len(answer_ids) >= decoding.max_new_tokens and (not answer_ids or answer_ids[-1] not in eos_ids)


class TransformersEngine:
    """An InstructMol model (or a plain causal LM) answering in this process with transformers' `generate`.

    Prompts are left-padded so that every answer starts right after its prompt; `<mol>` is never generated (the
    model suppresses it).
    """

    def __init__(self, model, processor):
        self.model = model
        self.processor = processor

    @property
    def description(self) -> str:
        return f"transformers ({type(self.model).__name__}, {self.model.dtype}, on {self.model.device})"

    @torch.no_grad()
    def generate(self, conversations: list[list[dict]], decoding: Decoding) -> list[str]:
        """The answer to each conversation (ending in a user turn), generated together as one batch."""
        if decoding.sample and decoding.seed is not None:
            from transformers import set_seed

            set_seed(decoding.seed)
        inputs = prompt_inputs(self.processor, conversations, self.model.device)
        generated = self.model.generate(**inputs, **decoding.generate_kwargs())
        prompt_length = inputs["input_ids"].shape[1]
        return [answer.strip() for answer in self.processor.post_process_generation(generated, prompt_length)]

    def stream(self, conversation: list[dict], decoding: Decoding) -> Generator[str, None, bool]:
        """Yields the answer to one conversation in pieces as they are generated (in a thread, whose error is raised
        here once the pieces so far are out); returns whether the answer was cut by `max_new_tokens` (it ended
        without an end-of-sequence token)."""
        from transformers import TextIteratorStreamer

        inputs = prompt_inputs(self.processor, [conversation], self.model.device)
        streamer = TextIteratorStreamer(self.processor.tokenizer, skip_prompt=True, skip_special_tokens=True)
        generated: list[torch.Tensor] = []
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                if decoding.sample and decoding.seed is not None:
                    from transformers import set_seed

                    set_seed(decoding.seed)
                with torch.no_grad():
                    generated.append(self.model.generate(**inputs, streamer=streamer, **decoding.generate_kwargs()))
            except Exception as error:  # raised below, in the caller's thread; the streamer must end either way
                failure.append(error)
                streamer.end()

        worker = Thread(target=generate, daemon=True)
        worker.start()
        yield from streamer
        worker.join()
        if failure:
            raise failure[0]
        answer_ids = generated[0][0, inputs["input_ids"].shape[1]:].tolist()
        return cut_by_limit(answer_ids, decoding, self.model.generation_config.eos_token_id)

    def yes_probabilities(self, rows: list[dict]) -> list[float]:
        """P("Yes") / (P("Yes") + P("No")) at each Yes/No row's first answer token (one forward pass)."""
        from .evaluation.classification import yes_probabilities

        return yes_probabilities(self.model, self.processor, rows)
