"""The web demo, served on 127.0.0.1 around a tiny model and driven as a user's program would: through
`gradio_client` (every preset, streamed chat, a batch upload, every kind of bad input), and once through a real
headless Chromium (Selenium), which also saves a screenshot."""

import csv
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

gradio = pytest.importorskip("gradio", reason="the demo is an optional extra: pip install -e '.[demo]'")
from gradio_client import Client, handle_file  # noqa: E402

from instructmol.demo import (  # noqa: E402
    EXAMPLE_MOLECULES,
    EXAMPLE_REACTIONS,
    PRESETS,
    VARIANTS,
    build_app,
    preset_question,
    preset_row,
    shown_answer,
    shown_user_turn,
    subject_label,
    user_turn_text,
)
from instructmol.defaults import QUICKSTART_MOLECULE  # noqa: E402
from instructmol.tasks import MOLECULE_GENERATION, REACTANT_SIDE, TASKS  # noqa: E402
from tests_paths import REPO_ROOT  # noqa: E402
from tiny_models import save_tiny_llm  # noqa: E402

MAX_ATOMS = 40
DECODING = ("greedy", 0.2, 6, 0)  # strategy, temperature, max new tokens, seed
REACTION = EXAMPLE_REACTIONS["Fischer esterification"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(model: str | Path):
    """The app on a free local port; (app, its URL)."""
    app = build_app(str(model), max_atoms=MAX_ATOMS, dtype="float32")
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    return app, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def demo_url(tiny_model_dir):
    app, url = serve(tiny_model_dir)
    yield url
    app.close()


@pytest.fixture
def client(demo_url) -> Client:
    """A new browser session: its own conversation."""
    return Client(demo_url, verbose=False)


def text_of(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def user_texts(history: list[dict]) -> list[str]:
    """The text bubbles of the user (a conversation opens with a drawing, a file message)."""
    return [text_of(message) for message in history if message["role"] == "user" and text_of(message)]


def drawings(history: list[dict]) -> list[dict]:
    return [part for message in history if message["role"] == "user" for part in message["content"]
            if part.get("type") == "file"]


SKIPPED = {"__type__": "update"}  # what an output the handler left as it was reads as through the API


def test_a_preset_sets_its_tasks_answer_budget(client):
    """Budgets come from the registry: choosing a preset sets the slider to its task's `max_new_tokens`."""
    budgets = {title: client.predict(title, api_name="/preset_budget") for title in PRESETS}
    assert budgets == {title: task.max_new_tokens for title, task in PRESETS.items()}
    assert len(set(budgets.values())) > 1  # the tasks differ (a number answer is short, a description long)


def run_preset(client: Client, preset: str, smiles: str = "CCO", reaction: str = REACTION, decoding=DECODING):
    """(conversation, answer drawing, answer note, input note, prompt)."""
    return client.predict(preset, "InstructMol-G", smiles, reaction, *decoding, api_name="/preset")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_each_preset_asks_the_rows_question_names_its_molecule_and_answers(client, preset):
    task = PRESETS[preset]
    history, answer_image, note, input_note, prompt = run_preset(client, preset)
    reactants, product = REACTION.split(">>")
    molecule_input = ("CCO" if task.metric != MOLECULE_GENERATION else REACTION if task.graphs == REACTANT_SIDE
                      else reactants if task.name == "forward" else product)
    row = preset_row(task, VARIANTS["InstructMol-G"], molecule_input)
    assert [message["role"] for message in history] == ["user", "user", "assistant"]
    assert len(drawings(history)) == 1  # the turn opens with its molecule drawn
    [turn] = user_texts(history)
    assert turn == shown_user_turn(subject_label(task), molecule_input, user_turn_text(row))
    assert f"`{molecule_input}`" in turn and "<mol>" not in turn  # the molecule named, never the placeholder
    assert "<mol>" in prompt and prompt.rstrip().endswith("ASSISTANT:")  # the template applied, as the model reads it
    assert text_of(history[-1])  # the tiny model's answer, streamed into the conversation
    if task.metric == MOLECULE_GENERATION:  # the answer drawn, or a note that it is not a molecule
        assert (answer_image is not None and note.startswith("The answer as a molecule")) or \
            (answer_image is None and "is not a valid molecule" in note)
        assert input_note == f"{task.title} reads the {subject_label(task).lower()} `{molecule_input}`."
    else:
        assert answer_image is None and note == "" and input_note == ""


def test_a_cut_answer_is_marked_and_a_whole_one_is_not(client, tiny_model_dir):
    history, *_ = run_preset(client, "ChEBI-20 molecule description", decoding=("greedy", 0.2, 2, 0))
    assert "cut at the limit of 2 new tokens" in text_of(history[-1])
    assert not shown_answer("done", None, cut=False, max_new_tokens=2).endswith(")*")


def test_the_graph_and_string_preset_shows_the_smiles_beside_the_selfies(client):
    history, *_ = client.predict("ChEBI-20 molecule description", "InstructMol-GS", "CCO", "", *DECODING,
                                 api_name="/preset")
    [turn] = user_texts(history)
    assert turn.startswith("**Molecule:** `CCO`") and turn.endswith("The compound SELFIES sequence is: [C][C][O].")


def test_a_task_with_a_unit_asks_in_it_and_its_numbers_carry_it():
    gap = TASKS["gap"]
    assert gap.unit == "hartree" and "hartree" in preset_question(gap)
    assert shown_answer("0.2512", gap, cut=False, max_new_tokens=16) == "0.2512 hartree"
    assert shown_answer("I cannot say", gap, cut=False, max_new_tokens=16) == "I cannot say"  # not a number
    assert shown_answer("0.25", TASKS["bace"], cut=False, max_new_tokens=16) == "0.25"  # a task without a unit


def test_chat_streams_follows_up_on_the_same_molecule_and_starts_anew_on_another(client):
    job = client.submit("What is this molecule?", EXAMPLE_MOLECULES["aspirin"], "greedy", 0.2, 8, 0,
                        api_name="/chat")
    updates = [outputs[0] for outputs in job]
    answers = [text_of(history[-1]) for history in updates if history[-1]["role"] == "assistant"]
    assert len(set(answers)) > 2  # several partial answers before the last
    assert all(final.startswith(partial) for partial, final in zip(answers, answers[1:]))
    history = updates[-1]
    follow_up, question_box, *_, prompt = client.predict("And its weight?", EXAMPLE_MOLECULES["aspirin"],
                                                             "greedy", 0.2, 4, 0, api_name="/chat")
    assert follow_up[:len(history)] == history and question_box == ""  # the conversation goes on; the box empties
    assert user_texts(follow_up)[-1] == f"**Molecule:** `{EXAMPLE_MOLECULES['aspirin']}`\n\nAnd its weight?"
    assert prompt.count("<mol>") == 1 and "What is this molecule?" in prompt  # one graph, the earlier turn kept
    other, *_, prompt = client.predict("And this one?", "CCO", "greedy", 0.2, 4, 0, api_name="/chat")
    marker = other[len(follow_up)]
    assert marker["metadata"]["title"] == "New conversation: molecule `CCO`"  # the change of molecule is marked
    assert len(drawings(other)) == 2 and "And its weight?" not in prompt  # the model starts anew
    cleared = client.predict(api_name="/clear")
    assert cleared[0] == []


def test_sampling_is_a_decoding_choice_and_its_seed_repeats_it(demo_url):
    answers = []
    for _ in range(2):
        history, *_ = run_preset(Client(demo_url, verbose=False), "ChEBI-20 molecule description",
                                 decoding=("sampling", 1.0, 6, 11))
        answers.append(text_of(history[-1]))
    assert answers[0] and answers[0] == answers[1]


def test_the_molecule_and_the_reaction_are_drawn_atoms_numbered_from_one(client):
    molecule, reaction, note = client.predict(EXAMPLE_MOLECULES["penicillin G"], REACTION, True,
                                              "Reagent prediction (USPTO-500MT)", api_name="/draw")
    for image in (molecule, reaction):
        assert Path(image).read_bytes()[:4] in (b"\x89PNG", b"RIFF")  # PNG or WebP, as Gradio serves it
    assert note == f"Reagent prediction (USPTO-500MT) reads the reaction `{REACTION}`."
    from instructmol.demo import draw_molecule
    assert draw_molecule("CCO", atom_numbers=True).tobytes() == draw_molecule("CCO", atom_numbers=True).tobytes()
    assert draw_molecule("CCO", atom_numbers=True).tobytes() != draw_molecule("CCO").tobytes()


def test_the_reaction_note_and_the_run_agree_on_what_a_box_without_arrows_is(client):
    """'CCO.CC(=O)O' without '>>': retrosynthesis reads it as the product, forward as the reactants, and reagent
    prediction refuses it; the note says so before the run, and the run does what the note said."""
    for preset, expected in [("Retrosynthesis (USPTO-500MT)", "reads the product `CCO.CC(=O)O`"),
                             ("Forward reaction prediction (USPTO)", "reads the reactants `CCO.CC(=O)O`"),
                             ("Reagent prediction (USPTO-500MT)", "Write the reaction as reactants>>product")]:
        _, _, note = client.predict("CCO", "CCO.CC(=O)O", False, preset, api_name="/draw")
        assert expected in note
        history, _, _, input_note, _ = run_preset(client, preset, reaction="CCO.CC(=O)O")
        assert expected in input_note
        if preset.startswith("Reagent"):
            assert history == SKIPPED  # nothing ran
        else:
            assert "`CCO.CC(=O)O`" in user_texts(history)[-1]


def test_batch_keeps_every_column_says_what_it_used_and_carries_units(client, tmp_path):
    upload = tmp_path / "molecules.csv"
    upload.write_text("name,smiles,batch\nethanol,CCO,A\nbroken,C1CC,A\nbenzene,c1ccccc1,B\nlong,"
                      + "C" * (MAX_ATOMS + 1) + ",B\n")
    table, download, gallery, note = client.predict(handle_file(str(upload)), "CCN", "QM9 HOMO-LUMO gap",
                                                    "InstructMol-G", *DECODING, api_name="/batch")
    assert table["headers"] == ["name", "smiles", "batch", "answer", "unit", "problem"]
    rows = table["data"]
    assert [row[:3] for row in rows] == [["ethanol", "CCO", "A"], ["broken", "C1CC", "A"],
                                         ["benzene", "c1ccccc1", "B"], ["long", "C" * (MAX_ATOMS + 1), "B"]]
    assert rows[0][3] and rows[2][3] and not rows[0][5] and not rows[2][5]
    assert rows[1][3] == "" and "Cannot read the SMILES" in rows[1][5]  # bad rows say why; the others are answered
    assert f"atoms, more than {MAX_ATOMS}" in rows[3][5]
    assert [row[4] for row in rows] == ["", "", "", ""]  # the tiny model answers words: no unit (numbers: below)
    with open(download, newline="") as file:
        assert list(csv.reader(file)) == [table["headers"], *rows]
    assert len(gallery) == 2 and gallery[0]["caption"].startswith("1. ")
    assert ("Answered 2 of 4 molecules from the column 'smiles' of molecules.csv; the text box was not used" in note
            and "greedy, at most 6 new tokens" in note)


def test_batch_takes_a_list_of_smiles_in_the_text_box(client):
    table, _, _, note = client.predict(None, "CCO\n\nCCN\n", "QM9 HOMO-LUMO gap", "InstructMol-G", *DECODING,
                                       api_name="/batch")
    assert table["headers"][0] == "input" and [row[0] for row in table["data"]] == ["CCO", "CCN"]
    assert "from the lines of the text box" in note


def test_batch_refuses_a_column_its_answers_would_overwrite(client, tmp_path):
    upload = tmp_path / "answered.csv"
    upload.write_text("smiles,answer\nCCO,old\n")
    table, _, _, note = client.predict(handle_file(str(upload)), "", "QM9 HOMO-LUMO gap", "InstructMol-G", *DECODING,
                                       api_name="/batch")
    assert table == SKIPPED and "has a column named 'answer', which the answers would fill" in note


@pytest.mark.parametrize(("smiles", "reaction", "preset", "message"), [
    ("C1CC", "", "ChEBI-20 molecule description", "Cannot read the SMILES: RDKit cannot parse the SMILES 'C1CC'"),
    ("  ", "", "ChEBI-20 molecule description", "Enter a SMILES first."),
    ("C" * (MAX_ATOMS + 1), "", "MoleculeNet BACE", f"has {MAX_ATOMS + 1} atoms, more than {MAX_ATOMS}"),
    ("CCO", "", "Reagent prediction (USPTO-500MT)", "Write the reaction as reactants>>product"),
    ("CCO", "CCO>>", "Reagent prediction (USPTO-500MT)", "Reagent prediction needs both sides of the reaction"),
    ("CCO", "CC(=O)O.C1CC>>CCOC(C)=O", "Forward reaction prediction (USPTO)", "Cannot read the SMILES in the reactants"),
])
def test_bad_input_is_a_note_by_its_input_and_the_conversation_stays(client, smiles, reaction, preset, message):
    before, *_ = run_preset(client, "ChEBI-20 molecule description")
    history, answer_image, answer_note, input_note, prompt = run_preset(client, preset, smiles, reaction)
    assert message in input_note
    assert history == answer_image == answer_note == prompt == SKIPPED  # nothing that held an answer is cleared
    after, *_ = run_preset(client, "ChEBI-20 molecule description")  # the next request is served
    assert after[:len(before)] == before and text_of(after[-1])


def test_bad_drawings_and_empty_batches_and_questions_are_notes(client):
    molecule, reaction, note = client.predict("C1CC", "CCO>>C1CC", False, "Retrosynthesis (USPTO-500MT)",
                                              api_name="/draw")
    assert molecule is None and reaction is None
    assert "RDKit cannot parse the SMILES 'C1CC'" in note and "Cannot read the SMILES in the product" in note
    *_, note = client.predict(None, "  \n", "ChEBI-20 molecule description", "InstructMol-G", *DECODING,
                              api_name="/batch")
    assert "Upload a CSV" in note
    history, question_box, question_note, input_note, _ = client.predict("", "CCO", *DECODING, api_name="/chat")
    assert "Write a question first." in question_note and history == question_box == SKIPPED
    *_, question_note, input_note, _ = client.predict("Why?", "C1CC", *DECODING, api_name="/chat")
    assert "Cannot read the SMILES" in input_note and question_note == SKIPPED  # the note of the input concerned
    *_, question_note, _, _ = client.predict("Why?", "CCO", "sampling", 0.2, 4, -1, api_name="/chat")
    assert "Decoding: a seed must be from 0 to 2**32 - 1, got -1" in question_note


def test_a_failed_generation_is_a_note_and_the_next_question_is_answered(tiny_model_dir, monkeypatch):
    from instructmol.engines import TransformersEngine

    real_stream = TransformersEngine.stream

    def failing_once(self, conversation, decoding):
        monkeypatch.setattr(TransformersEngine, "stream", real_stream)  # the next request is answered
        yield "half an"
        raise RuntimeError("the device ran out of memory")

    app, url = serve(tiny_model_dir)
    try:
        client = Client(url, verbose=False)
        monkeypatch.setattr(TransformersEngine, "stream", failing_once)
        history, _, _, input_note, _ = run_preset(client, "ChEBI-20 molecule description")
        assert "Generation failed: the device ran out of memory" in input_note
        assert text_of(history[-1]) == "half an"  # what came is kept on the page
        history, _, question_note, _, prompt = client.predict("And now?", "CCO", *DECODING, api_name="/chat")
        assert question_note == "" and text_of(history[-1]) and "New conversation" in str(history)
        assert prompt.count("<mol>") == 1 and "description" not in prompt  # the unanswered turn is not in it
    finally:
        app.close()


@pytest.mark.parametrize("kind", ["missing", "plain language model"])
def test_a_model_that_cannot_be_loaded_is_a_message_and_drawing_still_works(tmp_path, kind):
    model = tmp_path / "absent" if kind == "missing" else save_tiny_llm(tmp_path / "plain-llm")
    app, url = serve(model)
    try:
        client = Client(url, verbose=False)
        *_, input_note, _ = run_preset(client, "ChEBI-20 molecule description")
        assert f"The model '{model}' could not be loaded" in input_note
        if kind == "plain language model":
            assert "is a plain language model, not an InstructMol model" in input_note
        molecule, _, _ = client.predict("CCO", "", False, "ChEBI-20 molecule description", api_name="/draw")
        assert molecule is not None
    finally:
        app.close()


def test_the_command_without_gradio_says_how_to_install_it(tmp_path):
    # A Python in which `import gradio` fails, as where the extra is not installed: a package of that name that
    # raises on import shadows the real one; the rest of the CLI is untouched.
    (tmp_path / "gradio").mkdir()
    (tmp_path / "gradio" / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'gradio'\", name='gradio')\n")
    result = subprocess.run([sys.executable, "-m", "instructmol.cli", "demo", "--model", str(tmp_path)],
                            capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 2 and 'the demo needs Gradio: pip install -e ".[demo]"' in result.stderr


CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_browser = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                   reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
# The tiny random model always runs to its token budget, so an answer is whole once it carries the cut mark.
WHOLE_ANSWER = "(cut at the limit of"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver
    driver.quit()


class Page:
    """The demo in the browser as a chemist drives it; each `shot` saves the page's state as a PNG in `folder`."""

    def __init__(self, browser, url: str, folder: Path, width: int = 1280):
        from selenium.webdriver.support.ui import WebDriverWait

        self.browser, self.folder = browser, folder
        browser.set_window_size(width, 1600)
        browser.get(url)  # a new session: a new conversation
        self.wait = WebDriverWait(browser, 120)
        self.wait.until(lambda page: self.element("#smiles textarea").is_displayed())
        self.wait.until(lambda page: self.element("#molecule-drawing img"))

    def element(self, css: str):
        from selenium.webdriver.common.by import By

        return self.browser.find_element(By.CSS_SELECTOR, css)

    def elements(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.browser.find_elements(By.CSS_SELECTOR, css)

    def type(self, css: str, text: str) -> None:
        box = self.element(css)
        box.clear()
        box.send_keys(text)

    def text(self, css: str) -> str:
        return self.element(css).text.strip()

    def user_bubbles(self) -> list[str]:
        return [bubble.text.strip() for bubble in self.elements("#conversation .user-row") if bubble.text.strip()]

    def answers(self) -> list[str]:
        return [bubble.text.strip() for bubble in self.elements("#conversation .bot-row")
                if bubble.text.strip() and "New conversation" not in bubble.text]

    def answered(self, count: int) -> list[str]:
        """Waits for `count` whole answers."""
        self.wait.until(lambda page: len(self.answers()) >= count and WHOLE_ANSWER in self.answers()[count - 1])
        return self.answers()

    def choose_preset(self, title: str, dropdown: str = "#preset") -> None:
        from selenium.webdriver.common.keys import Keys

        self.type(f"{dropdown} input", title)
        self.element(f"{dropdown} input").send_keys(Keys.ENTER)
        self.wait.until(lambda page: self.element(f"{dropdown} input").get_attribute("value") == title)

    def usable(self, css: str) -> bool:
        """Whether a click at the middle of the element reaches it (nothing covers it)."""
        return self.browser.execute_script(
            "const box = arguments[0].getBoundingClientRect();"
            "arguments[0].scrollIntoView({block: 'center'});"
            "const moved = arguments[0].getBoundingClientRect();"
            "const hit = document.elementFromPoint(moved.x + moved.width / 2, moved.y + moved.height / 2);"
            "return arguments[0] === hit || arguments[0].contains(hit);", self.element(css))

    def shot(self, name: str) -> Path:
        path = self.folder / f"{name}.png"
        self.browser.save_screenshot(str(path))
        assert path.read_bytes()[:4] == b"\x89PNG"
        return path


@needs_browser
def test_in_a_browser_a_bad_input_after_a_conversation_keeps_it_and_the_question_box(browser, demo_url, tmp_path):
    from selenium.webdriver.common.keys import Keys

    page = Page(browser, demo_url, tmp_path)
    page.element("#smiles textarea").send_keys(Keys.ENTER)  # Enter in the SMILES box runs the task
    [answer] = page.answered(1)
    conversation = page.user_bubbles()
    assert "Could you provide a description of this molecule?" in conversation[0]
    page.shot("1-answered")

    page.type("#smiles textarea", "C1CC")
    page.element("#run-preset").click()
    page.wait.until(lambda _: "Cannot read the SMILES" in page.text("#input-note"))
    assert page.user_bubbles() == conversation and page.answers() == [answer]  # the conversation stays
    assert not [badge.text for badge in page.elements("#conversation .error") if badge.is_displayed()]
    page.shot("2-bad-smiles")

    page.element("#send").click()  # an empty question
    page.wait.until(lambda _: "Write a question first." in page.text("#question-note"))
    assert page.usable("#question textarea")  # nothing covers the question box
    page.type("#question textarea", "Is it soluble in water?")
    assert page.element("#question textarea").get_attribute("value") == "Is it soluble in water?"
    assert page.user_bubbles() == conversation
    page.shot("3-empty-question")


@needs_browser
def test_in_a_browser_every_user_turn_names_its_molecule_and_a_new_one_is_marked(browser, demo_url, tmp_path):
    page = Page(browser, demo_url, tmp_path)
    page.element("#run-preset").click()
    page.answered(1)
    aspirin = EXAMPLE_MOLECULES["aspirin"]
    drawn = page.element("#molecule-drawing img").get_attribute("src")
    box, notes = page.element("#smiles textarea"), []
    box.clear()
    for character in aspirin:  # as a person types: a half-typed SMILES (an open ring, a branch) is never reported
        box.send_keys(character)
        time.sleep(0.15)
        notes.append(page.text("#input-note"))
    page.wait.until(lambda _: page.element("#molecule-drawing img").get_attribute("src") != drawn)
    assert len(notes) == len(aspirin) and not [note for note in notes if "Cannot read" in note]
    page.type("#question textarea", "What is it used for?")
    page.element("#send").click()
    page.answered(2)
    page.type("#question textarea", "Is it an acid?")
    page.element("#send").click()
    page.answered(3)
    bubbles = page.user_bubbles()
    conversation = page.text("#conversation")
    assert [bubble.splitlines()[:2] for bubble in bubbles] == [
        ["Molecule:", QUICKSTART_MOLECULE[1]], ["Molecule:", aspirin], ["Molecule:", aspirin]]
    assert "<mol>" not in conversation and "New conversation: molecule" in conversation
    assert len(page.elements("#conversation .user-row img")) == 2  # each conversation opens with its drawing
    page.shot("named-molecules")


@needs_browser
def test_in_a_browser_numbers_carry_their_unit_and_a_batch_keeps_its_columns(browser, tiny_model_dir, tmp_path,
                                                                             monkeypatch):
    """The model's words are fixed here (a number, as a trained model answers the gap), so that what is tested is
    the page: the unit after the number in the chat, the table and the CSV."""
    from instructmol.engines import TransformersEngine

    def number_answer(self, conversation, decoding):
        yield from ("0.", "2512")
        return False

    monkeypatch.setattr(TransformersEngine, "stream", number_answer)
    monkeypatch.setattr(TransformersEngine, "generate", lambda self, conversations, decoding: ["0.2512"] * len(
        conversations))
    app, url = serve(tiny_model_dir)
    try:
        page = Page(browser, url, tmp_path)
        page.choose_preset(TASKS["gap"].title)
        page.element("#run-preset").click()
        page.wait.until(lambda _: page.answers() and page.answers()[-1] == "0.2512 hartree")
        assert "in hartree" in page.user_bubbles()[-1]
        page.shot("unit")

        upload = tmp_path / "molecules.csv"
        upload.write_text("name,smiles\nethanol,CCO\nbenzene,c1ccccc1\n")
        next(tab for tab in page.elements("button[role=tab]") if tab.text == "Batch").click()
        page.element("#batch-upload input[type=file]").send_keys(str(upload))
        page.wait.until(lambda _: "molecules" in page.text("#batch-upload") and ".csv" in page.text("#batch-upload"))
        page.choose_preset(TASKS["gap"].title, "#batch-preset")
        page.element("#batch-run").click()
        page.wait.until(lambda _: "Answered 2 of 2" in page.text("#batch-note"))
        table = page.text("#batch-table")
        assert "name" in table and "ethanol" in table and "hartree" in table
        page.shot("batch")
        table, download, _, _ = Client(url, verbose=False).predict(
            handle_file(str(upload)), "", TASKS["gap"].title, "InstructMol-G", *DECODING, api_name="/batch")
        with open(download, newline="") as file:
            assert list(csv.reader(file)) == [["name", "smiles", "answer", "unit", "problem"],
                                              ["ethanol", "CCO", "0.2512", "hartree", ""],
                                              ["benzene", "c1ccccc1", "0.2512", "hartree", ""]]
    finally:
        app.close()


@needs_browser
def test_in_a_browser_the_page_is_usable_400_pixels_wide(browser, demo_url, tmp_path):
    page = Page(browser, demo_url, tmp_path, width=400)
    drawing, preset = page.element("#molecule-drawing"), page.element("#preset")
    assert page.element("#smiles").location["y"] < drawing.location["y"] < preset.location["y"]
    assert not [box for box in page.elements("#reaction") if box.is_displayed()]  # none on a single-molecule task
    title = page.element("#preset input")
    assert browser.execute_script("return arguments[0].scrollWidth <= arguments[0].clientWidth", title)
    page.shot("400px")
    page.choose_preset("Forward reaction prediction (USPTO)")
    page.wait.until(lambda _: page.element("#reaction").is_displayed())
    page.shot("400px-reaction")


def test_app_py_is_the_same_app_for_a_space(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("INSTRUCTMOL_MODEL", str(tiny_model_dir))
    spec = importlib.util.spec_from_file_location("space_app", REPO_ROOT / "app.py")
    space = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(space)  # what a Space runs; it does not launch on import
    assert isinstance(space.demo, gradio.Blocks)
    port = free_port()
    space.demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        assert {"/draw", "/preset", "/chat", "/batch"} <= set(client.view_api(print_info=False, return_format="dict")
                                                              ["named_endpoints"])
        history, *_ = run_preset(client, "MoleculeNet BBBP")
        assert "blood-brain barrier" in user_texts(history)[0] and text_of(history[-1])
    finally:
        space.demo.close()
    front_matter = (REPO_ROOT / "README.md").read_text().split("---\n")[1]  # the Space's configuration
    assert "sdk: gradio" in front_matter and "app_file: app.py" in front_matter
