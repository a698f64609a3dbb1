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
from pathlib import Path

import pytest

gradio = pytest.importorskip("gradio", reason="the demo is an optional extra: pip install -e '.[demo]'")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from instructmol.demo import (  # noqa: E402
    EXAMPLE_MOLECULES,
    EXAMPLE_REACTIONS,
    PRESETS,
    VARIANTS,
    build_app,
    preset_row,
    user_turn_text,
)
from instructmol.tasks import MOLECULE_GENERATION, REACTANT_SIDE  # noqa: E402
from tests_paths import REPO_ROOT  # noqa: E402
from tiny_models import save_tiny_llm  # noqa: E402

MAX_ATOMS = 40
DECODING = ("greedy", 0.2, 6)  # strategy, temperature, max new tokens
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


@pytest.fixture(scope="module")
def client(demo_url) -> Client:
    return Client(demo_url, verbose=False)


def text_of(message: dict) -> str:
    content = message["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def test_a_preset_sets_its_tasks_answer_budget(client):
    """Budgets come from the registry: choosing a preset sets the slider to its task's `max_new_tokens`."""
    budgets = {title: client.predict(title, api_name="/preset_budget") for title in PRESETS}
    assert budgets == {title: task.max_new_tokens for title, task in PRESETS.items()}
    assert len(set(budgets.values())) > 1  # the tasks differ (a number answer is short, a description long)


def run_preset(client: Client, preset: str, smiles: str = "CCO", reaction: str = REACTION, history=()):
    return client.predict(preset, "InstructMol-G", smiles, reaction, *DECODING, list(history), api_name="/preset")


@pytest.mark.parametrize("preset", list(PRESETS))
def test_each_preset_asks_the_rows_question_and_answers(client, preset):
    task = PRESETS[preset]
    history, answer_image, note = run_preset(client, preset)
    reactants, product = REACTION.split(">>")
    molecule_input = ("CCO" if task.metric != MOLECULE_GENERATION else REACTION if task.graphs == REACTANT_SIDE
                      else reactants if task.name == "forward" else product)
    expected_turn = user_turn_text(preset_row(task, VARIANTS["InstructMol-G"], molecule_input))
    assert [message["role"] for message in history] == ["user", "assistant"]
    assert text_of(history[0]) == expected_turn and expected_turn.startswith("<mol>")
    assert text_of(history[1])  # the tiny model's answer, streamed into the conversation
    if task.metric == MOLECULE_GENERATION:  # the answer drawn, or a note that it is not a molecule
        assert (answer_image is not None and note.startswith("The answer as a molecule")) or \
            (answer_image is None and "is not a valid molecule" in note)
    else:
        assert answer_image is None and note == ""


def test_the_graph_and_string_preset_writes_the_selfies_string(client):
    history, _, _ = client.predict("ChEBI-20 molecule description", "InstructMol-GS", "CCO", "", *DECODING, [],
                                   api_name="/preset")
    assert text_of(history[0]).endswith("The compound SELFIES sequence is: [C][C][O].")


def test_chat_streams_the_answer_token_by_token_and_keeps_the_conversation(client):
    job = client.submit("What is this molecule?", EXAMPLE_MOLECULES["aspirin"], "greedy", 0.2, 8, [], api_name="/chat")
    updates = [history for history, _ in job]
    answers = [text_of(history[-1]) for history in updates if len(history) == 2]
    assert len(set(answers)) > 2  # several partial answers before the last
    assert all(final.startswith(partial) for partial, final in zip(answers, answers[1:]))
    history = updates[-1]
    follow_up = client.predict("And its weight?", EXAMPLE_MOLECULES["aspirin"], "greedy", 0.2, 4, history,
                               api_name="/chat")[0]
    assert [text_of(message) for message in follow_up[:2]] == [text_of(message) for message in history]
    assert text_of(follow_up[2]) == "And its weight?" and len(follow_up) == 4


def test_sampling_is_a_decoding_choice(client):
    history, _, _ = client.predict("ChEBI-20 molecule description", "InstructMol-G", "CCO", "", "sampling", 1.0, 6,
                                   [], api_name="/preset")
    assert text_of(history[1])


def test_the_molecule_and_the_reaction_are_drawn(client):
    molecule, reaction, note = client.predict(EXAMPLE_MOLECULES["penicillin G"], REACTION, True, api_name="/draw")
    for image in (molecule, reaction):
        assert Path(image).read_bytes()[:4] in (b"\x89PNG", b"RIFF")  # PNG or WebP, as Gradio serves it
    assert note == ""


def test_batch_answers_a_csv_upload_row_by_row_and_offers_a_csv(client, tmp_path):
    upload = tmp_path / "molecules.csv"
    upload.write_text("name,smiles\nethanol,CCO\nbroken,C1CC\nbenzene,c1ccccc1\nlong,"
                      + "C" * (MAX_ATOMS + 1) + "\n")
    table, download = client.predict(handle_file(str(upload)), "", "ChEBI-20 molecule description", "InstructMol-G",
                                     *DECODING, api_name="/batch")
    rows = table["data"]
    assert [row[0] for row in rows] == ["CCO", "C1CC", "c1ccccc1", "C" * (MAX_ATOMS + 1)]
    assert rows[0][1] and rows[2][1] and not rows[0][2] and not rows[2][2]
    assert rows[1][1] == "" and "Cannot read the SMILES" in rows[1][2]  # bad rows say why; the others are answered
    assert f"atoms, more than {MAX_ATOMS}" in rows[3][2]
    with open(download, newline="") as file:
        assert [list(row.values()) for row in csv.DictReader(file)] == rows


def test_batch_takes_a_list_of_smiles_in_the_text_box(client):
    table, _ = client.predict(None, "CCO\n\nCCN\n", "QM9 HOMO-LUMO gap", "InstructMol-G", *DECODING, api_name="/batch")
    assert [row[0] for row in table["data"]] == ["CCO", "CCN"]


@pytest.mark.parametrize(("smiles", "reaction", "preset", "message"), [
    ("C1CC", "", "ChEBI-20 molecule description", "Cannot read the SMILES: RDKit cannot parse the SMILES 'C1CC'"),
    ("  ", "", "ChEBI-20 molecule description", "Enter a SMILES first."),
    ("C" * (MAX_ATOMS + 1), "", "MoleculeNet BACE", f"has {MAX_ATOMS + 1} atoms, more than {MAX_ATOMS}"),
    ("CCO", "", "Reagent prediction (USPTO-500MT)", "Write the reaction as reactants>>product"),
    ("CCO", "CCO>>", "Reagent prediction (USPTO-500MT)", "Reagent prediction needs both sides of the reaction"),
    ("CCO", "CC(=O)O.C1CC>>CCOC(C)=O", "Forward reaction prediction (USPTO)", "Cannot read the SMILES in the reactants"),
])
def test_bad_input_gets_a_message_in_the_page_and_the_app_keeps_serving(client, smiles, reaction, preset, message):
    with pytest.raises(AppError) as raised:
        run_preset(client, preset, smiles, reaction)
    assert message in str(raised.value)
    history, _, _ = run_preset(client, "ChEBI-20 molecule description")  # the next request is served
    assert text_of(history[1])


def test_bad_drawings_and_empty_batches_and_questions_are_messages(client):
    molecule, reaction, note = client.predict("C1CC", "CCO>>C1CC", False, api_name="/draw")
    assert molecule is None and reaction is None
    assert "RDKit cannot parse the SMILES 'C1CC'" in note and "Cannot read the SMILES in the product" in note
    with pytest.raises(AppError) as raised:
        client.predict(None, "  \n", "ChEBI-20 molecule description", "InstructMol-G", *DECODING, api_name="/batch")
    assert "Upload a CSV" in str(raised.value)
    with pytest.raises(AppError) as raised:
        client.predict("", "CCO", *DECODING, [], api_name="/chat")
    assert "Write a question first." in str(raised.value)


@pytest.mark.parametrize("kind", ["missing", "plain language model"])
def test_a_model_that_cannot_be_loaded_is_a_message_and_drawing_still_works(tmp_path, kind):
    model = tmp_path / "absent" if kind == "missing" else save_tiny_llm(tmp_path / "plain-llm")
    app, url = serve(model)
    try:
        client = Client(url, verbose=False)
        with pytest.raises(AppError) as raised:
            run_preset(client, "ChEBI-20 molecule description")
        assert f"The model '{model}' could not be loaded" in str(raised.value)
        if kind == "plain language model":
            assert "is a plain language model, not an InstructMol model" in str(raised.value)
        molecule, _, _ = client.predict("CCO", "", False, api_name="/draw")
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


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                    reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")
def test_a_real_browser_runs_a_preset_and_sees_the_answer_and_the_drawing(demo_url, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(argument)
    browser = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        browser.get(demo_url)
        wait = WebDriverWait(browser, 60)
        box = wait.until(lambda page: page.find_element(By.CSS_SELECTOR, "#smiles textarea"))
        box.clear()
        box.send_keys(EXAMPLE_MOLECULES["aspirin"])
        browser.find_element(By.CSS_SELECTOR, "#run-preset").click()

        def answered(page) -> bool:
            messages = page.find_elements(By.CSS_SELECTOR, "#conversation .message")
            return len(messages) >= 2 and bool(messages[-1].text.strip())

        wait.until(answered)
        drawing = wait.until(lambda page: page.find_element(By.CSS_SELECTOR, "#molecule-drawing img"))
        wait.until(lambda page: drawing.get_attribute("naturalWidth") not in (None, "0"))
        screenshot = tmp_path / "demo.png"
        browser.save_screenshot(str(screenshot))
        assert screenshot.read_bytes()[:4] == b"\x89PNG"
        errors = browser.find_elements(By.CSS_SELECTOR, ".toast-body.error, .error-message")
        assert not [error.text for error in errors if error.is_displayed()]
        assert "Could you provide a description of this molecule?" in browser.find_element(
            By.CSS_SELECTOR, "#conversation").text
    finally:
        browser.quit()


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
        history, _, _ = run_preset(client, "MoleculeNet BBBP")
        assert "<mol>" in text_of(history[0]) and text_of(history[1])
    finally:
        space.demo.close()
    front_matter = (REPO_ROOT / "README.md").read_text().split("---\n")[1]  # the Space's configuration
    assert "sdk: gradio" in front_matter and "app_file: app.py" in front_matter
