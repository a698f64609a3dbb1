"""`instructmol evaluate` end to end: a tiny model, tiny Hub-native datasets of every task type written here.

One run goes through `python -m instructmol.cli` (a mixture config holding every task type); the others call the
CLI's `main()` in-process, the same code without another interpreter start (about 10 s each on a shared CPU).
"""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from huggingface_hub import ModelCard
from rdkit import Chem
from safetensors.torch import load_file, save_file
from sklearn.metrics import roc_auc_score
from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

from instructmol.cli import main
from instructmol.data import ROW_FEATURES, parquet_path
from instructmol.engines import TransformersEngine
from instructmol.loading import load_model_and_processor
from processing_instructmol import flatten_content
from launch import run_in_own_session
from evaluation_data import COLUMNLESS_CONFIG, CONFIGS, qm9_rows, write_dataset, write_vocabulary
from tests_paths import REPO_ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def vocabulary(tmp_path_factory) -> Path:
    return write_vocabulary(tmp_path_factory.mktemp("vocabulary") / "vocab.txt")


@pytest.fixture(scope="module")
def numeric_model_dir(tiny_model_dir, tmp_path_factory) -> Path:
    """The tiny model with an LM head that scores only digits, '.', '-', 'yes' and 'no': answers hold numbers."""
    folder = tmp_path_factory.mktemp("numeric-model")
    shutil.copytree(tiny_model_dir, folder, dirs_exist_ok=True)
    weights = load_file(folder / "model.safetensors")
    tokenizer_vocab = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    numeric_ids = [index for token, index in tokenizer_vocab.items() if token in {*"0123456789.-", "yes", "no"}]
    keep = torch.zeros(weights["lm_head.weight"].shape[0], 1)
    keep[numeric_ids] = 1
    weights["lm_head.weight"] = weights["lm_head.weight"] * keep
    save_file(weights, folder / "model.safetensors", metadata={"format": "pt"})
    return folder


def evaluate_in_process(*args) -> int:
    return main(["evaluate", *map(str, args)])


@pytest.fixture(scope="module")
def task_runs(tiny_model_dir, numeric_model_dir, data_dir, vocabulary, wordnet_available, tmp_path_factory) -> dict[str, Path]:
    """One run per task type, through the CLI's `main()`; each run's output folder."""
    runs = {
        "description": (tiny_model_dir, ["--caption-tokenizer", vocabulary, "--max-new-tokens", 8]),
        "qm9": (numeric_model_dir, ["--max-new-tokens", 6]),
        "bace": (tiny_model_dir, []),
        "forward": (tiny_model_dir, ["--max-new-tokens", 8]),
    }
    outputs = {}
    for config, (model, extra) in runs.items():
        outputs[config] = tmp_path_factory.mktemp(f"eval-{config}")
        assert evaluate_in_process("--model", model, "--dataset", data_dir, "--config", config,
                                   "--output", outputs[config], "--batch-size", 4, *extra) == 0
    return outputs


def read_predictions(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "predictions.jsonl").read_text().splitlines()]


EXPECTED = {  # config -> (evaluation name, metric keys, a number the paper printed for that task)
    "description": ("description", {"bleu2", "bleu4", "rouge1", "rouge2", "rougeL", "meteor"}, "0.466"),
    "qm9": ("qm9", {"mae", "mae_with_fallback", "per_property", "num_unparsable"}, "0.0082"),
    "bace": ("bace", {"roc_auc", "roc_auc_hard_label", "accuracy", "accuracy_hard_label"}, "84.3 (±0.6)"),
    "forward": ("forward", {"exact_match", "bleu", "levenshtein", "validity", "mode"}, "0.536"),
}


@pytest.mark.parametrize("config", list(EXPECTED))
def test_each_task_type_writes_predictions_metrics_and_report(task_runs, config, data_dir):
    output = task_runs[config]
    name, metric_keys, paper_number = EXPECTED[config]
    records = read_predictions(output)
    rows = [row for split, rows in CONFIGS[config].items() if split == "test" for row in rows]
    assert [(r["task"], r["id"]) for r in records] == [(row["task"], row["id"]) for row in rows]
    assert all(set(r) >= {"id", "task", "smiles", "prompt", "prediction", "target"} for r in records)
    assert records[0]["prompt"] == flatten_content(rows[0]["prompt"][0]["content"])[0] and records[0]["target"] == rows[0]["target"]

    summary = json.loads((output / "metrics.json").read_text())
    assert summary["rows"] == len(rows) and summary["dataset"] == str(data_dir) and summary["config"] == config
    assert metric_keys <= set(summary["evaluations"][name]["metrics"])
    report = (output / "report.md").read_text()
    assert paper_number in report and summary["command"] in report and "mode molt5" in report
    for figure in summary["evaluations"][name]["figures"]:
        assert f"]({figure})" in report and (output / figure).read_bytes().startswith(PNG_SIGNATURE)


def test_the_command_line_scores_every_task_type_of_a_mixture(numeric_model_dir, data_dir, vocabulary, wordnet_available, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "instructmol.cli", "evaluate", "--model", str(numeric_model_dir), "--dataset", str(data_dir),
         "--config", "mixture", "--output", str(tmp_path), "--caption-tokenizer", str(vocabulary), "--max-new-tokens", "6"],
        check=False, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "metrics.json").read_text())
    assert list(summary["evaluations"]) == [name for name, _, _ in EXPECTED.values()] and summary["rows"] == 27
    assert len(read_predictions(tmp_path)) == 27
    report = (tmp_path / "report.md").read_text()
    figures = [figure for evaluation in summary["evaluations"].values() for figure in evaluation["figures"]]
    assert len(figures) == 4  # three QM9 parity plots and one ROC curve
    for figure in figures:
        assert f"]({figure})" in report and (tmp_path / figure).read_bytes().startswith(PNG_SIGNATURE)
    assert all(paper_number in report for _, _, paper_number in EXPECTED.values())


def test_regression_is_per_property_with_a_parity_plot_each_and_train_mean_fallback(task_runs):
    evaluation = json.loads((task_runs["qm9"] / "metrics.json").read_text())["evaluations"]["qm9"]
    assert set(evaluation["metrics"]["per_property"]) == {"homo", "lumo", "gap"}
    assert evaluation["figures"] == ["homo_parity.png", "lumo_parity.png", "gap_parity.png"]
    assert evaluation["settings"]["fallback"] == "train-split mean"
    assert evaluation["metrics"]["num_unparsable"] < 9  # the numeric head writes numbers


def test_reaction_targets_are_read_as_selfies(task_runs):
    evaluation = json.loads((task_runs["forward"] / "metrics.json").read_text())["evaluations"]["forward"]
    assert evaluation["settings"] == {"mode": "molt5", "input_format": "selfies"}
    assert "molecules read as SELFIES" in (task_runs["forward"] / "report.md").read_text()


def test_p_yes_is_the_trained_answer_token_probability_and_roc_auc_is_sklearns(task_runs, tiny_model, tiny_processor):
    records = read_predictions(task_runs["bace"])
    p_yes = [record["p_yes"] for record in records]
    labels = [int(record["target"] == "Yes") for record in records]
    assert all(0 <= p <= 1 for p in p_yes) and len(set(p_yes)) > 1
    metrics = json.loads((task_runs["bace"] / "metrics.json").read_text())["evaluations"]["bace"]["metrics"]
    assert metrics["roc_auc"] == pytest.approx(roc_auc_score(labels, p_yes), abs=1e-12)

    # The same probability from TRL's own training collator: logits before the first completion token.
    row = CONFIGS["bace"]["test"][0]
    collator = DataCollatorForVisionLanguageModeling(tiny_processor, completion_only_loss=True)
    first_token_logits = {}
    for answer in ("Yes", "No"):
        batch = collator([{"images": row["images"], "prompt": row["prompt"],
                           "completion": [{"role": "assistant", "content": answer}]}])
        first = int((batch["labels"][0] != -100).nonzero()[0])
        with torch.no_grad():
            logits = tiny_model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0, first - 1]
        first_token_logits[answer] = logits[batch["input_ids"][0, first]]
    expected = torch.softmax(torch.stack([first_token_logits["Yes"], first_token_logits["No"]]), dim=0)[0]
    assert records[0]["p_yes"] == pytest.approx(float(expected), abs=1e-5)


def error_line(stderr: str) -> str:
    """The CLI's error message: exactly one line (progress bars may share stderr)."""
    lines = [line for line in stderr.splitlines() if line.startswith("instructmol evaluate: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


def test_an_interrupted_run_resumes_with_the_missing_rows_only(tiny_model_dir, data_dir, tmp_path, monkeypatch):
    generated_ids = []
    original = TransformersEngine.generate

    def counting_generate(engine, conversations, decoding):
        generated_ids.extend(smiles_of(conversation) for conversation in conversations)
        return original(engine, conversations, decoding)

    smiles_ids = {row["images"][0]: row["id"] for row in CONFIGS["bace"]["test"]}

    def smiles_of(conversation: list[dict]) -> str:
        return smiles_ids[next(block[block["type"]] for block in conversation[0]["content"]
                                if block["type"] in ("image", "molecule"))]

    monkeypatch.setattr(TransformersEngine, "generate", counting_generate)
    common = ["--model", tiny_model_dir, "--dataset", data_dir, "--config", "bace", "--output", tmp_path, "--batch-size", 2]
    assert evaluate_in_process(*common, "--limit", 3) == 0
    assert generated_ids == ["b0", "b1", "b2"]
    first_lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert json.loads((tmp_path / "metrics.json").read_text())["rows"] == 3

    generated_ids.clear()
    assert evaluate_in_process(*common) == 0
    assert generated_ids == ["b3", "b4", "b5", "b6", "b7"]
    lines = (tmp_path / "predictions.jsonl").read_text().splitlines()
    assert lines[:3] == first_lines and len(lines) == len(CONFIGS["bace"]["test"])
    assert json.loads((tmp_path / "metrics.json").read_text())["rows"] == len(CONFIGS["bace"]["test"])

    generated_ids.clear()
    assert evaluate_in_process(*common) == 0  # complete: scores again without generating anything
    assert generated_ids == []


def test_an_evaluation_featurizes_each_molecule_once(tiny_model_dir, data_dir, tmp_path, monkeypatch):
    """The model's own processor checks the rows, then generation and the Yes-probabilities read the graphs from its
    featurizer's cache: N rows with N distinct molecules cost N RDKit parses in the whole run."""
    parsed = []
    parse = Chem.MolFromSmiles
    monkeypatch.setattr(Chem, "MolFromSmiles", lambda smiles, *args, **kwargs: parsed.append(smiles) or parse(
        smiles, *args, **kwargs))
    molecules = [row["images"][0] for row in CONFIGS["bace"]["test"]]
    assert len(set(molecules)) == len(molecules) > 1
    assert evaluate_in_process("--model", tiny_model_dir, "--dataset", data_dir, "--config", "bace",
                               "--output", tmp_path, "--batch-size", 3) == 0
    assert sorted(parsed) == sorted(molecules)


def test_resuming_with_other_settings_is_refused(tiny_model_dir, data_dir, tmp_path, capsys):
    common = ["--model", tiny_model_dir, "--dataset", data_dir, "--config", "bace", "--output", tmp_path, "--limit", 2]
    assert evaluate_in_process(*common) == 0
    assert evaluate_in_process(*common, "--max-new-tokens", 3) == 2
    assert "max_new_tokens: 8 before, 3 now" in error_line(capsys.readouterr().err)


def test_batched_predictions_equal_one_at_a_time(tiny_model_dir, data_dir, tmp_path):
    for batch_size in (1, 8):
        assert evaluate_in_process("--model", tiny_model_dir, "--dataset", data_dir, "--config", "bace",
                                   "--output", tmp_path / str(batch_size), "--batch-size", batch_size,
                                   "--max-new-tokens", 5) == 0
    one_at_a_time, batched = read_predictions(tmp_path / "1"), read_predictions(tmp_path / "8")
    assert [r["prediction"] for r in batched] == [r["prediction"] for r in one_at_a_time]
    assert len({r["prediction"] for r in batched}) > 1  # different molecules, different answers: padding mattered
    assert [r["p_yes"] for r in batched] == pytest.approx([r["p_yes"] for r in one_at_a_time], abs=1e-5)


def test_sampling_with_a_seed_is_reproducible(tiny_model_dir, data_dir, tmp_path):
    def sampled(seed: int, output: str) -> list[str]:
        assert evaluate_in_process("--model", tiny_model_dir, "--dataset", data_dir, "--config", "bace", "--limit", 4,
                                   "--output", tmp_path / output, "--sample", "--seed", seed, "--max-new-tokens", 6) == 0
        return [record["prediction"] for record in read_predictions(tmp_path / output)]

    first = sampled(7, "first")
    assert sampled(7, "again") == first
    assert sampled(8, "other seed") != first


def test_update_card_writes_a_model_index_the_hub_parser_reads(numeric_model_dir, data_dir, tmp_path):
    model_dir = tmp_path / "model"
    shutil.copytree(numeric_model_dir, model_dir)
    for config in ("bace", "bace", "qm9"):  # bace twice: its results are replaced, not repeated
        assert evaluate_in_process("--model", model_dir, "--dataset", data_dir, "--config", config,
                                   "--output", tmp_path / config, "--update-card", "--max-new-tokens", 4) == 0
    card = ModelCard.load(model_dir / "README.md")
    results = card.data.eval_results
    bace_auc = [r for r in results if r.dataset_config == "bace" and r.metric_type == "roc_auc"]
    assert len(bace_auc) == 1 and bace_auc[0].dataset_split == "test" and bace_auc[0].dataset_type == str(data_dir)
    expected = json.loads((tmp_path / "bace" / "metrics.json").read_text())["evaluations"]["bace"]["metrics"]
    assert bace_auc[0].metric_value == pytest.approx(100 * expected["roc_auc"], abs=1e-4)
    assert {(r.metric_type, r.metric_config) for r in results if r.dataset_config == "qm9"} >= {("mae", "gap"), ("mae", "qm9")}
    evaluation_section = card.text.split("## Evaluation")[1].split("\n## ")[0]
    assert "Not evaluated yet" not in card.text and evaluation_section.count("\n| ") == len(results) + 1
    assert "## Limitations" in card.text  # the rest of the card is kept
    # Every result says how it was decoded, in the metadata and in the table.
    assert {r.metric_args["decoding"] for r in results} == {"greedy"}
    assert "| decoding |" in evaluation_section and "| greedy |" in evaluation_section


def write_configs(folder: Path, configs: dict[str, dict[str, list[dict]]]) -> Path:
    """A Hub-native dataset folder holding `configs` (config -> split -> rows)."""
    card = ["---", "configs:"]
    for config, splits in configs.items():
        card += [f"- config_name: {config}", "  data_files:"]
        for split, rows in splits.items():
            path = folder / parquet_path(config, split)
            path.parent.mkdir(parents=True, exist_ok=True)
            Dataset.from_list(rows, features=ROW_FEATURES).to_parquet(path)
            card += [f"  - split: {split}", f"    path: {parquet_path(config, split)}"]
    (folder / "README.md").write_text("\n".join([*card, "---", ""]))
    return folder


def test_exclude_train_overlap_leaves_out_test_molecules_of_the_train_split(numeric_model_dir, tmp_path):
    # OCC is ethanol, written otherwise than the train split's CCO: the same InChIKey.
    data = write_configs(tmp_path / "data", {"qm9_g": {"train": qm9_rows(["CCO", "CC(C)=O"], 100),
                                                      "test": qm9_rows(["OCC", "c1ccccc1O", "CCN"], 0)}})
    assert evaluate_in_process("--model", numeric_model_dir, "--dataset", data, "--config", "qm9_g", "--output",
                               tmp_path / "out", "--exclude-train-overlap", "--max-new-tokens", 4) == 0
    summary = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert summary["excluded_train_overlap"] == 3 and summary["rows"] == 6  # ethanol's three properties left out
    assert {record["smiles"] for record in read_predictions(tmp_path / "out")} == {"c1ccccc1O", "CCN"}
    assert "--exclude-train-overlap) | 3 |" in (tmp_path / "out" / "report.md").read_text()
    assert "--exclude-train-overlap" in summary["command"]


def test_paper_table_evaluates_the_given_rows_with_the_released_decoding(tiny_model_dir, tmp_path):
    bace_rows = CONFIGS["bace"]["test"]
    data = write_configs(tmp_path / "data", {"bace_g": {"test": bace_rows}})

    def table(output: str) -> tuple[str, dict]:
        assert evaluate_in_process("--paper-table", 2, "--models", f"g={tiny_model_dir}", "--dataset", data,
                                   "--output", tmp_path / output, "--max-new-tokens", 4) == 0
        return (tmp_path / output / "table.md").read_text(), json.loads((tmp_path / output / "table.json").read_text())

    markdown, record = table("first")
    run = json.loads((tmp_path / "first" / "g" / "bace_g" / "metrics.json").read_text())
    assert run["decoding"] == {"strategy": "sampling", "temperature": 0.2, "seed": 0}  # the released decoding
    ours = next(result for result in run["results"] if result["metric"] == "roc_auc_hard_label")["displayed"]
    row = next(line for line in markdown.splitlines() if line.startswith("| Instruct-G |"))
    # The paper's column order: BACE, BBBP, HIV; only BACE's config was given.
    assert row == f"| Instruct-G | {ours} / 84.3 (±0.6) | – / 68.6 (±0.3) | – / 74.0 (±0.1) |"
    assert "| Vicuna-v1.3-7B* | – / 68.3 | – / 60.1 | – / 58.1 |" in markdown
    assert "`bbbp_g` not run (no dataset given holds it)" in markdown and "Decoding: sampling, temperature 0.2" in markdown
    assert sum(cell["ours"] is not None for cell in record["cells"]) == 1
    assert table("again") == (markdown, record)  # the seeded sampling gives the same table


def test_paper_table_refuses_rows_the_table_does_not_have(tiny_model_dir, data_dir, tmp_path, capsys):
    assert evaluate_in_process("--paper-table", 2, "--models", f"mlp_projector={tiny_model_dir}", "--dataset",
                               data_dir, "--output", tmp_path) == 2
    assert "Table 2 has no row 'mlp_projector'; its rows are g, gs, s" in error_line(capsys.readouterr().err)


def test_update_card_refuses_a_hub_repo_before_any_work(data_dir, tmp_path, capsys):
    assert evaluate_in_process("--model", "someone/instructmol", "--dataset", data_dir, "--config", "bace",
                               "--output", tmp_path, "--update-card") == 2
    assert "--update-card writes the card of a local model folder" in error_line(capsys.readouterr().err)


@pytest.mark.parametrize(("config", "split", "message"), [
    ("nope", "test", "has no config 'nope'; its configs are description, qm9"),
    ("qm9", "validation", "has no split 'validation'; it has train, test"),
    (COLUMNLESS_CONFIG, "test", "lacks the column(s) prompt, task, id, target"),
    ("mystery", "test", "unknown task 'dipole' (row 'x0')"),
    ("legacy", "test", "built before the task registry (it is now 'gap'"),
    ("maybe", "test", "Row 'y0': a classification target must be 'Yes' or 'No', not 'Maybe'"),
])
def test_bad_input_ends_with_one_line_naming_it(tiny_model_dir, data_dir, tmp_path, capsys, config, split, message):
    assert evaluate_in_process("--model", tiny_model_dir, "--dataset", data_dir, "--config", config,
                               "--split", split, "--output", tmp_path) == 2
    assert message in error_line(capsys.readouterr().err)


def test_a_missing_dataset_is_named(tiny_model_dir, tmp_path, capsys):
    assert evaluate_in_process("--model", tiny_model_dir, "--dataset", tmp_path / "absent", "--config", "bace",
                               "--output", tmp_path / "out") == 2
    assert f"cannot find the dataset '{tmp_path / 'absent'}'" in error_line(capsys.readouterr().err)


def test_a_missing_caption_vocabulary_stops_the_run_before_generation(tiny_model_dir, data_dir, tmp_path, capsys):
    assert evaluate_in_process("--model", tiny_model_dir, "--dataset", data_dir, "--config", "description",
                               "--output", tmp_path, "--caption-tokenizer", tmp_path / "no-vocabulary") == 2
    assert "the description metrics cannot run" in error_line(capsys.readouterr().err)
    assert not (tmp_path / "predictions.jsonl").exists()


def test_an_adapter_folder_is_evaluated_as_base_plus_adapter(tiny_model_dir, data_dir, tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model

    from modeling_instructmol import InstructMolForConditionalGeneration

    def base_model():
        return InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir).eval()

    lora = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)  # random: not a no-op
    get_peft_model(base_model(), lora).save_pretrained(tmp_path / "adapter")
    model, processor = load_model_and_processor(str(tmp_path / "adapter"))
    inputs = processor(text=["USER: <mol>\nwhat is this? ASSISTANT:"], molecules=[["c1ccccc1O"]], return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits
        torch.testing.assert_close(logits, PeftModel.from_pretrained(base_model(), str(tmp_path / "adapter"))(**inputs).logits)
        assert not torch.allclose(logits, base_model()(**inputs).logits, atol=1e-4)
    assert evaluate_in_process("--model", tmp_path / "adapter", "--dataset", data_dir, "--config", "bace",
                               "--output", tmp_path / "out", "--limit", 2) == 0
    assert len(read_predictions(tmp_path / "out")) == 2


def launch_two_processes(*args, marker: Path) -> subprocess.CompletedProcess:
    """`accelerate launch` of `instructmol evaluate` on two CPU processes (gloo)."""
    command = ["accelerate", "launch", "--config_file", str(REPO_ROOT / "recipes" / "accelerate" / "cpu_2proc.yaml"),
               "-m", "instructmol.cli", "evaluate", *map(str, args)]
    result = run_in_own_session(command, timeout=300, marker=str(marker))
    assert result.returncode == 0, result.stderr[-4000:]
    return result


def test_two_processes_shard_the_rows_and_give_what_one_process_gives(numeric_model_dir, data_dir, vocabulary,
                                                                     wordnet_available, tmp_path):
    common = ("--model", numeric_model_dir, "--dataset", data_dir, "--config", "mixture", "--max-new-tokens", 4,
              "--caption-tokenizer", vocabulary)
    assert evaluate_in_process(*common, "--output", tmp_path / "one") == 0
    launched = launch_two_processes(*common, "--output", tmp_path / "two", marker=tmp_path / "two")
    rows = len(CONFIGS["mixture"]["test"])  # 27: process 0 takes rows 0, 2, ..., process 1 rows 1, 3, ...
    for share in ((rows + 1) // 2, rows // 2):
        assert f"Generating answers for {share} of {share} rows" in launched.stderr
    assert read_predictions(tmp_path / "two") == read_predictions(tmp_path / "one")  # merged in row order
    assert not list((tmp_path / "two").glob("predictions.shard-*"))
    one, two = (json.loads((tmp_path / name / "metrics.json").read_text()) for name in ("one", "two"))
    assert two["results"] == one["results"] and two["rows"] == len(CONFIGS["mixture"]["test"])

    # An interrupted sharded run resumes per shard: records already in a shard file are kept, not generated again.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    shutil.copy(tmp_path / "two" / "run.json", resumed / "run.json")
    records = read_predictions(tmp_path / "one")
    records[0]["prediction"] = "kept from the interrupted run"  # row 0 belongs to process 0
    (resumed / "predictions.shard-0-of-2.jsonl").write_text(
        "".join(json.dumps(record) + "\n" for record in records[0:4:2]) + '{"id": "cut')  # an unfinished line
    (resumed / "predictions.shard-1-of-2.jsonl").write_text(json.dumps(records[1]) + "\n")
    launch_two_processes(*common, "--output", resumed, marker=resumed)
    assert read_predictions(resumed) == records
