"""Dataset cards: YAML `configs` that `load_dataset` and the Hub read, then sources, licence, schema and counts."""

from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import DatasetCard, DatasetCardData

from ..citations import INSTRUCTMOL_CITATION
from ..tasks import TASKS
from .assembly import TaskBuild, counts_table, parquet_path
from .leakage import own_overlap_table
from .prompts import BuildOptions, construction_differences
from .schema import ROW_FEATURES, TEXT_ROW_FEATURES

_COLUMN_DESCRIPTIONS = {
    "images": "the molecules given to the model as graphs, as SMILES (the column TRL's multimodal collator reads)",
    "prompt": ('`[{"role": "user", "content": [blocks]}]`: one `{"type": "image"}` placeholder per molecule of '
               '`images` (TRL fills them in order) before or after a `{"type": "text", "text": instruction}` block; '
               "GS configs write the molecule string into the instruction"),
    "completion": '`[{"role": "assistant", "content": answer}]`',
    "task": "the task's name in the InstructMol task registry, so that mixtures of configs are evaluated per task",
    "id": "the row's id in the source (a CID, a QM9 index, a source row number)",
    "smiles": "the molecules of `images` joined by '.'",
    "target": "the answer as a string (a description, a number, Yes/No, a SELFIES or SMILES)",
}


@dataclass
class CardSpec:
    """What a builder says about its dataset; `write_card` adds configs, schema, counts and the build command."""

    pretty_name: str
    summary: str
    source: str
    license: str
    license_details: str
    split_protocol: str
    citations: list[str] = field(default_factory=list)
    notes: str = ""
    differences: list[str] = field(default_factory=list)  # what the source or builder always does differently


def _configs_yaml(builds: list[TaskBuild]) -> list[dict]:
    configs = []
    for build in builds:
        for config, splits in build.configs.items():
            configs.append(
                {
                    "config_name": config,
                    "data_files": [{"split": split, "path": parquet_path(config, split)} for split in splits],
                }
            )
    configs[0]["default"] = True
    return configs


def _configs_table(builds: list[TaskBuild]) -> str:
    splits = sorted({split for build in builds for config in build.configs.values() for split in config},
                    key=lambda split: ("train", "validation", "test").index(split))
    lines = ["| config | task | " + " | ".join(splits) + " |", "|" + "---|" * (len(splits) + 2)]
    for build in builds:
        for config, config_splits in build.configs.items():
            sizes = [str(config_splits[split].num_rows) if split in config_splits else "-" for split in splits]
            lines.append(f"| `{config}` | {', '.join(f'`{task}`' for task in build.tasks)} | " + " | ".join(sizes) + " |")
    return "\n".join(lines)


def _schema_section() -> str:
    columns = "\n".join(f"- `{name}`: {text}" for name, text in _COLUMN_DESCRIPTIONS.items())
    features = "\n".join(f"{name}: {feature!r}" for name, feature in ROW_FEATURES.items())
    text_features = "\n".join(f"{name}: {feature!r}" for name, feature in TEXT_ROW_FEATURES.items())
    return (f"{columns}\n\nFeatures (identical in every InstructMol dataset and `_g`/`_gs` config):\n\n```\n{features}\n```"
            "\n\nText-only `_s` configs (the molecule as its string only, for plain LLM baselines) have no `images` "
            "column and a plain-string user turn, as any LLM's chat template reads it:\n\n"
            f"```\n{text_features}\n```")


def _differences_section(spec: CardSpec, options: BuildOptions, builds: list[TaskBuild]) -> str:
    task_names = {task for build in builds for task in build.tasks}
    tasks = [task for name, task in TASKS.items() if name in task_names]
    differences = [*spec.differences, *construction_differences(options, tasks)]
    listed = "\n".join(f"- {difference}" for difference in differences) or (
        "None: every row is built as the released code built it.")
    return f"Split protocol: {spec.split_protocol}\n\n{listed}"


def _training_section(builds: list[TaskBuild]) -> str:
    """Which recipe of this repository's `recipes/` trains each task, for the paper's number of epochs."""
    names = list(dict.fromkeys(task for build in builds for task in build.tasks))
    lines = [f"- `{name}`: `trl sft --config recipes/{TASKS[name].recipe}` ({TASKS[name].epochs} epochs, "
             "the paper's)" for name in names]
    return "\n".join(lines)


def render_card(spec: CardSpec, builds: list[TaskBuild], command: str, repo_id: str | None,
                options: BuildOptions) -> str:
    """The README.md text of a dataset folder."""
    card_data = DatasetCardData(
        license=spec.license,
        pretty_name=spec.pretty_name,
        language=["en"],
        task_categories=["text-generation"],
        tags=["chemistry", "molecules", "instructmol", "multimodal"],
        configs=_configs_yaml(builds),
    )
    first_config = next(iter(builds[0].configs))
    citations = "\n\n".join([INSTRUCTMOL_CITATION, *spec.citations])
    notes = f"\n\n{spec.notes}" if spec.notes else ""
    return f"""---
{card_data.to_yaml()}
---

# {spec.pretty_name}

{spec.summary}

## Configs

{_configs_table(builds)}

```python
from datasets import load_dataset

dataset = load_dataset("{repo_id or 'path/to/this/folder'}", "{first_config}")
```

## Row schema

{_schema_section()}

## Source

{spec.source}{notes}

## Training

With the recipes of the InstructMol-HF repository (each names the dataset folder and model it reads; `--dataset_name`
and `--model_name_or_path` override them):

{_training_section(builds)}

## Differences from the released InstructMol code

Rows are built as the released InstructMol code (IDEA-XL/InstructMol, `llava/datasets/`) built them unless listed
here; each construction is defined once in the task registry (`instructmol/tasks.py`).

{_differences_section(spec, options, builds)}

## Train/test overlap

Test molecules (distinct InChIKeys of the rows' `smiles`) that the same task's train split also holds, by full
InChIKey and by its connectivity block (the same skeleton whatever the stereochemistry). `instructmol audit` measures
the same across any built datasets (e.g. this test split against another dataset's train split).

{own_overlap_table(builds)}

## How it was built

```
{command}
```

Every molecule was checked with the InstructMol processor's own featurizer
(`featurization_instructmol.MolecularGraphFeaturizer`); rows the model could not read, and rows with missing or
unusable values, were dropped and are counted here by reason:

{counts_table(builds)}

## Licence

{spec.license_details}

## Citation

```bibtex
{citations}
```
"""


def write_card(output_dir: Path, spec: CardSpec, builds: list[TaskBuild], command: str, options: BuildOptions,
               repo_id: str | None = None) -> Path:
    """Writes README.md (validated by huggingface_hub's card parser) into the dataset folder."""
    card = DatasetCard(render_card(spec, builds, command, repo_id, options))
    path = output_dir / "README.md"
    card.save(path)
    return path
