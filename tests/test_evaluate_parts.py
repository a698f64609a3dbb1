"""The evaluation harness's parts that need no model: the prediction store, molecule formats, paper numbers, cards."""

import json

import pytest
from huggingface_hub import EvalResult

from instructmol.data import smiles_to_selfies
from instructmol.evaluation.model_card import merge_results, replace_evaluation_section
from instructmol.evaluation import EvaluationSettings
from instructmol.evaluation.paper_results import PAPER_RESULTS, paper_results
from instructmol.evaluation.paper_results import PAPER_TABLES
from instructmol.evaluation.paper_table import render_table, table_by_number
from instructmol.evaluation.predictions import PredictionStore, prediction_record
from instructmol.evaluation.report import METRIC_DISPLAYS
from instructmol.evaluation.targets import molecule_format
from instructmol.tasks import GROUPS, TASKS

ROWS = [{"id": str(index), "task": "gap", "smiles": "CCO", "images": ["CCO"],
         "prompt": [{"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": "gap?"}]}],
         "target": "0.25"} for index in range(3)]


def record(row: dict, prediction: str) -> dict:
    return prediction_record(row, prediction)


def test_a_line_cut_by_an_interrupted_run_is_dropped_and_its_row_generated_again(tmp_path):
    PredictionStore(tmp_path).append([record(ROWS[0], "0.25"), record(ROWS[1], "0.3")])
    path = tmp_path / "predictions.jsonl"
    path.write_text(path.read_text() + json.dumps(record(ROWS[2], "0.1"))[:20])  # killed mid-line

    store = PredictionStore(tmp_path)
    assert store.missing(ROWS) == [ROWS[2]]
    store.append([record(ROWS[2], "0.1")])
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == ["0", "1", "2"]


def test_a_corrupt_line_in_the_middle_is_an_error_naming_it(tmp_path):
    (tmp_path / "predictions.jsonl").write_text(json.dumps(record(ROWS[0], "1")) + "\nnot json\n")
    with pytest.raises(ValueError, match="line 2 is not a JSON record"):
        PredictionStore(tmp_path)


def test_records_are_keyed_by_task_and_id(tmp_path):
    store = PredictionStore(tmp_path)
    store.append([record(ROWS[0], "0.25")])
    same_id_other_task = {**ROWS[0], "task": "homo"}
    assert store.missing([ROWS[0], same_id_other_task]) == [same_id_other_task]


@pytest.mark.parametrize(("targets", "expected"), [
    ([smiles_to_selfies("CCOC(C)=O"), smiles_to_selfies("CCO.O")], "selfies"),
    (["CCOC(C)=O", "CCO.O"], "smiles"),
    ([smiles_to_selfies("CCO"), "CCO"], "smiles"),  # one SMILES: the set is read as SMILES
    (["[Na+].[Cl-]"], "smiles"),  # bracket atoms only, yet no SELFIES symbols ("[Na+1]" would be)
])
def test_reaction_targets_format_is_detected(targets, expected):
    assert molecule_format(targets) == expected


def test_paper_numbers_match_their_printed_text_and_our_metric_names():
    # Tables 1-4's InstructMol-G and -GS rows (68), their LoRA-tuned LLM rows (3 + 21), Table 11 (4), Table 10 (36).
    assert len(PAPER_RESULTS) == 132
    for result in PAPER_RESULTS:
        printed = float(result.printed.split()[0].lstrip("~"))  # Table 10 prints "~0" for the frozen LLM
        assert printed in (pytest.approx(result.value), pytest.approx(100 * result.value)), result
        family = TASKS[result.task].metric if result.task in TASKS else TASKS[GROUPS[result.task].members[0]].metric
        assert result.metric in METRIC_DISPLAYS.get(family, {"mae": None}), result
    assert paper_results("description", "bleu2")["InstructMol-GS"].value == 0.475
    assert paper_results("retrosynthesis", "exact_match")["InstructMol-G"].printed == "0.114"
    assert paper_results("alignment", "bleu2") == {}


def eval_result(config: str, metric: str, value: float) -> EvalResult:
    return EvalResult(task_type="image-text-to-text", dataset_type="data", dataset_name="data", dataset_config=config,
                      dataset_split="test", metric_type=metric, metric_value=value)


def test_new_results_replace_the_same_quantity_and_keep_the_others():
    existing = [eval_result("bace", "roc_auc", 0.5), eval_result("bbbp", "roc_auc", 0.6)]
    merged = merge_results(existing, [eval_result("bace", "roc_auc", 0.7)])
    assert [(r.dataset_config, r.metric_value) for r in merged] == [("bbbp", 0.6), ("bace", 0.7)]


def test_the_evaluation_section_is_replaced_or_added():
    card = "# Model\n\n## Evaluation\n\nNot evaluated yet.\n\n## Limitations\n\n- some\n"
    assert replace_evaluation_section(card, "| a |") == "# Model\n\n## Evaluation\n\n| a |\n\n## Limitations\n\n- some\n"
    assert replace_evaluation_section("# Model\n", "| a |") == "# Model\n\n## Evaluation\n\n| a |\n\n"


@pytest.mark.parametrize("number", PAPER_TABLES)
def test_a_paper_table_renders_every_published_cell(number):
    table = table_by_number(number)
    markdown = render_table(table, {}, EvaluationSettings(model="m", dataset="d", config="c", sample=True), [])
    published = [result for result in PAPER_RESULTS if result.table == f"Table {number}"]
    assert published and len(table.rows) * len(table.columns) >= len(published)
    body = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| |")]
    assert len(body) == len(table.rows)
    for result in published:  # every published number sits in its row, in its column
        row = next(row for row in table.rows if table.published(row).get((result.task, result.metric)) == result)
        line = next(line for line in body if line.startswith(f"| {row.label} |"))
        column = table.columns.index((result.task, result.metric))
        assert line.split(" | ")[1 + column].rstrip(" |") == f"– / {result.printed}"
