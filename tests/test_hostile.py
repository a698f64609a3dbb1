"""Hostile input, as a new user (or a careless script) gives it: every case ends in a clear error naming the culprit,
or is handled, and loses nothing. Each test is named after what it guards; `Dn` is the defect it reproduces."""

import gzip
import importlib.util
import json
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
import torch
from datasets import Dataset, load_dataset
from safetensors.torch import load_file, save_file

from instructmol import metrics
from instructmol.cli import main
from instructmol.data import ROW_FEATURES, conversation_row, parquet_path
from instructmol.evaluation.predictions import exclusive_output
from instructmol.hub import push_dataset_folder, push_model_folder
from modeling_instructmol import InstructMolForConditionalGeneration
from featurization_instructmol import MolecularGraphFeaturizer
from test_conversion import fake_moleculestm_state_dict
from tests_paths import REPO_ROOT

REPO = "test-user/never-created"  # never contacted: every case fails its check first


def run_cli(capsys, *args) -> tuple[int, str]:
    """`instructmol ARGS` in this process: (exit code, the one error line; '' when it succeeded)."""
    code = main([str(arg) for arg in args])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("instructmol ")]
    assert code == 0 or len(errors) == 1, errors
    return code, errors[0] if errors else ""


def load_builder(name: str):
    spec = importlib.util.spec_from_file_location(f"hostile_builder_{name}", REPO_ROOT / "datasets" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build(name: str, *args) -> None:
    """A builder script's main() in this process (argv as the card records it)."""
    arguments = [str(arg) for arg in args]
    with mock.patch.object(sys, "argv", [f"{name}.py", *arguments]):
        load_builder(name).main(arguments)


def card_drops(output: Path) -> dict[str, int]:
    """Every drop reason of the card's counts table, summed over tasks and splits."""
    lines = [line for line in (output / "README.md").read_text().splitlines() if line.startswith("| ")]
    start = next(index for index, line in enumerate(lines) if line.startswith("| task | configs | split"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    totals: dict[str, int] = {}
    for line in lines[start + 1:]:
        for column, cell in zip(header, (cell.strip() for cell in line.strip("|").split("|"))):
            if column.startswith("dropped: ") and int(cell):
                totals[column.removeprefix("dropped: ")] = totals.get(column.removeprefix("dropped: "), 0) + int(cell)
    return totals


def write_chebi20(folder: Path, test_rows: list[tuple[str, str, str]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test.txt").write_text("CID\tSMILES\tdescription\n" + "".join("\t".join(row) + "\n" for row in test_rows))
    return folder


# ---------------------------------------------------------------- SMILES and the processor (D3, D4, D18)


@pytest.mark.parametrize("smiles", ["C C", "CC\nO", "CCé☃", "CCO CCO", "CC\tO"])
def test_d3_a_smiles_is_read_whole_or_refused(tiny_processor, smiles):
    with pytest.raises(ValueError, match="Sample 0: the SMILES .* which SMILES does not use"):
        tiny_processor(text="<mol> x", molecules=[smiles])


def test_d3_builders_drop_smiles_rdkit_would_read_in_part(tmp_path):
    source = write_chebi20(tmp_path / "chebi20", [("1", "C C", "The molecule is methane twice over."),
                                                  ("2", "CCO", "The molecule is ethanol, an alcohol.")])
    build("chebi20", "--output", tmp_path / "out", "--source", source, "--splits", "test", "--num-proc", "1")
    assert card_drops(tmp_path / "out") == {"SMILES rejected by the featurizer": 1}


def test_d4_a_huge_molecule_is_refused_at_once_with_the_limit():
    with pytest.raises(ValueError, match="characters long, more than the 65536"):
        MolecularGraphFeaturizer().featurize("C" * 1_000_000)
    with pytest.raises(ValueError, match="has 5000 atoms, more than the 4096"):
        MolecularGraphFeaturizer().featurize("C" * 5000)
    graph = MolecularGraphFeaturizer().featurize("C" * 4096)  # at the limit: read in linear time
    assert graph.num_atoms == 4096 and graph.edge_index.shape == (2, 2 * 4095)


@pytest.mark.parametrize(("call", "message"), [
    ({"text": "<mol> x", "molecules": [[["CCO"]]]}, "Sample 0: a molecule must be a SMILES string, got list"),
    ({"text": [], "molecules": None}, "`text` must be a string or a non-empty list of strings"),
    ({"text": 5}, "`text` must be a string or a non-empty list of strings, got 5"),
    ({"text": [None]}, "Sample 0: the text must be a string, got NoneType"),
    ({"text": b"<mol> x", "molecules": ["CCO"]}, "`text` must be a string or a non-empty list of strings"),
    ({"text": "<mol> x", "molecules": ["CCO"], "is_split_into_words": True}, "does not support is_split_into_words"),
    ({"text": "x \ud800 <mol>", "molecules": ["CCO"]}, "Sample 0: the text holds '\\\\ud800' at position 2"),
    ({"text": "<mol> x", "molecules": ["CCO"], "return_overflowing_tokens": True},
     "does not support return_overflowing_tokens"),
])
def test_d18_processor_inputs_are_checked_naming_the_sample(tiny_processor, call, message):
    with pytest.raises(ValueError, match=message):
        tiny_processor(**call)


def test_d18_processor_reads_a_generator_of_molecules_and_refuses_blocks_without_text(tiny_processor):
    inputs = tiny_processor(text="<mol> x", molecules=(smiles for smiles in ["CCO"]))
    assert inputs["atom_features"].shape == (3, 9)
    with pytest.raises(ValueError, match="A text block needs a string under 'text'"):
        tiny_processor.apply_chat_template([{"role": "user", "content": [{"type": "text"}]}])
    with pytest.raises(ValueError, match=r"Expected generated ids of shape \[batch, length\]"):
        tiny_processor.post_process_generation([])


# ---------------------------------------------------------------- graph batches (D6, D21)


@pytest.fixture
def graph_inputs(tiny_processor):
    return tiny_processor(text="USER: <mol>\nwhat is it? ASSISTANT:", molecules=["c1ccccc1O"], return_tensors="pt")


@pytest.mark.parametrize(("change", "message"), [
    (lambda inputs: {"bond_features": inputs["bond_features"][:1]}, "with the same num_edges"),
    (lambda inputs: {"atom_features": inputs["atom_features"][:, :8]}, r"atom_features \[num_atoms, 9\]"),
    (lambda inputs: {"edge_index": inputs["edge_index"] + 100}, "edge_index points at atoms outside 0..6"),
    (lambda inputs: {"atom_features": inputs["atom_features"].index_fill(1, torch.tensor([0]), 500)},
     r"atom_features\[0, 0\] is 500, outside its embedding table of 119 rows"),
    (lambda inputs: {"bond_features": inputs["bond_features"].index_fill(1, torch.tensor([2]), -1)},
     r"bond_features\[0, 2\] is -1, outside its embedding table of 2 rows"),
    (lambda inputs: {"atom_features": inputs["atom_features"].float()}, "hold integer indices"),
])
def test_d6_d21_graph_batches_are_checked_before_the_encoder_reads_them(tiny_model, graph_inputs, change, message):
    with pytest.raises(ValueError, match=message), torch.no_grad():
        tiny_model(**{**graph_inputs, **change(graph_inputs)})


def test_d21_a_training_graph_encoder_on_one_atom_says_why(tiny_model, tiny_processor):
    tiny_model.config.freeze_graph_encoder = False
    tiny_model.freeze_from_config()
    tiny_model.train()
    inputs = tiny_processor(text="<mol> x", molecules=["C"], return_tensors="pt")
    with pytest.raises(ValueError, match="got a batch of one atom: its BatchNorm needs at least two"):
        tiny_model(**inputs)


# ---------------------------------------------------------------- init, conversion, loading, the CLI (D1, D5, D19, D20)


def save_checkpoint(path: Path, state: dict) -> Path:
    torch.save(state, path)
    return path


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda state: state["molecule_node_model.gnns.0.mlp.0.weight"].fill_(float("nan")),
     "gnns.0.mlp.0.weight holds NaN or infinite values"),
    (lambda state: state["molecule_node_model.gnns.1.mlp.3.weight"].zero_(), "gnns.1.mlp.3.weight is all zeros"),
    (lambda state: state["molecule_node_model.batch_norms.2.running_var"].fill_(-1.0),
     "batch_norms.2.running_var holds a variance that is not positive"),
])
def test_d5_init_refuses_unusable_graph_encoder_weights(capsys, tiny_llm_dir, tmp_path, spoil, message):
    state = fake_moleculestm_state_dict()
    spoil(state)
    checkpoint = save_checkpoint(tmp_path / "molecule_model.pth", state)
    code, error = run_cli(capsys, "init", "--llm", tiny_llm_dir, "--graph-encoder", checkpoint, "--output", tmp_path / "m")
    assert code == 2 and message in error and not (tmp_path / "m").exists()


def test_d20_a_table_of_another_width_is_named():
    state = fake_moleculestm_state_dict()
    table = "molecule_node_model.atom_encoder.atom_embedding_list.0.weight"
    state[table] = state[table][:, :-1].clone()
    from instructmol.conversion import CheckpointConversionError, convert_moleculestm_state_dict

    with pytest.raises(CheckpointConversionError, match=r"another width .*\['molecule_node_model\.atom_encoder"
                                                        r"\.atom_embedding_list\.0\.weight \(299\)'\]"):
        convert_moleculestm_state_dict(state)


def graph_encoder_files(tmp_path: Path) -> dict[str, Path]:
    """Checkpoint files as careless hands make them."""
    files = {"empty": tmp_path / "empty.pth", "random bytes": tmp_path / "random.pth",
             "not tensors": tmp_path / "values.pth"}
    files["empty"].write_bytes(b"")
    files["random bytes"].write_bytes(bytes(range(256)) * 4)
    torch.save({"weight": 3.5}, files["not tensors"])
    full = tmp_path / "full.pth"
    torch.save(fake_moleculestm_state_dict(), full)
    files["truncated"] = tmp_path / "truncated.pth"
    files["truncated"].write_bytes(full.read_bytes()[:4000])
    files["a folder"] = tmp_path
    return files


@pytest.mark.parametrize(("case", "message"), [
    ("empty", "is not a PyTorch checkpoint (it is empty)"),
    ("random bytes", "is not a PyTorch checkpoint (it is neither a zip archive nor a pickle)"),
    ("not tensors", "these entries are not tensors: ['weight']"),
    ("truncated", "cannot be read as a PyTorch checkpoint (truncated?)"),
    ("a folder", "is a folder; --graph-encoder takes the .pth file itself"),
])
def test_d19_init_names_a_bad_graph_encoder_file(capsys, tiny_llm_dir, tmp_path, case, message):
    path = graph_encoder_files(tmp_path)[case]
    code, error = run_cli(capsys, "init", "--llm", tiny_llm_dir, "--graph-encoder", path, "--output", tmp_path / "m")
    assert code == 2 and message in error and str(path) in error


@pytest.mark.parametrize(("arguments", "message"), [
    (["--llm", "/nonexistent/llm"], "the LLM folder /nonexistent/llm does not exist"),
    (["--gguf-file", "absent.gguf"], "holds no GGUF file 'absent.gguf'"),
])
def test_d19_init_names_a_missing_llm(capsys, tiny_llm_dir, tmp_path, arguments, message):
    options = {"--llm": str(tiny_llm_dir), **dict(zip(arguments[::2], arguments[1::2]))}
    code, error = run_cli(capsys, "init", *[item for pair in options.items() for item in pair], "--output", tmp_path / "m")
    assert code == 2 and message in error


def test_d19_init_refuses_an_output_that_is_a_file(capsys, tiny_llm_dir, tmp_path):
    (tmp_path / "m").write_text("not a folder")
    code, error = run_cli(capsys, "init", "--llm", tiny_llm_dir, "--output", tmp_path / "m")
    assert code == 2 and "is a file" in error


def test_d19_debug_shows_the_traceback(tiny_llm_dir, tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["--debug", "init", "--llm", "/nonexistent/llm", "--output", str(tmp_path / "m")])


@pytest.fixture
def adapter_dir(tiny_model_dir, tmp_path) -> Path:
    """A stage-2 LoRA adapter on the tiny model, as `trl sft` saves it."""
    from peft import LoraConfig, get_peft_model

    model = InstructMolForConditionalGeneration.from_pretrained(tiny_model_dir)
    get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"])).save_pretrained(tmp_path / "adapter")
    return tmp_path / "adapter"


def test_d1_merge_refuses_a_base_that_is_not_instructmol(capsys, adapter_dir, tiny_llm_dir, tmp_path):
    code, error = run_cli(capsys, "merge", "--adapter", adapter_dir, "--base", tiny_llm_dir, "--output", tmp_path / "m")
    assert code == 2 and f"{tiny_llm_dir} is not an InstructMol model (its config.json says model_type 'llama')" in error


@pytest.mark.parametrize(("spoil", "message"), [
    (lambda folder: (folder / "adapter_model.safetensors").unlink(), "holds no adapter weights"),
    (lambda folder: (folder / "adapter_config.json").write_text("{not json"), "adapter_config.json is not valid JSON"),
    (lambda folder: (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"})),
     "does not name its base model: set base_model_name_or_path"),
])
def test_d19_evaluate_names_what_is_wrong_with_an_adapter(capsys, adapter_dir, tmp_path, spoil, message):
    spoil(adapter_dir)
    code, error = run_cli(capsys, "evaluate", "--model", adapter_dir, "--dataset", write_rows(tmp_path / "data", ROWS),
                          "--config", "c", "--output", tmp_path / "out")
    assert code == 2 and message in error and "--base" not in error


def test_d19_evaluate_refuses_a_plain_llm(capsys, tiny_llm_dir, tmp_path):
    code, error = run_cli(capsys, "evaluate", "--model", tiny_llm_dir, "--dataset", write_rows(tmp_path / "data", ROWS),
                          "--config", "c", "--output", tmp_path / "out")
    assert code == 2 and "is a plain language model: it reads text only" in error


# ---------------------------------------------------------------- evaluation (D2, D8, D9, D10, D22)

ROWS = [conversation_row(images=[smiles], instruction="what is the gap?", row_id=str(index), task="gap",
                         target=f"{0.2 + index / 100:.4f}")
        for index, smiles in enumerate(["CCO", "c1ccccc1O", "CC(=O)O", "CCN"])]


def write_rows(folder: Path, rows: list[dict], config: str = "c") -> Path:
    path = folder / parquet_path(config, "test")
    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_list(rows, features=ROW_FEATURES).to_parquet(path)
    (folder / "README.md").write_text(f"---\nconfigs:\n- config_name: {config}\n  data_files:\n  - split: test\n"
                                      f"    path: {parquet_path(config, 'test')}\n---\n")
    return folder


def evaluate(capsys, model, data, output, *extra) -> tuple[int, str]:
    return run_cli(capsys, "evaluate", "--model", model, "--dataset", data, "--config", "c", "--output", output,
                   "--max-new-tokens", 3, *extra)


def test_d2_a_resume_refuses_a_dataset_changed_in_place(capsys, tiny_model_dir, tmp_path):
    data = write_rows(tmp_path / "data", ROWS)
    assert evaluate(capsys, tiny_model_dir, data, tmp_path / "out")[0] == 0
    write_rows(data, [{**ROWS[0], "target": "99.8"}, *ROWS[1:]])  # the same folder, other targets
    code, error = evaluate(capsys, tiny_model_dir, data, tmp_path / "out")
    assert code == 2 and "the dataset changed since" in error and "row '0' (task 'gap')" in error


def test_d2_a_resume_refuses_a_model_changed_in_place(capsys, tiny_model_dir, tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    for path in tiny_model_dir.iterdir():
        (model / path.name).write_bytes(path.read_bytes())
    data = write_rows(tmp_path / "data", ROWS)
    assert evaluate(capsys, model, data, tmp_path / "out")[0] == 0
    weights = load_file(model / "model.safetensors")
    save_file({name: tensor * 1.01 for name, tensor in weights.items()}, model / "model.safetensors", metadata={"format": "pt"})
    code, error = evaluate(capsys, model, data, tmp_path / "out")
    assert code == 2 and "the model's files changed since (fingerprint)" in error


@pytest.mark.parametrize("target", ["nan", "inf", "-inf"])
def test_d8_a_qm9_target_that_is_no_finite_number_stops_the_run_first(capsys, tiny_model_dir, tmp_path, target):
    data = write_rows(tmp_path / "data", [*ROWS[:2], {**ROWS[2], "target": target}])
    code, error = evaluate(capsys, tiny_model_dir, data, tmp_path / "out")
    assert code == 2 and f"Row '2': a regression target must be a finite number, not '{target}'" in error
    assert not (tmp_path / "out" / "predictions.jsonl").exists()


@pytest.mark.parametrize(("bad_row", "message"), [
    ({"images": ["C1CC"], "smiles": "C1CC"}, "Row '20': RDKit cannot parse the SMILES 'C1CC'"),
    ({"images": [""], "smiles": ""}, "Row '20': the SMILES '' is empty"),
    ({"prompt": [{"role": "user", "content": [{"type": "image", "text": None},
                                              {"type": "text", "text": "is <mol> special?"}]}]},
     "Row '20': its prompt text holds <mol> itself"),
    ({"images": ["CCO", "CCO"], "smiles": "CCO.CCO"}, "Row '20': 1 molecule placeholder(s) in its prompt but 2"),
])
def test_d9_every_row_is_checked_before_any_generation(capsys, tiny_model_dir, tmp_path, bad_row, message):
    rows = [{**ROWS[index % 4], "id": str(index)} for index in range(24)]
    rows[20] = {**rows[20], **bad_row}
    code, error = evaluate(capsys, tiny_model_dir, write_rows(tmp_path / "data", rows), tmp_path / "out",
                           "--batch-size", 8)
    assert code == 2 and message in error and not (tmp_path / "out" / "predictions.jsonl").exists()


def test_d10_a_last_line_cut_inside_a_character_is_dropped_and_regenerated(capsys, tiny_model_dir, tmp_path):
    data = write_rows(tmp_path / "data", ROWS)
    assert evaluate(capsys, tiny_model_dir, data, tmp_path / "out")[0] == 0
    predictions = tmp_path / "out" / "predictions.jsonl"
    lines = predictions.read_bytes().splitlines(keepends=True)
    predictions.write_bytes(b"".join(lines[:-1]) + '{"id": "3", "prediction": "é'.encode()[:-1])
    assert evaluate(capsys, tiny_model_dir, data, tmp_path / "out")[0] == 0
    assert [json.loads(line)["id"] for line in predictions.read_text().splitlines()] == ["0", "1", "2", "3"]


@pytest.mark.parametrize(("line", "message"), [
    ("{}", "predictions.jsonl line 2 lacks id, task, prediction, target, row_fingerprint"),
    ("42", "predictions.jsonl line 2 is a JSON int, not a prediction record"),
    ('{"id": "1", "task": "gap", "target": "0.2", "row_fingerprint": "x"}', "line 2 lacks prediction"),
    ("\xff", "predictions.jsonl line 2 is not a JSON record"),
])
def test_d10_a_damaged_prediction_record_is_named(capsys, tiny_model_dir, tmp_path, line, message):
    data = write_rows(tmp_path / "data", ROWS)
    assert evaluate(capsys, tiny_model_dir, data, tmp_path / "out")[0] == 0
    predictions = tmp_path / "out" / "predictions.jsonl"
    first, *_ = predictions.read_bytes().splitlines()
    predictions.write_bytes(first + b"\n" + line.encode("latin-1") + b"\n")
    code, error = evaluate(capsys, tiny_model_dir, data, tmp_path / "out")
    assert code == 2 and message in error


@pytest.mark.parametrize("content", ["", "garbage", "[1, 2]"])
def test_d10_a_damaged_run_file_is_named(capsys, tiny_model_dir, tmp_path, content):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "run.json").write_text(content)
    code, error = evaluate(capsys, tiny_model_dir, write_rows(tmp_path / "data", ROWS), tmp_path / "out")
    assert code == 2 and "run.json is not a valid run record" in error


def test_d22_a_second_run_on_the_same_output_is_refused(capsys, tiny_model_dir, tmp_path):
    with exclusive_output(tmp_path / "out"):  # a first run, still writing
        code, error = evaluate(capsys, tiny_model_dir, write_rows(tmp_path / "data", ROWS), tmp_path / "out")
    assert code == 2 and "another `instructmol evaluate` is writing to" in error
    assert not (tmp_path / "out" / "predictions.jsonl").exists()


# ---------------------------------------------------------------- metrics (D17, D23)


def test_d17_an_empty_prediction_never_matches_and_an_empty_reference_is_refused():
    generation = metrics.load("molecule_generation")
    scores = generation.compute(predictions=["", "OCC*"], references=["*CCO", "*CCO"])
    assert scores["exact_match"] == 0.5  # the second is the same molecule, compared by canonical SMILES
    with pytest.raises(ValueError, match=r"references\[1\] = '' is not a valid smiles molecule"):
        generation.compute(predictions=["C", "C"], references=["C", ""])


def test_d23_a_missing_or_undecodable_answer_is_unparsable_not_a_crash():
    regression = metrics.load("property_regression")
    scores = regression.compute(predictions=[None, "0.2", None], references=[0.1, 0.2, 0.3])
    assert scores["num_unparsable"] == 2 and scores["mae"] == 0
    generation = metrics.load("molecule_generation")
    assert generation.compute(predictions=["C\ud800", "CCO"], references=["CCO", "CCO"])["validity"] == 0.5


# ---------------------------------------------------------------- builders (D11, D12, D13, D14, D15)


def write_qm9pack(folder: Path, rows: list[str]) -> Path:
    folder.mkdir(parents=True)
    header = "Index,SMILES,HOMO_au,LUMO_au,HOMO_LUMO_gap_au\n"
    for part in ("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv"):
        (folder / part).write_text(header + (rows.pop(0) + "\n" if rows else ""))
    return folder


def test_d11_d15_qm9pack_values_that_are_no_finite_number_and_repeated_indices_are_dropped(tmp_path):
    source = write_qm9pack(tmp_path / "qm9", ["1,CCO,inf,0.1,0.3\n2,CCN,-0.2,0.1,0.3\n3,CCC,-0.2,0.1,0.3",
                                              "4,CO,abc,0.1,0.3\n5,CC,-0.3,0.1,0.2\n6,OCCO,-0.2,0.1,0.3",
                                              "2,CCN,-0.2,0.1,0.3\n7,CCCC,-0.2,0.1,0.3\n8,NCCN,-0.2,0.1,0.3"])
    build("qm9", "--output", tmp_path / "out", "--origin", "qm9pack", "--source", source, "--num-proc", "1")
    drops = card_drops(tmp_path / "out")
    # inf and abc: two HOMO values (counted in the homo and the pooled qm9 builds); index 2 repeated: 3 properties.
    assert drops == {"value is not a number": 4, "id of an earlier row of the task": 6}
    homo = load_dataset(str(tmp_path / "out"), "homo_g", cache_dir=str(tmp_path / "cache"))
    assert sum(len(split) for split in homo.values()) == 6


def test_d12_every_pubchem_pair_is_kept_or_counted(tmp_path):
    question = "Describe it."
    text = ('{"CCO": [["%s", "The molecule is ethanol, a primary alcohol."]], '
            '"CCO": [["%s", "The molecule is an alcohol used in drinks."]], '
            '"CCN": null, "CCC": [["%s", 42]], "CCCC": [["%s", "The molecule is \\ud800 butane with four carbons."]], '
            '"CO": [["%s"]], "OCCO": [["%s", "The molecule is ethylene glycol, a diol."]]}') % ((question,) * 6)
    source = tmp_path / "all_clean.json"
    source.write_text(text)
    chebi20 = write_chebi20(tmp_path / "chebi20", [("176", "CC(=O)O", "The molecule is acetic acid.")])
    build("pubchem", "--output", tmp_path / "out", "--source", source, "--chebi20-test", chebi20 / "test.txt",
          "--num-proc", "1")
    rows = [row for split in load_dataset(str(tmp_path / "out"), "alignment_g", cache_dir=str(tmp_path / "c")).values()
            for row in split]
    assert sorted(row["smiles"] for row in rows) == ["CCO", "CCO", "OCCO"]  # the repeated key's two pairs both kept
    assert card_drops(tmp_path / "out") == {"entry is not a list of [question, description] pairs": 1,
                                            "description is not text": 2,
                                            "pair is not [question, description]": 1}


def test_d13_an_overwrite_that_fails_keeps_the_old_dataset(tmp_path):
    source = write_chebi20(tmp_path / "chebi20", [("1", "CCO", "The molecule is ethanol, an alcohol.")])
    build("chebi20", "--output", tmp_path / "out", "--source", source, "--splits", "test", "--num-proc", "1")
    before = {path: path.read_bytes() for path in (tmp_path / "out").rglob("*") if path.is_file()}
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build("chebi20", "--output", tmp_path / "out", "--source", tmp_path / "absent", "--splits", "test",
              "--overwrite")
    assert {path: path.read_bytes() for path in (tmp_path / "out").rglob("*") if path.is_file()} == before


def test_d14_a_repeated_chebi20_cid_is_dropped_and_the_split_evaluates(capsys, tiny_model_dir, tmp_path):
    source = write_chebi20(tmp_path / "chebi20", [("1", "CCO", "The molecule is ethanol, an alcohol."),
                                                  ("1", "CCN", "The molecule is ethylamine, an amine.")])
    build("chebi20", "--output", tmp_path / "out", "--source", source, "--splits", "test", "--num-proc", "1")
    assert card_drops(tmp_path / "out") == {"id of an earlier row of the task": 1}
    vocabulary = tmp_path / "vocab.txt"
    vocabulary.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "molecule", "is"]) + "\n")
    code, _ = run_cli(capsys, "evaluate", "--model", tiny_model_dir, "--dataset", tmp_path / "out", "--config",
                      "description_g", "--output", tmp_path / "eval", "--max-new-tokens", 3, "--caption-tokenizer",
                      vocabulary)
    assert code == 0


@pytest.mark.parametrize(("content", "message"), [
    ("mol,CID,Class\n", "MoleculeNet bace file .* holds no rows"),
    ("", "bace.csv is empty: expected a table with a header line"),
    ("mol,Class\nCC\xe9O,1\n".encode("latin-1"), r"bace.csv is not UTF-8 text \(byte 0xe9"),
])
def test_d15_an_empty_or_unreadable_source_is_named(tmp_path, content, message):
    folder = tmp_path / "moleculenet"
    folder.mkdir()
    (folder / "bace.csv").write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ValueError, match=message):
        build("moleculenet", "--output", tmp_path / "out", "--source", folder, "--tasks", "bace")


def test_d15_a_source_where_every_row_is_bad_writes_nothing(tmp_path):
    source = write_chebi20(tmp_path / "chebi20", [("1", "C1CC", "The molecule is no molecule at all.")])
    with pytest.raises(ValueError, match=r"no row survived for description: 1 rows read, every one dropped"):
        build("chebi20", "--output", tmp_path / "out", "--source", source, "--splits", "test", "--num-proc", "1")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", ["0", "-5", "many"])
def test_d15_sizes_must_be_positive_whole_numbers(capsys, tmp_path, value):
    with pytest.raises(SystemExit) as exit_info:
        main(["quickstart", "--output", str(tmp_path / "q"), "--num-qm9", value])
    assert exit_info.value.code == 2 and "--num-qm9" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        build("quickstart", "--output", tmp_path / "q", "--num-molecules", value)


# ---------------------------------------------------------------- Hub helpers (D16)


def model_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    save_file({"w": torch.zeros(1)}, folder / "model.safetensors")
    return folder


def write_pickle_like(folder: Path, name: str) -> Path:
    """A file that unpickles when loaded, in one of the formats careless uploads carry."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if name.endswith(".npy"):
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif name.endswith(".gz"):
        path.write_bytes(gzip.compress(pickle.dumps({"a": 1})))
    elif name.endswith((".joblib", ".dill")):
        path.write_bytes(pickle.dumps({"a": 1}))
    else:  # torch.save: .pth.tar, extensionless, inside an adapter
        torch.save({"a": torch.zeros(1)}, path)
    return path


@pytest.mark.parametrize("name", ["model.joblib", "state.dill", "objects.npy", "weights.pkl.gz", "model.pth.tar",
                                  "extensionless", "adapter/adapter_model"])
def test_d16_pickles_are_refused_by_content(tmp_path, name):
    folder = model_folder(tmp_path)
    write_pickle_like(folder, name)
    with pytest.raises(ValueError, match=f"pickle-based files.*{name}"):
        push_model_folder(folder, REPO)


def test_d16_a_link_to_a_pickle_is_refused(tmp_path):
    folder = model_folder(tmp_path)
    (folder / "weights.safetensors").symlink_to(write_pickle_like(folder, "elsewhere.pth"))
    with pytest.raises(ValueError, match="pickle-based files.*weights.safetensors"):
        push_model_folder(folder, REPO)


def test_d16_a_dataset_card_with_broken_yaml_is_named(tmp_path):
    (tmp_path / "README.md").write_text("---\nconfigs: [unclosed\n---\n")
    with pytest.raises(ValueError, match="README.md has a YAML header that does not parse"):
        push_dataset_folder(tmp_path, REPO)


# ---------------------------------------------------------------- chat (D7)


def test_d7_chat_answers_a_typed_placeholder_and_undecodable_bytes_and_goes_on(tiny_model_dir, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "instructmol.cli", "chat", "--model", str(tiny_model_dir), "--smiles", "CCO",
         "--max-new-tokens", "4"],
        input=b"is <mol> special?\n\xff\xfe what now?\nwhat is it?\n/quit\n", capture_output=True, timeout=300,
    )
    stdout, stderr = result.stdout.decode(), result.stderr.decode()
    assert result.returncode == 0 and "Traceback" not in stderr
    assert "Cannot ask that: the question holds <mol>" in stdout
    assert stdout.count("> ") >= 4  # every line got its turn


def test_zipped_pickles_are_recognised_without_loading_them(tmp_path):
    archive = tmp_path / "archive.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("model/data.pkl", pickle.dumps(1))
    from instructmol.hub import holds_pickle

    assert holds_pickle(archive) and not holds_pickle(model_folder(tmp_path) / "model.safetensors")
