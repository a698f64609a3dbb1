"""The one row schema every InstructMol dataset shares, and the candidate rows builders assemble first.

Rows are conversational prompt-completion pairs as TRL's `SFTTrainer` reads them; the molecules a row gives the
model as graphs travel in `images`, the column TRL's vision-language collator passes to the processor. Because the
features are identical for every builder and config, configs of different tasks concatenate into one stage-2
mixture (`datasets.concatenate_datasets`) without casting.
"""

from typing import Any

from datasets import Dataset, Features, List, Value

MESSAGE_FEATURES = {"role": Value("string"), "content": Value("string")}

ROW_FEATURES = Features(
    {
        "images": List(Value("string")),
        "prompt": List(MESSAGE_FEATURES),
        "completion": List(MESSAGE_FEATURES),
        "task": Value("string"),
        "id": Value("string"),
        "smiles": Value("string"),
        "target": Value("string"),
    }
)

# A candidate is a source row on its way to becoming a dataset row. Every check that rejects it writes its reason
# into `drop_reason`, so that drops are counted from one column at the end and no row disappears unaccounted for.
CANDIDATE_FEATURES = Features(
    {
        "id": Value("string"),
        "task": Value("string"),
        "split": Value("string"),
        "molecules": List(Value("string")),  # in the source's notation (SMILES or SELFIES)
        "display": Value("string"),  # the molecule text an InstructMol-GS prompt shows, in the source's notation
        "instruction": Value("string"),
        "target": Value("string"),
        "drop_reason": Value("string"),
    }
)


def candidate(
    *,
    row_id: str,
    task: str,
    split: str,
    molecules: list[str],
    instruction: str,
    target: str,
    drop_reason: str = "",
    display: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """One candidate row; `display` defaults to the molecules joined by '.'."""
    return {
        "id": row_id,
        "task": task,
        "split": split,
        "molecules": molecules,
        "display": ".".join(molecules) if display is None else display,
        "instruction": instruction,
        "target": target,
        "drop_reason": drop_reason,
        **extra,
    }


def candidates_dataset(records: list[dict[str, Any]], extra_features: dict | None = None) -> Dataset:
    """Candidate rows as a `Dataset` with explicit features (inference would fail on all-empty columns)."""
    features = Features({**CANDIDATE_FEATURES, **(extra_features or {})})
    return Dataset.from_list(records, features=features)


def conversation_row(*, images: list[str], instruction: str, row_id: str, task: str, target: str) -> dict[str, Any]:
    """One dataset row in `ROW_FEATURES` form; the answer the model learns is the target text itself."""
    return {
        "images": images,
        "prompt": [{"role": "user", "content": instruction}],
        "completion": [{"role": "assistant", "content": target}],
        "task": task,
        "id": row_id,
        "smiles": ".".join(images),
        "target": target,
    }
