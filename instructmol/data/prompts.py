"""How a row's user turn is assembled from the task registry (`instructmol.tasks`) and the build's options.

Every choice is a hash of (seed, purpose, row id): it does not depend on row order, worker process or Python
version, so a build is byte-identical whatever `--num-proc` is. The released code drew the instruction and the
graph's place afresh per row and epoch; a built dataset fixes one draw per row (the card says so).
"""

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from ..tasks import (
    DESCRIPTION_POOL,
    GRAPHLESS_VARIANTS,
    FIRST_MOLECULE,
    FROM_POOL,
    FROM_RECORD,
    NO_INSTRUCTION,
    REACTANT_SIDE,
    WHOLE_INPUT,
    Prompt,
    Task,
)

NOTATION_NAMES = {"selfies": "SELFIES", "smiles": "SMILES"}
TRAIN_SPLIT = "train"

# Build options; the first value of each is the released code's construction.
GRAPH_PLACEMENTS = ("released", "first")
REACTION_GRAPHS = ("released", "every-molecule")
ALIGNMENT_PROMPTS = ("plain", "question")
TEXT_NOTATIONS = ("selfies", "smiles")


@dataclass(frozen=True)
class BuildOptions:
    """The construction choices of a build.

    Attributes:
        seed: seed of every per-row draw (instruction, graph placement) and of random splits.
        text_notation: how molecules written as text appear in prompts ('selfies', as released, or 'smiles').
        graph_placement: 'released': in train splits the graph goes before or after the instruction, 50/50 per
            row; validation and test put it first. 'first': always first.
        reaction_graphs: 'released': forward prediction's graph is the first reactant, reagent prediction's the
            reactant side as one graph. 'every-molecule': each molecule of those becomes a graph of its own.
        alignment_prompt: 'plain': stage-1 rows are the graph alone, as released. 'question': a description
            question from the ChEBI-20 pool follows the graph.
    """

    seed: int = 42
    text_notation: str = "selfies"
    graph_placement: str = "released"
    reaction_graphs: str = "released"
    alignment_prompt: str = "plain"

    def __post_init__(self) -> None:
        for name, allowed in (("text_notation", TEXT_NOTATIONS), ("graph_placement", GRAPH_PLACEMENTS),
                              ("reaction_graphs", REACTION_GRAPHS), ("alignment_prompt", ALIGNMENT_PROMPTS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")

    def prompt(self, task: Task, variant: str) -> Prompt:
        """The prompt recipe of a task's variant under these options."""
        prompt = task.prompts[variant]
        if task.name == "alignment" and self.alignment_prompt == "question":
            return Prompt(FROM_POOL, DESCRIPTION_POOL)
        return prompt


def seeded_fraction(seed: int, purpose: str, row_id: str) -> float:
    """A number in [0, 1) fixed by (seed, purpose, row id)."""
    digest = hashlib.sha256(f"{seed}\x00{purpose}\x00{row_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def pick_instruction(pool: Sequence[str], seed: int, row_id: str) -> str:
    """The pool entry for a row (the same for every variant of the row)."""
    return pool[int(seeded_fraction(seed, "instruction", row_id) * len(pool))]


def graph_goes_after(options: BuildOptions, split: str, row_id: str) -> bool:
    """Whether the row's graphs follow its instruction: half of the train rows, as released; never elsewhere."""
    if options.graph_placement == "first" or split != TRAIN_SPLIT:
        return False
    return seeded_fraction(options.seed, "graph placement", row_id) >= 0.5


def graph_molecules(task: Task, molecule_input: str, options: BuildOptions) -> list[str]:
    """The molecules of a row's input (a molecule, 'a.b', or 'a.b>>c') that become graphs, in the input's notation.

    Raises:
        ValueError: a reaction task's input has no '>>'.
    """
    region = molecule_input
    if task.graphs == REACTANT_SIDE:
        if ">>" not in molecule_input:
            raise ValueError("input is not a reaction (no '>>')")
        region = molecule_input.split(">>")[0]
    parts = [part for part in region.split(".") if part]
    if options.reaction_graphs == "every-molecule" and task.graphs != WHOLE_INPUT:
        return parts
    if task.graphs == FIRST_MOLECULE:
        return parts[:1]
    return [region] if parts else []


def instruction_text(
    task: Task,
    variant: str,
    options: BuildOptions,
    *,
    row_id: str,
    record_instruction: str,
    molecule_text: str,
) -> str:
    """The text of a row's user turn (without the graph placeholders), as the released code wrote it.

    Args:
        record_instruction: the source record's own instruction ('' when it has none).
        molecule_text: the row's input in `options.text_notation` (a molecule, 'a.b' or 'a.b>>c').
    """
    prompt = options.prompt(task, variant)
    if prompt.instruction == FROM_POOL:
        text = pick_instruction(prompt.pool, options.seed, row_id)
    elif prompt.instruction == FROM_RECORD:
        text = record_instruction
    elif prompt.instruction == NO_INSTRUCTION:
        text = ""
    else:
        raise ValueError(f"task {task.name!r}: unknown instruction source {prompt.instruction!r}")
    if prompt.suffix and "{molecule}" in prompt.suffix and not molecule_text:
        raise ValueError(f"row {row_id!r}: the {task.name}_{variant} prompt writes the molecule as text, and the row "
                         "has none (the builder must check its molecules with needs_text=True)")
    fields = suffix_fields(task, molecule_text, options)
    if prompt.suffix and (prompt.suffix_needs is None or fields[prompt.suffix_needs]):
        text += prompt.suffix.format(**fields)
    return text


def suffix_fields(task: Task, molecule_text: str, options: BuildOptions) -> dict[str, str]:
    """The values a prompt suffix may name (see `instructmol.tasks.Prompt`)."""
    reactants, _, product = molecule_text.partition(">>")
    molecules_as_text = [part for part in reactants.split(".") if part]
    graphs_taken = len(graph_molecules(task, molecule_text, options)) if task.graphs == FIRST_MOLECULE else 0
    return {
        "molecule": molecule_text,
        "product": product,
        "other_reactants": ",".join(molecules_as_text[graphs_taken:]) if graphs_taken else "",
        "notation": NOTATION_NAMES[options.text_notation],
    }


def user_content(text: str, num_graphs: int, graph_after: bool) -> list[dict]:
    """The user turn as content blocks: one image placeholder per graph (TRL fills them from `images`) before or
    after the text; an empty text adds no block (the released stage-1 turn is the graph alone)."""
    graphs = [{"type": "image", "text": None} for _ in range(num_graphs)]
    text_blocks = [{"type": "text", "text": text}] if text else []
    return [*text_blocks, *graphs] if graph_after else [*graphs, *text_blocks]


def construction_differences(options: BuildOptions, tasks: list[Task]) -> list[str]:
    """How rows built with `options` for `tasks` differ from the released code's, each with the option that
    restores the released construction (for the dataset card)."""
    prompts = [options.prompt(task, variant) for task in tasks for variant in task.variants]
    differences = []
    if any(prompt.instruction == FROM_POOL for prompt in prompts) or options.graph_placement == "released":
        differences.append(
            f"Each row's instruction and the place of its graph are drawn once, when the dataset is built (seed "
            f"{options.seed}); the released code drew them afresh for every row in every epoch. A built dataset is "
            "fixed by design; rebuild with another `--seed` for another draw."
        )
    if any(variant in GRAPHLESS_VARIANTS for task in tasks for variant in task.variants):
        differences.append(
            "The text-only `_s` configs are this project's: the paper's LoRA-tuned LLM baselines were trained on data "
            "it did not release. Their rows are the GS rows without the graph (the molecule as its string only)."
        )
    if options.graph_placement == "first":
        differences.append(
            "Every row puts its graph before the instruction (`--graph-placement first`); the released code put it "
            "after the instruction in half of the training rows. `--graph-placement released` restores that."
        )
    if options.text_notation == "smiles" and any(prompt.suffix for prompt in prompts):
        differences.append(
            "Molecules written as text in prompts are SMILES (`--text-notation smiles`); the released code wrote "
            "SELFIES. `--text-notation selfies` restores that."
        )
    if options.reaction_graphs == "every-molecule" and any(task.graphs != WHOLE_INPUT for task in tasks):
        differences.append(
            "Every reactant is a graph of its own (`--reaction-graphs every-molecule`); the released code gave forward "
            "prediction only the first reactant as a graph (the others as text) and reagent prediction the reactant "
            "side as one graph. `--reaction-graphs released` restores that."
        )
    if any(options.prompt(task, variant) != task.prompts[variant] for task in tasks for variant in task.variants):
        differences.append(
            "Stage-1 rows ask a description question after the graph (`--alignment-prompt question`); the released "
            "code's stage 1 (`plain` template) gave the graph alone. `--alignment-prompt plain` restores that."
        )
    return differences
