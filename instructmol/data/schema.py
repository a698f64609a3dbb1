"""The one row schema every InstructMol dataset shares, and the candidate rows builders assemble first.

Rows are conversational prompt-completion pairs as TRL's `SFTTrainer` reads them; the molecules a row gives the
model as graphs travel in `images`, the column TRL's vision-language collator passes to the processor. Because the
features are identical for every builder and config, configs of different tasks concatenate into one stage-2
mixture (`datasets.concatenate_datasets`) without casting.
"""

from typing import Any

from datasets import Dataset, Features, List, Value

from .prompts import user_content

# The user turn is a list of content blocks, as TRL's `prepare_multimodal_messages` reads them: `{"type": "image"}`
# placeholders (filled from `images`, in order) and `{"type": "text", "text": ...}`, so that a row decides where its
# graphs stand. Answers are plain strings.
CONTENT_BLOCK_FEATURES = {"type": Value("string"), "text": Value("string")}
PROMPT_MESSAGE_FEATURES = {"role": Value("string"), "content": List(CONTENT_BLOCK_FEATURES)}
TEXT_MESSAGE_FEATURES = {"role": Value("string"), "content": Value("string")}
METADATA_FEATURES = {"task": Value("string"), "id": Value("string"), "smiles": Value("string"), "target": Value("string")}

ROW_FEATURES = Features(
    {
        "images": List(Value("string")),
        "prompt": List(PROMPT_MESSAGE_FEATURES),
        "completion": List(TEXT_MESSAGE_FEATURES),
        **METADATA_FEATURES,
    }
)

# Text-only rows (the `_s` configs, for plain LLM baselines): no `images` column, and a user turn that is a plain
# string, as any LLM's chat template and TRL's text collator read it; `smiles` still names the row's molecules.
TEXT_ROW_FEATURES = Features(
    {"prompt": List(TEXT_MESSAGE_FEATURES), "completion": List(TEXT_MESSAGE_FEATURES), **METADATA_FEATURES}
)

# A candidate is a source row on its way to becoming a dataset row. Every check that rejects it writes its reason
# into `drop_reason`, so that drops are counted from one column at the end and no row disappears unaccounted for.
CANDIDATE_FEATURES = Features(
    {
        "id": Value("string"),
        "task": Value("string"),
        "split": Value("string"),
        "input": Value("string"),  # the molecule(s) in the source's notation: 'a', 'a.b' or 'a.b>>c'
        "instruction": Value("string"),  # the source record's own instruction ('' when it has none)
        "target": Value("string"),
        "drop_reason": Value("string"),
    }
)


def candidate(
    *,
    row_id: str,
    task: str,
    split: str,
    molecule_input: str,
    target: str,
    instruction: str = "",
    drop_reason: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """One candidate row; an empty `molecule_input` is dropped as a missing value.

    Characters UTF-8 cannot store (lone surrogates, escaped in some JSON sources) become U+FFFD, so that every
    candidate reaches the count; the featurizer then refuses a SMILES holding one.
    """
    return {
        "id": row_id,
        "task": task,
        "split": split,
        "input": storable_text(molecule_input),
        "instruction": storable_text(instruction),
        "target": storable_text(target),
        "drop_reason": drop_reason,
        **extra,
    }


def storable_text(text: str) -> str:
    """`text` with every character UTF-8 cannot encode replaced by U+FFFD."""
    return text if text.isascii() else text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def candidates_dataset(records: list[dict[str, Any]], source: str) -> Dataset:
    """Candidate rows as a `Dataset` with explicit features (inference would fail on all-empty columns).

    Raises:
        ValueError: naming `source` (what the records were read from) when it held no row at all.
    """
    if not records:
        raise ValueError(f"{source} holds no rows")
    return Dataset.from_list(records, features=CANDIDATE_FEATURES)


def text_row(*, instruction: str, row_id: str, task: str, target: str, smiles: str) -> dict[str, Any]:
    """One text-only dataset row in `TEXT_ROW_FEATURES` form."""
    return {
        "prompt": [{"role": "user", "content": instruction}],
        "completion": [{"role": "assistant", "content": target}],
        "task": task,
        "id": row_id,
        "smiles": smiles,
        "target": target,
    }


def conversation_row(
    *, images: list[str], instruction: str, row_id: str, task: str, target: str, graph_after: bool = False
) -> dict[str, Any]:
    """One dataset row in `ROW_FEATURES` form: the graphs of `images` before the instruction (after it with
    `graph_after`); the answer the model learns is the target text itself."""
    return {
        "images": images,
        "prompt": [{"role": "user", "content": user_content(instruction, len(images), graph_after)}],
        "completion": [{"role": "assistant", "content": target}],
        "task": task,
        "id": row_id,
        "smiles": ".".join(images),
        "target": target,
    }
