"""Tiny Hub-native evaluation datasets of every task type, written by the tests that evaluate (in-process and
through a vLLM server)."""

from pathlib import Path

from datasets import Dataset

from instructmol.data import ROW_FEATURES, conversation_row, parquet_path, smiles_to_selfies
from tiny_models import WORDS

MOLECULES = ["CCO", "c1ccccc1O", "CC(=O)O", "CCN", "CC(C)=O", "OCC(O)CO", "c1ccncc1", "CCOC(C)=O"]
DESCRIPTIONS = ["The molecule is an alcohol.", "The molecule is a phenol.", "The molecule is a carboxylic acid.",
                "The molecule is an amine.", "The molecule is a ketone.", "The molecule is a triol."]
REACTIONS = [(["CCO", "CC(=O)O"], "CCOC(C)=O"), (["CO", "CC(=O)Cl"], "COC(C)=O"), (["NCC", "CC(=O)Cl"], "CCNC(C)=O"),
             (["c1ccccc1O", "CC(=O)Cl"], "CC(=O)Oc1ccccc1")]
QM9_QUESTIONS = {"homo": "what is the homo energy?", "lumo": "what is the lumo energy?",
                 "gap": "what is the homo lumo gap?"}


def qm9_rows(molecules: list[str], offset: int) -> list[dict]:
    """Each molecule asked for every property under one id, as QM9's `all` configs do."""
    return [conversation_row(images=[smiles], instruction=question, row_id=f"m{offset + index}", task=task,
                             target=f"{-0.25 + 0.01 * index + 0.1 * position:.4f}")
            for index, smiles in enumerate(molecules)
            for position, (task, question) in enumerate(QM9_QUESTIONS.items())]


CONFIGS = {
    "description": {"test": [conversation_row(images=[smiles], instruction="describe this molecule", row_id=f"d{i}",
                                              task="description", target=description)
                             for i, (smiles, description) in enumerate(zip(MOLECULES, DESCRIPTIONS))]},
    "qm9": {"train": qm9_rows(MOLECULES[4:], 100), "test": qm9_rows(MOLECULES[:3], 0)},
    "bace": {"test": [conversation_row(images=[smiles], instruction="can this molecule inhibit bace? answer yes or no.",
                                       row_id=f"b{i}", task="bace", target="Yes" if i % 2 else "No")
                      for i, smiles in enumerate(MOLECULES)]},
    "forward": {"test": [conversation_row(images=reactants, instruction="predict the reaction product", row_id=f"r{i}",
                                          task="forward", target=smiles_to_selfies(product))
                         for i, (reactants, product) in enumerate(REACTIONS)]},
    "mystery": {"test": [conversation_row(images=["CCO"], instruction="what is the dipole?", row_id="x0",
                                          task="dipole", target="1.0")]},
    "maybe": {"test": [conversation_row(images=["CCO"], instruction="is it active?", row_id="y0",
                                        task="hiv", target="Maybe")]},
}
CONFIGS["mixture"] = {  # every task type in one config, as a stage-2 mixture
    "train": CONFIGS["qm9"]["train"],
    "test": [row for config in ("description", "qm9", "bace", "forward") for row in CONFIGS[config]["test"]],
}
COLUMNLESS_CONFIG = "no_prompts"
LEGACY_CONFIG = "legacy"  # a dataset built before the task registry: string prompts, old task names
LEGACY_ROW = {"images": ["CCO"], "prompt": [{"role": "user", "content": "What is the gap?"}],
              "completion": [{"role": "assistant", "content": "0.25"}], "task": "qm9_gap", "id": "0", "smiles": "CCO",
              "target": "0.25"}


def write_dataset(folder: Path) -> Path:
    """A Hub-native dataset folder: `data/<config>/<split>-00000-of-00001.parquet` plus a card listing the configs."""
    card = ["---", "configs:"]
    for config, splits in {**CONFIGS, COLUMNLESS_CONFIG: {"test": None}, LEGACY_CONFIG: {"test": [LEGACY_ROW]}}.items():
        card += [f"- config_name: {config}", "  data_files:"]
        for split, rows in splits.items():
            path = folder / parquet_path(config, split)
            path.parent.mkdir(parents=True, exist_ok=True)
            if rows is None:  # a dataset that is not an InstructMol dataset
                Dataset.from_list([{"smiles": "CCO", "label": 1}]).to_parquet(path)
            elif config == LEGACY_CONFIG:
                Dataset.from_list(rows).to_parquet(path)
            else:
                Dataset.from_list(rows, features=ROW_FEATURES).to_parquet(path)
            card += [f"  - split: {split}", f"    path: {parquet_path(config, split)}"]
    (folder / "README.md").write_text("\n".join([*card, "---", "", "# Tiny evaluation data", ""]))
    return folder


def write_vocabulary(path: Path) -> Path:
    """A WordPiece vocabulary for the description metrics (no Hub): the tiny LLM's words plus the targets'."""
    words = {word.strip(".").lower() for text in DESCRIPTIONS for word in text.split()} | set(WORDS)
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", *sorted(words)]) + "\n")
    return path
