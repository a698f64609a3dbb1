"""The web demo: `instructmol demo --model DIR_OR_REPO` (and `app.py`, the same app for a Hugging Face Space).

A chemist enters a SMILES (or a reaction), sees it drawn by RDKit, runs a task preset of the task registry or chats
freely, and reads the answer as it streams; a batch tab answers a CSV or list of molecules. Presets build the user
turn exactly as the dataset builders build a test row (`instruction_text`, `graph_molecules`, the graph first), so
a model meets the prompts it was trained on. Bad input (an unreadable SMILES, an empty box, a molecule over the atom
limit, a model folder that is missing or not InstructMol) is reported in the page as a `DemoError` message, and the
app keeps serving.

Everything but `build_app` is plain Python (no Gradio), so the pieces are usable and testable on their own.
"""

import csv
import logging
import tempfile
from collections.abc import Iterator
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
from .engines import Decoding, TransformersEngine
from .evaluation.generation import batches, row_conversation
from .metrics.molecule_generation.scores import parse_molecule, to_smiles
from .tasks import (
    FIRST_MOLECULE,
    GRAPH_AND_STRING,
    GRAPH_ONLY,
    MOLECULE_GENERATION,
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
    """What a preset asks: the record's typical instruction, or the first of the task's instruction pool."""
    if task.example_instruction:
        return task.example_instruction
    pool = next((prompt.pool for prompt in task.prompts.values() if prompt.pool), ())
    return pool[0] if pool else ""


def user_turn_text(row: dict) -> str:
    """A row's user turn as the page shows it, each graph as `<mol>`."""
    blocks = row["prompt"][0]["content"]
    return flatten_content(blocks)[0]


def chat_conversation(history: list[dict], question: str, smiles: str) -> list[dict]:
    """A free chat as the model reads it: the molecule's graph opens the first user turn (as in training), the
    earlier turns as text."""
    # Every turn as content blocks (TRL's filler would add placeholders to a later plain-string turn); a preset's
    # turn shows its graphs as `<mol>`, which the one placeholder of the first turn stands for.
    texts = [(message["role"], message_text(message).replace("<mol>", "").strip()) for message in history]
    texts.append(("user", question))
    turns = [{"role": role, "content": [{"type": "text", "text": text}]} for role, text in texts]
    turns[0]["content"].insert(0, {"type": "image"})
    return row_conversation({"prompt": turns, "images": [smiles]})


def message_text(message: dict) -> str:
    """The text of a chat message as Gradio holds it (a string, or a list of content parts)."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def draw_molecule(smiles: str, atom_indices: bool = False) -> Image.Image:
    """RDKit's 2D depiction of a molecule (several, if '.'-separated), atoms numbered on request."""
    with rdBase.BlockLogs():
        molecule = Chem.MolFromSmiles(smiles)
    if molecule is None:
        raise DemoError(f"RDKit cannot draw {smiles[:80]!r}.")
    options = Draw.MolDrawOptions()
    options.addAtomIndices = atom_indices
    return Draw.MolToImage(molecule, size=DRAWING_SIZE, options=options)


def draw_reaction(reactants: str, product: str) -> Image.Image:
    """RDKit's depiction of 'reactants>>product'."""
    reaction = rdChemReactions.ReactionFromSmarts(f"{reactants}>>{product}", useSmiles=True)
    return Draw.ReactionToImage(reaction, subImgSize=(220, 180))


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

    def stream(self, conversation: list[dict], decoding: Decoding) -> Iterator[str]:
        """Yields the answer so far, piece by piece; a failure ends the stream with a DemoError."""
        self.check_ready()
        answer = ""
        try:
            for piece in self.engine.stream(conversation, decoding):
                answer += piece
                yield answer.strip()
        except (ValueError, OSError, RuntimeError) as error:
            raise DemoError(f"Generation failed: {one_line(error)}") from None

    def answer_rows(self, rows: list[dict], decoding: Decoding, batch_size: int = 16) -> list[str]:
        """Batched answers to preset rows (the batch tab), with a progress bar."""
        self.check_ready()
        answers = []
        with tqdm(total=len(rows), desc="Answering", unit="molecule") as progress:
            for batch in batches(rows, batch_size):
                answers += self.engine.generate([row_conversation(row) for row in batch], decoding)
                progress.update(len(batch))
        return answers


def read_batch_molecules(path: str | None, text: str | None) -> list[str]:
    """The molecules of an uploaded file (a CSV with a `smiles` column, else its first column; or one per line) or
    of the text box (one per line).

    Raises:
        DemoError: nothing given, an unreadable file, or a CSV without rows.
    """
    if path:
        file = Path(path)
        try:
            content = file.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise DemoError(f"Cannot read the uploaded file {file.name}: {one_line(error)}") from None
        if file.suffix.lower() == ".csv":
            rows = list(csv.reader(content.splitlines()))
            if not rows:
                raise DemoError(f"The uploaded file {file.name} is empty.")
            header = [cell.strip().lower() for cell in rows[0]]
            column = header.index("smiles") if "smiles" in header else 0
            values = [row[column] for row in rows[1:] if len(row) > column]
        else:
            values = content.splitlines()
    else:
        values = (text or "").splitlines()
    molecules = [value.strip() for value in values if value.strip()]
    if not molecules:
        raise DemoError("Upload a CSV (a `smiles` column) or a text file, or write one SMILES per line.")
    return molecules


def answer_batch(assistant: Assistant, reader: MoleculeReader, task: Task, variant: str, molecules: list[str],
                 decoding: Decoding) -> list[dict]:
    """One result per input, in order: its answer, or why it could not be asked (the others are still answered)."""
    results: list[dict] = []
    rows = []
    for text in molecules:
        try:
            molecule_input = reader.task_input(task, text, text)
        except DemoError as error:
            results.append({"input": text, "answer": "", "problem": str(error)})
            continue
        rows.append((len(results), preset_row(task, variant, molecule_input)))
        results.append({"input": text, "answer": "", "problem": ""})
    if rows:
        for (index, _), answer in zip(rows, assistant.answer_rows([row for _, row in rows], decoding)):
            results[index]["answer"] = answer
    return results


def write_batch_csv(results: list[dict], task: Task) -> Path:
    """The batch results as a CSV file to download."""
    folder = Path(tempfile.mkdtemp(prefix="instructmol-demo-"))
    path = folder / f"instructmol-{task.name}.csv"
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=["input", "answer", "problem"])
        writer.writeheader()
        writer.writerows(results)
    return path


def build_app(model: str, max_atoms: int = DEFAULT_MAX_ATOMS, dtype: str = "auto", server: str | None = None):
    """The Gradio app (a `gr.Blocks`) around `model` (answering through the vLLM server at `server` when given); its
    events are also an API (`api_name`s: draw, preset, chat, batch) that `gradio_client` drives."""
    import gradio as gr

    assistant = Assistant(model, dtype=dtype, server=server)
    reader = MoleculeReader(max_atoms, getattr(assistant.processor, "image_processor", None))

    def page_error(error: DemoError) -> gr.Error:
        return gr.Error(str(error), print_exception=False)

    def draw(smiles: str, reaction: str, atom_indices: bool):
        images, notes = [None, None], []
        if (smiles or "").strip():
            try:
                images[0] = draw_molecule(reader.molecule(smiles), atom_indices)
            except DemoError as error:
                notes.append(str(error))
        if (reaction or "").strip():
            try:
                images[1] = draw_reaction(*reader.reaction(reaction))
            except DemoError as error:
                notes.append(str(error))
        return images[0], images[1], "\n\n".join(notes)

    def decoding_of(strategy: str, temperature: float, max_new_tokens: float) -> Decoding:
        return Decoding(sample=strategy == "sampling", temperature=float(temperature),
                        max_new_tokens=int(max_new_tokens))

    def run_preset(preset: str, variant: str, smiles: str, reaction: str, strategy: str, temperature: float,
                   max_new_tokens: float, history: list[dict]):
        try:
            assistant.check_ready()
            task = PRESETS[preset]
            row = preset_row(task, VARIANTS[variant], reader.task_input(task, smiles, reaction))
            history = [*history, {"role": "user", "content": user_turn_text(row)},
                       {"role": "assistant", "content": ""}]
            answer = ""
            for answer in assistant.stream(row_conversation(row), decoding_of(strategy, temperature, max_new_tokens)):
                history[-1] = {"role": "assistant", "content": answer}
                yield history, None, ""
        except DemoError as error:
            raise page_error(error) from None
        image, note = answer_molecule(answer) if task.metric == MOLECULE_GENERATION else (None, "")
        yield history, image, note

    def chat(question: str, smiles: str, strategy: str, temperature: float, max_new_tokens: float,
             history: list[dict]):
        try:
            assistant.check_ready()
            if not (question or "").strip():
                raise DemoError("Write a question first.")
            if len(question) > MAX_QUESTION_CHARACTERS:
                raise DemoError(f"The question has {len(question)} characters; a request may hold at most "
                                f"{MAX_QUESTION_CHARACTERS}.")
            conversation = chat_conversation(history, question.strip(), reader.molecule(smiles))
            history = [*history, {"role": "user", "content": question.strip()}, {"role": "assistant", "content": ""}]
            for answer in assistant.stream(conversation, decoding_of(strategy, temperature, max_new_tokens)):
                history[-1] = {"role": "assistant", "content": answer}
                yield history, ""
        except DemoError as error:
            raise page_error(error) from None

    def run_batch(upload: str | None, text: str, preset: str, variant: str, strategy: str, temperature: float,
                  max_new_tokens: float, progress=gr.Progress(track_tqdm=True)):
        try:
            assistant.check_ready()
            task = PRESETS[preset]
            results = answer_batch(assistant, reader, task, VARIANTS[variant], read_batch_molecules(upload, text),
                                   decoding_of(strategy, temperature, max_new_tokens))
        except DemoError as error:
            raise page_error(error) from None
        table = [[result["input"], result["answer"], result["problem"]] for result in results]
        return table, str(write_batch_csv(results, task))

    with gr.Blocks(title="InstructMol") as app:
        gr.Markdown("# InstructMol\nA molecular assistant: a graph encoder reads the molecule, an LLM answers. "
                    "Enter a SMILES (or a reaction for the reaction tasks), run a task or ask freely.")
        gr.Markdown(assistant.status, elem_id="model-status")
        with gr.Tab("Ask"):
            with gr.Row():
                with gr.Column():
                    smiles = gr.Textbox(label="SMILES", value=QUICKSTART_MOLECULE[1], elem_id="smiles")
                    gr.Examples([[value] for value in EXAMPLE_MOLECULES.values()], inputs=[smiles],
                                example_labels=list(EXAMPLE_MOLECULES), label="Example molecules")
                    reaction = gr.Textbox(label="Reaction (reactants>>product), for the reaction tasks",
                                          elem_id="reaction")
                    gr.Examples([[value] for value in EXAMPLE_REACTIONS.values()], inputs=[reaction],
                                example_labels=list(EXAMPLE_REACTIONS), label="Example reactions")
                    atom_indices = gr.Checkbox(label="Number the atoms", value=False)
                with gr.Column():
                    molecule_image = gr.Image(label="Molecule", type="pil", elem_id="molecule-drawing")
                    reaction_image = gr.Image(label="Reaction", type="pil")
                    input_note = gr.Markdown(elem_id="input-note")
            with gr.Row():
                preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET.title, label="Task preset",
                                     elem_id="preset")
                variant = gr.Radio(list(VARIANTS), value=VARIANT_TITLES[GRAPH_ONLY],
                                   label="Prompt (as the model was trained)")
                run = gr.Button("Run preset", variant="primary", elem_id="run-preset")
            with gr.Accordion("Decoding", open=False):
                strategy = gr.Radio(["greedy", "sampling"], value="greedy", label="Decoding")
                temperature = gr.Slider(0.05, 1.5, value=0.2, step=0.05, label="Temperature (sampling)")
                max_new_tokens = gr.Slider(1, 512, value=DEFAULT_PRESET.max_new_tokens, step=1,
                                           label="Max new tokens (a preset sets its task's budget)")
            chatbot = gr.Chatbot(label="Conversation", elem_id="conversation")
            with gr.Row():
                question = gr.Textbox(label="Ask anything about the molecule", scale=4)
                send = gr.Button("Send", scale=1)
                clear = gr.Button("Clear", scale=1)
            with gr.Row():
                answer_image = gr.Image(label="Answer as a molecule (reaction tasks)", type="pil")
                answer_note = gr.Markdown()
        with gr.Tab("Batch"):
            upload = gr.File(label="CSV (a `smiles` column) or text file (one SMILES or reaction per line)",
                             file_types=[".csv", ".txt", ".smi"], type="filepath")
            batch_text = gr.Textbox(label="...or one SMILES (or reaction) per line", lines=5)
            with gr.Row():
                batch_preset = gr.Dropdown(list(PRESETS), value=DEFAULT_PRESET.title, label="Task")
                batch_variant = gr.Radio(list(VARIANTS), value=VARIANT_TITLES[GRAPH_ONLY], label="Prompt")
                batch_run = gr.Button("Answer all", variant="primary")
            batch_table = gr.Dataframe(headers=["input", "answer", "problem"], label="Answers", interactive=False)
            batch_file = gr.File(label="Download as CSV")

        drawing_inputs = [smiles, reaction, atom_indices]
        drawing_outputs = [molecule_image, reaction_image, input_note]
        app.load(draw, drawing_inputs, drawing_outputs, api_name="draw")
        for trigger in (smiles.change, reaction.change, atom_indices.change):
            trigger(draw, drawing_inputs, drawing_outputs, api_visibility="private")
        decoding_inputs = [strategy, temperature, max_new_tokens]
        preset.change(preset_budget, preset, max_new_tokens, api_name="preset_budget")
        run.click(run_preset, [preset, variant, smiles, reaction, *decoding_inputs, chatbot],
                  [chatbot, answer_image, answer_note], api_name="preset")
        chat_inputs = [question, smiles, *decoding_inputs, chatbot]
        send.click(chat, chat_inputs, [chatbot, question], api_name="chat")
        question.submit(chat, chat_inputs, [chatbot, question], api_visibility="private")
        clear.click(lambda: ([], None, ""), None, [chatbot, answer_image, answer_note], api_visibility="private")
        batch_run.click(run_batch, [upload, batch_text, batch_preset, batch_variant, *decoding_inputs],
                        [batch_table, batch_file], api_name="batch")
    return app
