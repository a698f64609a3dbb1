"""Defaults the commands show in `--help` and the library uses, in a module that imports nothing heavy.

`instructmol --help` and `instructmol <command> --help` read their defaults from here, so that they start in a
fraction of a second instead of loading torch, transformers and RDKit (tests/test_cli.py checks the imports).
"""

from dataclasses import dataclass

from .tasks import GRAPH_ONLY, QM9_OWN_QUESTIONS, TASKS

# The most heavy atoms a molecule of a built dataset or of the demo may have (every atom is one prompt token).
DEFAULT_MAX_ATOMS = 256

# The demo's model: $INSTRUCTMOL_MODEL, else what `instructmol quickstart` writes.
MODEL_ENVIRONMENT_VARIABLE = "INSTRUCTMOL_MODEL"
DEMO_MODEL = "instructmol-quickstart/merged"

# The WordPiece tokenizer of the description metrics (MolT5's and InstructMol's scripts use SciBERT's).
CAPTION_TOKENIZER = "allenai/scibert_scivocab_uncased"

# MoleculeSTM's pretrained GIN on the Hub: the graph encoder of `instructmol init --graph-encoder moleculestm`.
MOLECULESTM_REPO_ID = "chao1224/MoleculeSTM"
MOLECULESTM_GRAPH_CHECKPOINT = "demo/demo_checkpoints_Graph/molecule_model.pth"

QUICKSTART_TASK = TASKS["gap"]  # the quickstart's held-out task, in any of its variants
# What the quickstart asks its merged model at the end (and the README's example): one of the questions its QM9 rows
# were built with, about a molecule a reader knows, within the task's answer budget (`QUICKSTART_TASK.max_new_tokens`).
QUICKSTART_QUESTION = QM9_OWN_QUESTIONS[QUICKSTART_TASK.name][0]
QUICKSTART_MOLECULE = ("caffeine", "CN1C=NC2=C1C(=O)N(C(=O)N2C)C")


@dataclass
class QuickstartSettings:
    """Sizes of the run; the defaults are the README's figures, smaller ones make CI's short run."""

    num_molecules: int = 160  # NCI molecules for stage-1 alignment
    num_qm9: int = 6250  # QM9 molecules for the gap task (80/10/10: 5,000 to train on)
    llm_layers: int | None = 4  # keep SmolLM2's first N of 30 layers (None: all), so that it trains on a CPU
    max_steps: int | None = None  # cap on each stage's optimizer steps (None: one epoch each)
    eval_limit: int | None = None  # held-out rows to evaluate (None: the whole test split)
    seed: int = 42  # every draw: data sample, splits and prompts, GIN and projector init, LoRA init, data order
    variant: str = GRAPH_ONLY  # g: InstructMol-G; gs: InstructMol-GS; s: the LLM alone on the SELFIES string

    def __post_init__(self) -> None:
        if self.variant not in QUICKSTART_TASK.variants:
            raise ValueError(f"--variant must be one of {', '.join(QUICKSTART_TASK.variants)}, got {self.variant!r}")

    @property
    def gap_config(self) -> str:
        return QUICKSTART_TASK.config(self.variant)
