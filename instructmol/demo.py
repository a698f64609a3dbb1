"""The web demo: `instructmol demo --model DIR_OR_REPO` (and `app.py`, the same app for a Hugging Face Space).

A chemist enters a SMILES (or a reaction), sees it drawn by RDKit, runs a task preset of the task registry or chats
freely, and reads the answer as it streams; a batch tab answers a CSV or list of molecules. Presets build the user
turn exactly as the dataset builders build a test row (`instruction_text`, `graph_molecules`, the graph first), so
a model meets the prompts it was trained on. Bad input (an unreadable SMILES, an empty box, a molecule over the atom
limit, a model folder that is missing or not InstructMol) is a `DemoError`, shown next to the input it concerns (and
as a warning), and no output that held something good is cleared: the conversation and the question box stay.
Each user turn on the page names its molecule (SMILES and drawing); the model's side of a conversation (its turns,
graphs and molecule) is a `Conversation` held per browser session.

Everything but `build_app` is plain Python (no Gradio), so the pieces are usable and testable on their own.
"""

import csv
import hashlib
import logging
import tempfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from tqdm.auto import tqdm
from rdkit import Chem, rdBase
from rdkit.Chem import Draw, rdChemReactions

from featurization_instructmol import MolecularGraphFeaturizer
from processing_instructmol import flatten_content

from .data import BuildOptions, graph_molecules, instruction_text, user_content
from .data.molecules import translate_reaction_string
from .defaults import DEFAULT_MAX_ATOMS, QUICKSTART_MOLECULE
from .errors import one_line
from .engines import Decoding, PieceStream, TransformersEngine
from .evaluation.generation import batches, row_conversation
from .metrics.molecule_generation.scores import parse_molecule, to_smiles
from .metrics.property_regression.scores import parse_first_number
from .tasks import (
    FIRST_MOLECULE,
    GRAPH_AND_STRING,
    GRAPH_ONLY,
    MOLECULE_GENERATION,
    QM9_OWN_QUESTIONS,
    REACTANT_SIDE,
    TASKS,
    VARIANT_TITLES,
    Task,
)

logger = logging.getLogger(__name__)

EXAMPLE_MOLECULES = {
    QUICKSTART_MOLECULE[0]: QUICKSTART_MOLECULE[1],
    "aspirin": "CC(=O)Oc1ccccc1C(=O)O",
    "penicillin G": "CC1(C)S[C@@H]2[C@H](NC(=O)Cc3ccccc3)C(=O)N2[C@H]1C(=O)O",
    "ibuprofen": "CC(C)Cc1ccc(cc1)C(C)C(=O)O",
    "paracetamol": "CC(=O)Nc1ccc(O)cc1",
    "benzene": "c1ccccc1",
}
EXAMPLE_REACTIONS = {
    "Fischer esterification": "CCO.CC(=O)O>>CCOC(C)=O",
    "amide from an acyl chloride": "CC(=O)Cl.NCc1ccccc1>>CC(=O)NCc1ccccc1",
    "Williamson ether synthesis": "CC[O-].CBr>>CCOC",
}
# Single-label tasks a chemist asks about one molecule or one reaction (multi-label tasks ask per label and
# stage-1 alignment is not a question).
PRESETS = {task.title: task for task in TASKS.values() if task.labels is None and task.name != "alignment"}
VARIANTS = {VARIANT_TITLES[GRAPH_ONLY]: GRAPH_ONLY, VARIANT_TITLES[GRAPH_AND_STRING]: GRAPH_AND_STRING}
DEFAULT_PRESET = TASKS["description"]
DRAWING_SIZE = (360, 280)
TURN_DRAWING_SIZE = (200, 150)  # the small drawing that opens a conversation about a molecule
SHOWN_SMILES_CHARACTERS = 100  # a longer SMILES is shortened in a chat bubble (the drawing shows the whole molecule)
MAX_BATCH_DRAWINGS = 48
BATCH_RESULT_COLUMNS = ("answer", "unit", "problem")
# What one request of the public page may hold besides its atoms (`--max-atoms`): molecules in a box, and characters
# of a question (each becomes prompt tokens).
MAX_MOLECULES = 8
MAX_QUESTION_CHARACTERS = 2000


class DemoError(ValueError):
    """Input the demo cannot use, with a message for the page."""


class MoleculeReader:
    """Reads what a user typed: one molecule or a reaction, each molecule checked by the model's featurizer.

    Args:
        max_atoms: the most heavy atoms a molecule may have (each becomes a prompt token).
        featurizer: the model processor's (`image_processor`), whose cache then holds each graph for the answer;
            a featurizer of this package's when the model could not be loaded (the page still draws).
    """

    def __init__(self, max_atoms: int = DEFAULT_MAX_ATOMS, featurizer=None):
        self.max_atoms = max_atoms
        self.featurizer = featurizer or MolecularGraphFeaturizer(cache_size=1024)

    def molecule(self, smiles: str | None, what: str = "SMILES") -> str:
        """The stripped SMILES of one molecule the model can read.

        Raises:
            DemoError: an empty box, an unreadable SMILES, or too many atoms.
        """
        smiles = (smiles or "").strip()
        if not smiles:
            raise DemoError(f"Enter a {what} first.")
        try:
            self.featurizer.featurize(smiles, max_atoms=self.max_atoms)
        except ValueError as error:  # unreadable or too large; a checkpoint's featurizer has its own error classes
            raise DemoError(f"Cannot read the {what}: {one_line(error)}") from None
        return smiles

    def molecules(self, text: str | None, what: str) -> str:
        """A '.'-separated list of molecules, each checked, and bounded together: at most `MAX_MOLECULES` of them
        and `max_atoms` heavy atoms in all (a reaction side may become one graph, and every atom is a prompt token,
        so a public page bounds the whole request, not each molecule).

        Raises:
            DemoError: an empty box, a molecule it cannot read, or too many molecules or atoms together.
        """
        text = (text or "").strip()
        if not text:
            raise DemoError(f"Enter the {what} first.")
        parts = [part for part in text.split(".") if part]
        if len(parts) > MAX_MOLECULES:
            raise DemoError(f"Too many molecules in the {what}: {len(parts)}; a request may hold at most {MAX_MOLECULES}.")
        checked = [self.molecule(part, f"SMILES in the {what}") for part in parts]
        atoms = sum(self.featurizer.featurize(part).atom_features.shape[0] for part in checked)  # from its cache
        if atoms > self.max_atoms:
            raise DemoError(f"Too many heavy atoms in the {what}: {atoms} together; a request may hold at most "
                            f"{self.max_atoms}.")
        return ".".join(checked)

    def reaction(self, text: str | None) -> tuple[str, str]:
        """(reactants, product) of 'reactants>>product' (either side may be empty, not both)."""
        text = (text or "").strip()
        if ">>" not in text:
            raise DemoError("Write the reaction as reactants>>product, e.g. CCO.CC(=O)O>>CCOC(C)=O.")
        reactants, _, product = text.partition(">>")
        if ">>" in product:
            raise DemoError(f"The reaction {text[:80]!r} has more than one '>>'.")
        return (self.molecules(reactants, "reactants") if reactants.strip() else "",
                self.molecules(product, "product") if product.strip() else "")

    def task_input(self, task: Task, smiles: str | None, reaction: str | None) -> str:
        """The molecule input a task's row holds (as the builders write it, in SMILES): the molecule for
        single-molecule tasks; the reactants (forward), the product (retrosynthesis) or the whole reaction (reagent)
        from the reaction box, which may also hold only the side a task needs."""
        if task.metric != MOLECULE_GENERATION:
            return self.molecule(smiles)
        text = (reaction or "").strip()
        if task.graphs == REACTANT_SIDE:  # reagent prediction reads the whole reaction
            reactants, product = self.reaction(text)
            if not reactants or not product:
                raise DemoError("Reagent prediction needs both sides of the reaction: reactants>>product.")
            return f"{reactants}>>{product}"
        if ">>" not in text:
            return self.molecules(text, "reactants" if task.graphs == FIRST_MOLECULE else "product")
        reactants, product = self.reaction(text)
        side = reactants if task.graphs == FIRST_MOLECULE else product
        if not side:
            raise DemoError(f"{task.title} needs the {'reactants' if task.graphs == FIRST_MOLECULE else 'product'}.")
        return side


def subject_label(task: Task | None) -> str:
    """What a task's molecule input is, as the page names it: the molecule, the reactants (forward), the product
    (retrosynthesis) or the reaction (reagent prediction)."""
    if task is None or task.metric != MOLECULE_GENERATION:
        return "Molecule"
    if task.graphs == REACTANT_SIDE:
        return "Reaction"
    return "Reactants" if task.graphs == FIRST_MOLECULE else "Product"


def preset_row(task: Task, variant: str, molecule_input: str, options: BuildOptions | None = None) -> dict:
    """The row a builder would write for this input in a test split (graph first, the pool's or the record's
    instruction), as `{"prompt", "images"}`; `molecule_input` in SMILES."""
    options = options or BuildOptions()
    text = instruction_text(task, variant, options, row_id="demo", record_instruction=preset_question(task),
                            molecule_text=translate_reaction_string(molecule_input, "smiles", options.text_notation))
    graphs = graph_molecules(task, molecule_input, options)
    return {"prompt": [{"role": "user", "content": user_content(text, len(graphs), graph_after=False)}],
            "images": graphs}


def preset_budget(title: str) -> int:
    """The answer budget a preset sets: its task's (`Task.max_new_tokens`, what `instructmol evaluate` uses)."""
    return PRESETS[title].max_new_tokens


def preset_question(task: Task) -> str:
    """What a preset asks: for a task with a unit, the first of this project's questions naming it (the record
    wordings do not, and an answer's number means nothing without it); else the record's typical instruction, or
    the first of the task's instruction pool."""
    if task.unit:
        return next(question for question in QM9_OWN_QUESTIONS[task.name] if task.unit in question)
    if task.example_instruction:
        return task.example_instruction
    pool = next((prompt.pool for prompt in task.prompts.values() if prompt.pool), ())
    return pool[0] if pool else ""


def user_turn_text(row: dict) -> str:
    """A row's user turn as the model reads it, each graph as `<mol>`."""
    blocks = row["prompt"][0]["content"]
    return flatten_content(blocks)[0]


def message_text(message: dict) -> str:
    """The text of a chat message as Gradio holds it (a string, or a list of content parts)."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


@dataclass
class Conversation:
    """One conversation with the model, about one molecule input, as the model reads it.

    Attributes:
        subject: the molecule input the turns are about (SMILES; for reaction presets, a side or the reaction);
            "" before the first question.
        label: what `subject` is ("Molecule", "Reactants", "Product", "Reaction"; see `subject_label`).
        turns: the row-format turns so far (content blocks; an image block per graph in the first user turn).
        graphs: the SMILES of the graphs, in the order of the image blocks.
        messages: the page's chat messages (`gr.Chatbot` values): each user turn names its molecule, never `<mol>`.
    """

    subject: str = ""
    label: str = "Molecule"
    turns: list[dict] = field(default_factory=list)
    graphs: list[str] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)

    def start(self, subject: str, label: str, row: dict, drawing: dict | None) -> None:
        """A new conversation from a preset's row (or a first question), opened on the page by the molecule's
        `drawing` (a chat file message); the page marks the change when an earlier conversation is on it, and the
        model does not see the earlier turns."""
        if self.messages:
            self.messages.append({"role": "assistant", "content": "Earlier turns are not part of it.",
                                  "metadata": {"title": f"New conversation: {label.lower()} {short_smiles(subject)}"}})
        self.subject, self.label = subject, label
        self.turns, self.graphs = list(row["prompt"]), list(row["images"])
        if drawing is not None:
            self.messages.append({"role": "user", "content": drawing})
        self.messages.append({"role": "user", "content": shown_user_turn(label, subject, user_turn_text(row))})

    def follow_up(self, question: str) -> None:
        """A further question about the same molecule (the graph stays in the first turn, as in training)."""
        self.turns.append({"role": "user", "content": [{"type": "text", "text": question}]})
        self.messages.append({"role": "user", "content": shown_user_turn(self.label, self.subject, question)})

    def model_conversation(self) -> list[dict]:
        """The turns with their graphs filled in, as `generate` reads them (ending in the user's turn)."""
        return row_conversation({"prompt": self.turns, "images": self.graphs})

    def show_answer(self, shown: str) -> None:
        """The answer so far on the page (the last message, added with the first piece)."""
        if self.messages[-1]["role"] != "assistant" or self.messages[-1].get("metadata"):
            self.messages.append({"role": "assistant", "content": ""})
        self.messages[-1] = {"role": "assistant", "content": shown}

    def unanswered(self) -> None:
        """The last question got no answer (generation failed): the model's turns drop it (the page keeps it, with
        the warning); when it was the first, the next question starts a new conversation."""
        self.turns.pop()
        if not self.turns:
            self.subject = ""

    def answered(self, answer: str) -> None:
        """The model's answer joins its turns (as text; units and marks are the page's)."""
        self.turns.append({"role": "assistant", "content": [{"type": "text", "text": answer}]})


def short_smiles(smiles: str) -> str:
    """A SMILES as a chat bubble names it: in backticks, shortened past `SHOWN_SMILES_CHARACTERS`."""
    if len(smiles) <= SHOWN_SMILES_CHARACTERS:
        return f"`{smiles}`"
    return f"`{smiles[:SHOWN_SMILES_CHARACTERS]}…` ({len(smiles)} characters)"


def shown_user_turn(label: str, subject: str, text: str) -> str:
    """A user turn as the page shows it: its molecule named first, the question without the graph placeholders
    (a graph-and-string prompt keeps its SELFIES, the SMILES stands beside it)."""
    question = " ".join(text.replace("<mol>", " ").split())
    return f"**{label}:** {short_smiles(subject)}\n\n{question}"


def shown_answer(answer: str, task: Task | None, cut: bool, max_new_tokens: int) -> str:
    """An answer as the page shows it: a number of a task with a unit followed by the unit, and a mark when the
    token limit cut it."""
    shown = answer
    if task is not None and task.unit and parse_first_number(answer) is not None:
        shown = f"{answer} {task.unit}"
    if cut:
        shown += (f"\n\n*(cut at the limit of {max_new_tokens} new tokens: raise \"Max new tokens\" under Decoding for "
                  "a longer answer)*")
    return shown


def draw_molecule(smiles: str, atom_numbers: bool = False, size: tuple[int, int] = DRAWING_SIZE) -> Image.Image:
    """RDKit's 2D depiction of a molecule (several, if '.'-separated), its atoms numbered from 1 on request (as
    chemists count; RDKit's own indices start at 0)."""
    with rdBase.BlockLogs():
        molecule = Chem.MolFromSmiles(smiles)
    if molecule is None:
        raise DemoError(f"RDKit cannot draw {smiles[:80]!r}.")
    if atom_numbers:
        for atom in molecule.GetAtoms():
            atom.SetProp("atomNote", str(atom.GetIdx() + 1))
    return Draw.MolToImage(molecule, size=size)


def draw_reaction(reactants: str, product: str) -> Image.Image:
    """RDKit's depiction of 'reactants>>product'."""
    reaction = rdChemReactions.ReactionFromSmarts(f"{reactants}>>{product}", useSmiles=True)
    return Draw.ReactionToImage(reaction, subImgSize=(220, 180))


def draw_subject(subject: str, size: tuple[int, int] = TURN_DRAWING_SIZE) -> Image.Image:
    """A task's molecule input drawn: a reaction, or the molecule(s)."""
    if ">>" in subject:
        return draw_reaction(*subject.split(">>"))
    return draw_molecule(subject, size=size)


def answer_molecule(answer: str) -> tuple[Image.Image | None, str]:
    """A molecule answer (SELFIES as the reaction tasks answer, or SMILES) drawn, or a note saying it is not one."""
    text = answer.strip()
    if not text:
        return None, "The answer is empty."
    smiles = to_smiles(text, "selfies" if text.startswith("[") else "smiles")
    with rdBase.BlockLogs():
        molecule = parse_molecule(smiles)
    if molecule is None:
        return None, f"The answer {text[:80]!r} is not a valid molecule."
    return draw_molecule(Chem.MolToSmiles(molecule)), f"The answer as a molecule: `{Chem.MolToSmiles(molecule)}`"


class AnswerStream:
    """An answer as it is generated: iterating yields the answer so far (stripped); once it ends, `cut` says whether
    the token limit cut it. An engine's failure ends the iteration with a `DemoError`."""

    def __init__(self, pieces: Generator[str, None, bool]):
        self.pieces = PieceStream(pieces)

    @property
    def cut(self) -> bool:
        return self.pieces.cut

    def __iter__(self) -> Iterator[str]:
        answer = ""
        try:
            for piece in self.pieces:
                answer += piece
                yield answer.strip()
        except (ValueError, OSError, RuntimeError) as error:
            raise DemoError(f"Generation failed: {one_line(error)}") from None


class Assistant:
    """The model behind the demo, loaded once; a model that cannot be loaded leaves `problem` set, and every
    question is answered with it (the page keeps working for drawing).

    Args:
        model: an InstructMol folder, Hub repo, or stage-2 adapter folder.
        server: the URL of a vLLM server running `model` (`instructmol serve`): its language model answers there,
            and only the processor and prompt encoder load here.
    """

    def __init__(self, model: str, dtype: str = "auto", server: str | None = None):
        from .loading import load_model_and_processor, reads_molecules

        self.name = model
        self.engine = self.processor = None
        self.problem = ""
        try:
            if not reads_molecules(model):
                raise DemoError(f"{model} is a plain language model, not an InstructMol model: it cannot read "
                                "molecule graphs.")
            if server:
                from .serving import InstructMolClient

                self.engine = InstructMolClient(server, model)
            else:
                self.engine = TransformersEngine(*load_model_and_processor(model, dtype=dtype))
            self.processor = self.engine.processor
        except (ValueError, OSError) as error:
            self.problem = f"The model {model!r} could not be loaded: {one_line(error)}"
            logger.warning(self.problem)

    @property
    def status(self) -> str:
        return self.problem or f"Model: `{self.name}` ({self.engine.description})."

    def check_ready(self) -> None:
        if self.problem:
            raise DemoError(self.problem)

    def stream(self, conversation: list[dict], decoding: Decoding) -> AnswerStream:
        """The answer to `conversation` as it is generated."""
        self.check_ready()
        return AnswerStream(self.engine.stream(conversation, decoding))

    def prompt_text(self, conversation: list[dict]) -> str:
        """The prompt as the model reads it: the chat template applied, each graph at a `<mol>` (where its atoms'
        vectors enter), the assistant turn opened."""
        return self.processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)

    def answer_rows(self, rows: list[dict], decoding: Decoding, batch_size: int = 16) -> list[str]:
        """Batched answers to preset rows (the batch tab), with a progress bar."""
        self.check_ready()
        answers = []
        with tqdm(total=len(rows), desc="Answering", unit="molecule") as progress:
            for batch in batches(rows, batch_size):
                answers += self.engine.generate([row_conversation(row) for row in batch], decoding)
                progress.update(len(batch))
        return answers


@dataclass
class BatchInput:
    """The molecules of a batch with every column they came with.

    Attributes:
        columns: the input's column names (a CSV's header; "input" for a text file or the text box).
        rows: the input's rows, each as long as `columns`.
        input_column: the index of the column holding the molecules (a CSV's `smiles` column, else its first).
        source: where the molecules came from, in words, for the page.
    """

    columns: list[str]
    rows: list[list[str]]
    input_column: int
    source: str

    @property
    def molecules(self) -> list[str]:
        return [row[self.input_column].strip() for row in self.rows]


def read_batch_input(path: str | None, text: str | None) -> BatchInput:
    """The molecules of an uploaded file (a CSV with a `smiles` column, else its first column, every other column
    kept; or one per line) or, without a file, of the text box (one per line).

    Raises:
        DemoError: nothing given, an unreadable file, a CSV without rows, or a CSV column named as a result column.
    """
    if path:
        file = Path(path)
        unused = "; the text box was not used (a file is loaded)" if (text or "").strip() else ""
        try:
            content = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise DemoError(f"Cannot read the uploaded file {file.name}: {one_line(error)}") from None
        if file.suffix.lower() == ".csv":
            records = [record for record in csv.reader(content.splitlines()) if any(cell.strip() for cell in record)]
            if len(records) < 2:
                raise DemoError(f"The uploaded file {file.name} has no rows under its header.")
            columns = [cell.strip() for cell in records[0]]
            taken = [name for name in BATCH_RESULT_COLUMNS if name in columns]
            if taken:
                raise DemoError(f"The uploaded file {file.name} has a column named {taken[0]!r}, which the answers "
                                "would fill: rename it.")
            lowered = [name.lower() for name in columns]
            column = lowered.index("smiles") if "smiles" in lowered else 0
            rows = [(record + [""] * len(columns))[:len(columns)] for record in records[1:]]
            rows = [row for row in rows if row[column].strip()]
            source = f"the column {columns[column]!r} of {file.name}"
            return BatchInput(columns, rows, column, source + unused)
        values, source = content.splitlines(), f"the lines of {file.name}{unused}"
    else:
        values, source = (text or "").splitlines(), "the lines of the text box"
    rows = [[value.strip()] for value in values if value.strip()]
    if not rows:
        raise DemoError("Upload a CSV (with a smiles column) or a text file, or write one SMILES per line.")
    return BatchInput(["input"], rows, 0, source)


def answer_batch(assistant: Assistant, reader: MoleculeReader, task: Task, variant: str, molecules: list[str],
                 decoding: Decoding) -> list[dict]:
    """One result per input, in order: its answer and unit, or why it could not be asked (the others are still
    answered); `subject` is the molecule input the row asked about ("" when none)."""
    results: list[dict] = []
    rows = []
    for text in molecules:
        try:
            molecule_input = reader.task_input(task, text, text)
        except DemoError as error:
            results.append({"subject": "", "answer": "", "unit": "", "problem": str(error)})
            continue
        rows.append((len(results), preset_row(task, variant, molecule_input)))
        results.append({"subject": molecule_input, "answer": "", "unit": "", "problem": ""})
    if rows:
        for (index, _), answer in zip(rows, assistant.answer_rows([row for _, row in rows], decoding)):
            numeric = task.unit is not None and parse_first_number(answer) is not None
            results[index].update(answer=answer, unit=task.unit if numeric else "")
    return results


def batch_table(batch: BatchInput, results: list[dict]) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the results: every input column, then the answer, its unit and the problem."""
    header = [*batch.columns, *BATCH_RESULT_COLUMNS]
    return header, [[*row, *(result[name] for name in BATCH_RESULT_COLUMNS)] for row, result in
                    zip(batch.rows, results)]


def write_batch_csv(header: list[str], rows: list[list[str]], task: Task) -> Path:
    """The batch results as a CSV file to download."""
    folder = Path(tempfile.mkdtemp(prefix="instructmol-demo-"))
    path = folder / f"instructmol-{task.name}.csv"
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def batch_drawings(results: list[dict]) -> list[tuple[Image.Image, str]]:
    """The first `MAX_BATCH_DRAWINGS` asked inputs drawn, each captioned with its row number and answer."""
    drawings = []
    for number, result in enumerate(results, start=1):
        if result["subject"] and len(drawings) < MAX_BATCH_DRAWINGS:
            answer = f"{result['answer']} {result['unit']}".strip()
            drawings.append((draw_subject(result["subject"], DRAWING_SIZE), f"{number}. {answer[:120]}"))
    return drawings


def decoding_summary(decoding: Decoding) -> str:
    """The decoding settings in words."""
    if decoding.sample:
        how = f"sampling at temperature {decoding.temperature:g}" + (
            f" from seed {decoding.seed}" if decoding.seed is not None else "")
    else:
        how = "greedy"
    return f"{how}, at most {decoding.max_new_tokens} new tokens"


def decoding_of(strategy: str, temperature: float, max_new_tokens: float, seed: float | None) -> Decoding:
    """The page's Decoding settings; the seed counts for sampling (an empty seed box: not seeded)."""
    try:
        return Decoding(sample=strategy == "sampling", temperature=float(temperature),
                        max_new_tokens=int(max_new_tokens), seed=None if seed is None else int(seed))
    except ValueError as error:
        raise DemoError(f"Decoding: {one_line(error)}") from None


def input_description(task: Task, subject: str) -> str:
    """What a reaction preset reads (`subject`, from `MoleculeReader.task_input`, so that the note and the run agree),
    in words; "" for single-molecule tasks."""
    if task.metric != MOLECULE_GENERATION:
        return ""
    return f"{task.title} reads the {subject_label(task).lower()} {short_smiles(subject)}."


# Redraws wait until typing pauses: each keystroke's call waits 0.6 s in the browser and is dropped when another
# keystroke came meanwhile (Gradio awaits an event's `js` before calling Python), so a half-typed SMILES is never
# drawn or reported.
DRAW_AFTER_TYPING_PAUSES = """(...values) => new Promise((resolve) => {
    window.instructmolDrawTimer && clearTimeout(window.instructmolDrawTimer);
    window.instructmolDrawTimer = setTimeout(() => resolve(values), 600);
})"""


def build_app(model: str, max_atoms: int = DEFAULT_MAX_ATOMS, dtype: str = "auto", server: str | None = None):
    """The Gradio app (a `gr.Blocks`) around `model` (answering through the vLLM server at `server` when given); its
    events are also an API (`api_name`s: draw, preset, chat, batch, preset_budget, clear) that `gradio_client`
    drives. The conversation lives in the session (`gr.State`): `/chat` continues it, `/preset` and a change of
    molecule start a new one, `/clear` empties it."""
    import gradio as gr
    import pandas

    assistant = Assistant(model, dtype=dtype, server=server)
    reader = MoleculeReader(max_atoms, getattr(assistant.processor, "image_processor", None))

    drawings = Path(tempfile.mkdtemp(prefix="instructmol-demo-drawings-"))

    def turn_drawing(subject: str) -> dict:
        """The small drawing that opens a conversation, as a chat message's file."""
        path = drawings / f"{hashlib.sha256(subject.encode()).hexdigest()[:16]}.png"
        if not path.exists():
            draw_subject(subject).save(path)
        return {"path": str(path), "alt_text": f"{subject[:SHOWN_SMILES_CHARACTERS]} drawn"}

    def warned(error: DemoError) -> str:
        """A problem as a warning (it fades) and as the text of the note next to its input (it stays)."""
        gr.Warning(str(error))
        return f"⚠️ {error}"

    def draw(smiles: str, reaction: str, atom_numbers: bool, preset: str):
        images, notes = [None, None], []
        if (smiles or "").strip():
            try:
                images[0] = draw_molecule(reader.molecule(smiles), atom_numbers)
            except DemoError as error:
                notes.append(f"⚠️ {error}")
        task = PRESETS[preset]
        if task.metric == MOLECULE_GENERATION and (reaction or "").strip():
            try:
                subject = reader.task_input(task, smiles, reaction)
                images[1] = draw_subject(subject, DRAWING_SIZE)
                notes.append(input_description(task, subject))
            except DemoError as error:
                notes.append(f"⚠️ {error}")
        return images[0], images[1], "\n\n".join(notes)

    def show_preset(preset: str):
        """The reaction inputs, their drawing and the answer's drawing show only for the reaction tasks."""
        reaction_task = PRESETS[preset].metric == MOLECULE_GENERATION
        return (gr.update(visible=reaction_task),) * 3

    def run_preset(preset: str, variant: str, smiles: str, reaction: str, strategy: str, temperature: float,
                   max_new_tokens: float, seed: float | None, conversation: Conversation):
        """Outputs: chatbot, conversation, answer drawing, answer note, input note, prompt."""
        task = PRESETS[preset]
        try:
            assistant.check_ready()
            decoding = decoding_of(strategy, temperature, max_new_tokens, seed)
            subject = reader.task_input(task, smiles, reaction)
        except DemoError as error:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), warned(error), gr.skip()
            return
        conversation.start(subject, subject_label(task), preset_row(task, VARIANTS[variant], subject),
                           turn_drawing(subject))
        for messages, state, problem, prompt, answer in streamed(conversation, task, decoding):
            drawn = answer_molecule(answer) if answer is not None and task.metric == MOLECULE_GENERATION else (None, "")
            yield messages, state, *drawn, problem or input_description(task, subject), prompt

    def streamed(conversation: Conversation, task: Task | None, decoding: Decoding):
        """Streams the answer into the conversation: (messages, conversation, problem, prompt, answer) per update,
        `answer` None until the whole answer is in (then the conversation holds it, with its unit and any cut
        mark); a failure is a problem (a warning) and leaves the conversation as it is on the page."""
        model_conversation = conversation.model_conversation()
        prompt = assistant.prompt_text(model_conversation)
        stream = assistant.stream(model_conversation, decoding)
        text = ""
        try:
            for text in stream:
                conversation.show_answer(text)
                yield conversation.messages, conversation, "", prompt, None
        except DemoError as error:
            conversation.unanswered()
            yield conversation.messages, conversation, warned(error), prompt, None
            return
        conversation.show_answer(shown_answer(text, task, stream.cut, decoding.max_new_tokens))
        conversation.answered(text)
        yield conversation.messages, conversation, "", prompt, text

    def chat(question: str, smiles: str, strategy: str, temperature: float, max_new_tokens: float,
             seed: float | None, conversation: Conversation):
        """Outputs: chatbot, conversation, question box, question note, input note, prompt."""
        question = (question or "").strip()
        try:
            assistant.check_ready()
            if not question:
                raise DemoError("Write a question first.")
            if len(question) > MAX_QUESTION_CHARACTERS:
                raise DemoError(f"The question has {len(question)} characters; a request may hold at most "
                                f"{MAX_QUESTION_CHARACTERS}.")
            decoding = decoding_of(strategy, temperature, max_new_tokens, seed)
        except DemoError as error:
            yield gr.skip(), gr.skip(), gr.skip(), warned(error), gr.skip(), gr.skip()
            return
        try:
            molecule = reader.molecule(smiles)
        except DemoError as error:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), warned(error), gr.skip()
            return
        if conversation.subject == molecule and conversation.label == subject_label(None):
            conversation.follow_up(question)
        else:
            row = {"prompt": [{"role": "user", "content": user_content(question, 1, graph_after=False)}],
                   "images": [molecule]}
            conversation.start(molecule, subject_label(None), row, turn_drawing(molecule))
        for messages, state, problem, prompt, _ in streamed(conversation, None, decoding):
            yield messages, state, "", problem, "", prompt

    def run_batch(upload: str | None, text: str, preset: str, variant: str, strategy: str, temperature: float,
                  max_new_tokens: float, seed: float | None, progress=gr.Progress(track_tqdm=True)):
        task = PRESETS[preset]
        try:
            assistant.check_ready()
            decoding = decoding_of(strategy, temperature, max_new_tokens, seed)
            batch = read_batch_input(upload, text)
            results = answer_batch(assistant, reader, task, VARIANTS[variant], batch.molecules, decoding)
        except DemoError as error:
            return gr.skip(), gr.skip(), gr.skip(), warned(error)
        header, rows = batch_table(batch, results)
        problems = sum(bool(result["problem"]) for result in results)
        summary = (f"Answered {len(results) - problems} of {len(results)} molecules from {batch.source}"
                   f"{f' ({problems} could not be asked: see the problem column)' if problems else ''}. "
                   f"Task: {task.title}, {variant} prompts; decoding: {decoding_summary(decoding)}.")
        table = pandas.DataFrame(rows, columns=header)
        return table, str(write_batch_csv(header, rows, task)), batch_drawings(results), summary

    def clear():
        return [], Conversation(), None, "", "", ""

    with gr.Blocks(title="InstructMol") as app:
        conversation = gr.State(Conversation())
        gr.Markdown("# InstructMol\nA molecular assistant: a graph encoder reads the molecule, an LLM answers. "
                    "Enter a SMILES (or a reaction for the reaction tasks), run a task or ask freely.")
        gr.Markdown(assistant.status, elem_id="model-status")
        with gr.Accordion("Decoding (both tabs)", open=False, elem_id="decoding"):
            with gr.Row():
                strategy = gr.Radio(["greedy", "sampling"], value="greedy", label="Decoding", min_width=200)
                temperature = gr.Slider(0.05, 1.5, value=0.2, step=0.05, label="Temperature (sampling)",
                                        min_width=200)
                seed = gr.Number(value=0, precision=0, label="Seed (sampling; empty: unseeded)", min_width=160)
                max_new_tokens = gr.Slider(1, 512, value=DEFAULT_PRESET.max_new_tokens, step=1, min_width=200,
                                           label="Max new tokens (a task sets its budget)")
        decoding_inputs = [strategy, temperature, max_new_tokens, seed]
        with gr.Tab("Ask"):
            with gr.Row():
                with gr.Column(min_width=300):
                    smiles = gr.Textbox(label="SMILES (Enter runs the task)", value=QUICKSTART_MOLECULE[1],
                                        elem_id="smiles")
                    gr.Examples([[value] for value in EXAMPLE_MOLECULES.values()], inputs=[smiles],
                                example_labels=list(EXAMPLE_MOLECULES), label="Example molecules")
                    atom_numbers = gr.Checkbox(label="Number the atoms (from 1)", value=False)
                with gr.Column(min_width=300):
                    molecule_image = gr.Image(label="Molecule", type="pil", elem_id="molecule-drawing", height=280)
            reaction_task = DEFAULT_PRESET.metric == MOLECULE_GENERATION
            with gr.Row(visible=reaction_task) as reaction_inputs:
                with gr.Column(min_width=300):
                    reaction = gr.Textbox(label="Reaction: reactants>>product, or the side the task reads",
                                          elem_id="reaction")
                    gr.Examples([[value] for value in EXAMPLE_REACTIONS.values()], inputs=[reaction],
                                example_labels=list(EXAMPLE_REACTIONS), label="Example reactions")
                with gr.Column(min_width=300):
                    reaction_image = gr.Image(label="Reaction input", type="pil", height=220,
                                              elem_id="reaction-drawing")
            input_note = gr.Markdown(elem_id="input-note")
            with gr.Row():
                preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET.title, label="Task preset",
                                     elem_id="preset", scale=2, min_width=300)
                variant = gr.Radio(list(VARIANTS), value=VARIANT_TITLES[GRAPH_ONLY], min_width=220,
                                   label="Prompt (as the model was trained)")
                run = gr.Button("Run task", variant="primary", elem_id="run-preset", min_width=120)
            # One row per message: a drawing, a question and the mark of a new conversation each stand apart.
            chatbot = gr.Chatbot(label="Conversation", elem_id="conversation", height=460,
                                 group_consecutive_messages=False)
            with gr.Row():
                question = gr.Textbox(label="Ask anything about the molecule", scale=4, min_width=240,
                                      elem_id="question")
                send = gr.Button("Send", scale=1, min_width=80, elem_id="send")
                clear_button = gr.Button("New conversation", scale=1, min_width=80)
            question_note = gr.Markdown(elem_id="question-note")
            with gr.Row():
                answer_image = gr.Image(label="Answer as a molecule", type="pil", min_width=240, visible=reaction_task)
                answer_note = gr.Markdown()
            with gr.Accordion("Prompt as the model reads it (chat template applied)", open=False):
                prompt_box = gr.Textbox(show_label=False, lines=6, interactive=False, elem_id="prompt")
        with gr.Tab("Batch"):
            upload = gr.File(label="CSV with a smiles column (other columns are kept) or a text file (one SMILES or "
                             "reaction per line)", file_types=[".csv", ".txt", ".smi"], type="filepath",
                             elem_id="batch-upload")
            batch_text = gr.Textbox(label="...or, without a file, one SMILES (or reaction) per line", lines=5)
            with gr.Row():
                batch_preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET.title, label="Task", min_width=300,
                                           elem_id="batch-preset")
                batch_variant = gr.Radio(list(VARIANTS), value=VARIANT_TITLES[GRAPH_ONLY], label="Prompt",
                                         min_width=220)
                batch_run = gr.Button("Answer all", variant="primary", min_width=120, elem_id="batch-run")
            gr.Markdown("Decoding follows the settings under *Decoding* at the top of the page (a task sets its "
                        "token budget).")
            batch_note = gr.Markdown(elem_id="batch-note")
            batch_table_view = gr.Dataframe(label="Answers", interactive=False, wrap=True, elem_id="batch-table")
            batch_file = gr.File(label="Download as CSV")
            with gr.Accordion(f"Drawings of the molecules asked about (the first {MAX_BATCH_DRAWINGS})", open=False):
                batch_gallery = gr.Gallery(show_label=False, columns=6, height=360, object_fit="contain")

        drawing_inputs = [smiles, reaction, atom_numbers, preset]
        drawing_outputs = [molecule_image, reaction_image, input_note]
        app.load(draw, drawing_inputs, drawing_outputs, api_name="draw")
        for trigger in (smiles.change, reaction.change):
            trigger(draw, drawing_inputs, drawing_outputs, js=DRAW_AFTER_TYPING_PAUSES, trigger_mode="always_last",
                    show_progress="hidden", api_visibility="private")
        for trigger in (atom_numbers.change, preset.change):
            trigger(draw, drawing_inputs, drawing_outputs, show_progress="hidden", api_visibility="private")
        preset.change(show_preset, preset, [reaction_inputs, reaction_image, answer_image], api_visibility="private")
        preset.change(preset_budget, preset, max_new_tokens, api_name="preset_budget")
        batch_preset.change(preset_budget, batch_preset, max_new_tokens, api_visibility="private")
        preset_inputs = [preset, variant, smiles, reaction, *decoding_inputs, conversation]
        preset_outputs = [chatbot, conversation, answer_image, answer_note, input_note, prompt_box]
        run.click(run_preset, preset_inputs, preset_outputs, api_name="preset")
        smiles.submit(run_preset, preset_inputs, preset_outputs, api_visibility="private")
        chat_inputs = [question, smiles, *decoding_inputs, conversation]
        chat_outputs = [chatbot, conversation, question, question_note, input_note, prompt_box]
        send.click(chat, chat_inputs, chat_outputs, api_name="chat")
        question.submit(chat, chat_inputs, chat_outputs, api_visibility="private")
        clear_button.click(clear, None, [chatbot, conversation, answer_image, answer_note, question_note, prompt_box],
                           api_name="clear")
        batch_run.click(run_batch, [upload, batch_text, batch_preset, batch_variant, *decoding_inputs],
                        [batch_table_view, batch_file, batch_gallery, batch_note], api_name="batch")
    return app
