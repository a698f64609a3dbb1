"""The task registry: complete, consistent, the only definition of each task, and enough to add a task."""

import dataclasses
import re

import pytest
from transformers import PreTrainedConfig

from configuration_instructmol import InstructMolConfig
from instructmol import metrics
from instructmol.data import BuildOptions, build_task, candidate, candidates_dataset, instruction_text, resolve_molecules
from instructmol.evaluation.rows import check_rows
from instructmol.evaluation.paper_results import PAPER_RESULTS
from instructmol.evaluation.scoring import score_records
from instructmol.tasks import (
    CLASSIFICATION,
    COMPOUND_SEQUENCE,
    FROM_POOL,
    FROM_RECORD,
    GRAPH_AND_STRING,
    GRAPH_ONLY,
    GROUPS,
    STRING_ONLY,
    TASKS,
    WHOLE_INPUT,
    Prompt,
    Task,
    get_task,
    with_string_only,
)
from processing_instructmol import flatten_content
from tests_paths import REPO_ROOT

# The code a user runs (tests are the reference and quote wording on purpose).
CODE_FILES = [*REPO_ROOT.glob("*.py"), *(REPO_ROOT / "instructmol").rglob("*.py"), *(REPO_ROOT / "datasets").glob("*.py"),
              *(REPO_ROOT / "benchmarks").glob("*.py")]


def test_each_task_is_complete_and_consistent():
    for name, task in TASKS.items():
        assert task.name == name and re.fullmatch(r"[a-z][a-z0-9]*", name)
        assert (REPO_ROOT / task.builder).is_file(), task.builder
        assert task.metric in metrics.METRIC_NAMES
        assert task.variants and set(task.variants) <= {GRAPH_ONLY, GRAPH_AND_STRING, STRING_ONLY}
        # The text-only variant writes exactly what GS writes (the baseline differs from GS by the graph only).
        assert STRING_ONLY not in task.prompts or task.prompts[STRING_ONLY] == task.prompts[GRAPH_AND_STRING]
        assert task.max_new_tokens > 0 and task.epochs > 0
        if task.group:
            assert name in GROUPS[task.group].members and task.recipe == f"stage2/{task.group}.yaml"
    for group in GROUPS.values():
        assert group.name not in TASKS and all(TASKS[member].group == group.name for member in group.members)


@pytest.mark.parametrize("field", [*dataclasses.fields(Task), *dataclasses.fields(Prompt)],
                         ids=lambda field: field.name)
def test_every_registry_field_is_read_by_the_code(field):
    """A field nobody reads is a silent promise: each is read (as `.field`) by code other than its definition
    (`legacy_names` by the registry's own lookup of old names)."""
    readers = [path.relative_to(REPO_ROOT).as_posix() for path in CODE_FILES
               if re.search(rf"\.{field.name}\b", path.read_text()) and path.name != "tasks.py"]
    own_lookup = re.search(rf"\.{field.name}\b", (REPO_ROOT / "instructmol" / "tasks.py").read_text().split(
        "\nTASKS = ")[-1])
    assert readers or own_lookup, field.name


def test_every_config_field_is_read_by_the_model():
    """`InstructMolConfig`'s own fields each change what `modeling_instructmol.py` builds or does."""
    modeling = (REPO_ROOT / "modeling_instructmol.py").read_text()
    # `tie_word_embeddings` is transformers' own setting (its weight tying reads it), given another default here.
    own_fields = [name for name in InstructMolConfig.__annotations__
                  if name not in PreTrainedConfig.__annotations__ and name != "tie_word_embeddings"]
    assert "graph_num_layers" in own_fields and "freeze_llm" in own_fields
    assert [name for name in own_fields if not re.search(rf"config\.{name}\b", modeling)] == []


def test_paper_results_belong_to_registry_tasks_with_a_table():
    for result in PAPER_RESULTS:
        task = TASKS.get(result.task) or TASKS[GROUPS[result.task].members[0]]
        assert task.paper_table == result.table or (result.table, task.name) == ("Table 10", "description")
    assert {task.name for task in TASKS.values() if task.paper_table} == {
        result.task for result in PAPER_RESULTS if result.task in TASKS}


def test_unknown_and_old_task_names_are_errors_that_say_what_to_do():
    with pytest.raises(ValueError, match=r"unknown task 'dipole' \(row '7'\); the tasks are alignment, description"):
        get_task("dipole", "7")
    for old, new, builder in (("qm9_gap", "gap", "datasets/qm9.py"), ("chebi20_description", "description",
                                                                         "datasets/chebi20.py"),
                              ("reagent_prediction", "reagent", "datasets/reactions.py")):
        with pytest.raises(ValueError, match=rf"it is now '{new}'.*python {builder} --output DIR"):
            get_task(old)


def released_sentences() -> list[str]:
    """Every instruction of every pool and every prompt suffix of the registry."""
    sentences = []
    for task in TASKS.values():
        for prompt in task.prompts.values():
            sentences += list(prompt.pool)
            sentences += [prompt.suffix.strip().rstrip(".")] if prompt.suffix.strip() else []  # ChEBI-20 adds a period
    return sorted({sentence for sentence in sentences if re.sub(r"\{\w+\}", "", sentence).strip()})


@pytest.mark.parametrize("sentence", released_sentences())
def test_each_instruction_and_suffix_is_written_once_in_the_code(sentence):
    files = [path.relative_to(REPO_ROOT).as_posix() for path in CODE_FILES if sentence in path.read_text()]
    assert files == ["instructmol/tasks.py"]
    assert (REPO_ROOT / "instructmol" / "tasks.py").read_text().count(sentence) == 1


def test_no_other_module_keeps_a_task_list():
    """No two task names side by side in a literal outside the registry. The metric modules are standalone
    `evaluate` scripts whose docstring examples name properties; they read no task list."""
    task_literal = re.compile(r"[\"'](?:" + "|".join(TASKS) + r")[\"'],\s*[\"'](?:" + "|".join(TASKS) + r")[\"']")
    for path in CODE_FILES:
        if path.name != "tasks.py" and "metrics" not in path.relative_to(REPO_ROOT).parts:
            assert not task_literal.search(path.read_text()), path


def test_adding_a_task_is_one_registry_entry(monkeypatch, tiny_processor):
    """The README's "Add a task" example, MoleculeNet MUV as a Yes/No task: candidates from its source, then the
    registry does the rest: rows of every variant, the card's differences, the evaluator's checks and metric."""
    assert "muv" not in TASKS  # the example adds a task the registry does not have
    readme = (REPO_ROOT / "README.md").read_text()
    [entry] = re.findall(r"```python\n# instructmol/tasks.py, inside TASKS\n(Task\(.*?\n\)),\n```", readme, re.S)
    namespace = dict(Task=Task, Prompt=Prompt, with_string_only=with_string_only, GRAPH_ONLY=GRAPH_ONLY,
                     GRAPH_AND_STRING=GRAPH_AND_STRING, FROM_POOL=FROM_POOL, COMPOUND_SEQUENCE=COMPOUND_SEQUENCE,
                     WHOLE_INPUT=WHOLE_INPUT, CLASSIFICATION=CLASSIFICATION,
                     MUV_POOL=("Is this molecule active in the MUV assay? Answer Yes or No.",))
    monkeypatch.setitem(TASKS, "muv", eval(entry, namespace))  # the README's entry, as written there
    molecules = ["CCO", "c1ccccc1O", "CC(=O)O", "CCN"]
    candidates = candidates_dataset([
        candidate(row_id=str(index), task="muv", split="test", molecule_input=smiles,
                  target="Yes" if index % 2 else "No")
        for index, smiles in enumerate(molecules)
    ], "the new task's source")
    options = BuildOptions(seed=0)
    checked = resolve_molecules(candidates, options, notation="smiles", needs_text=True)
    build = build_task("muv", checked, variants=(GRAPH_ONLY, GRAPH_AND_STRING, STRING_ONLY), options=options)
    rows = list(build.configs["muv_gs"]["test"])
    assert flatten_content(rows[0]["prompt"][0]["content"])[0] == (
        "<mol>\nIs this molecule active in the MUV assay? Answer Yes or No. The compound SELFIES sequence is: [C][C][O]")
    [text_only] = [row for row in build.configs["muv_s"]["test"] if row["id"] == "0"]
    assert "images" not in text_only and text_only["prompt"][0]["content"] == (  # a plain causal LM's row
        "Is this molecule active in the MUV assay? Answer Yes or No. The compound SELFIES sequence is: [C][C][O]")
    check_rows(rows, tiny_processor)
    records = [{**row, "prompt": "", "prediction": row["target"], "p_yes": 0.8 if row["target"] == "Yes" else 0.2}
               for row in rows]
    [evaluation] = score_records(records)
    assert evaluation.name == "muv" and evaluation.metrics["roc_auc"] == 1.0


@pytest.mark.parametrize("variant", ["gs", "s"])
def test_a_prompt_that_writes_the_molecule_refuses_a_row_without_its_text(variant):
    # A builder that checked its molecules without needs_text would otherwise write "...sequence is: " and nothing.
    with pytest.raises(ValueError, match="row 'm1': the gap_.* prompt writes the molecule as text, and the row has none"):
        instruction_text(TASKS["gap"], variant, BuildOptions(), row_id="m1", record_instruction="What is the gap?",
                         molecule_text="")
    assert instruction_text(TASKS["gap"], variant, BuildOptions(), row_id="m1", record_instruction="What is the gap?",
                            molecule_text="[C][O]").endswith("The compound SELFIES sequence is: [C][O]")


def test_every_task_whose_rows_take_the_records_instruction_has_an_example_of_it():
    for task in TASKS.values():  # a multi-label task's record instruction is its label's question (label_question)
        takes_record = any(prompt.instruction == FROM_RECORD for prompt in task.prompts.values())
        assert bool(task.example_instruction) == (takes_record and task.labels is None), task.name
