"""Unit tests of the shared dataset machinery in `instructmol/data` and of the builders' pieces run in-process."""

import importlib.util
import sys
from collections import Counter
from pathlib import Path
from unittest import mock

import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from instructmol.data import (
    BEFORE_SPLITTING,
    ROW_FEATURES,
    BuildOptions,
    CardSpec,
    build_task,
    candidate,
    candidates_dataset,
    graph_goes_after,
    hashed_split,
    keep_and_count,
    murcko_scaffold,
    pick_instruction,
    require_columns,
    resolve_molecules,
    scaffold_split,
    sized_random_split,
    smiles_to_selfies,
    split_fractions,
)
from instructmol.data.assembly import check_output_dir, staged_output
from instructmol.data.card import render_card
from instructmol.data.molecules import translate_reaction_string
from instructmol.tasks import DESCRIPTION_POOL, QM9_OWN_QUESTIONS
from tests_paths import REPO_ROOT

BUILDERS = REPO_ROOT / "datasets"


def load_builder(name: str):
    """A builder script as a module (datasets/ is not a package, by design)."""
    spec = importlib.util.spec_from_file_location(f"builder_{name}", BUILDERS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------- splits


def test_scaffold_split_takes_largest_groups_first_and_keeps_groups_whole():
    # Groups: a x4, b x2, c x1 (first at 4), d x1 (first at 7), e x1, f x1 -> 10 molecules.
    scaffolds = ["a", "a", "b", "a", "c", "b", "a", "d", "e", "f"]
    splits = scaffold_split(scaffolds, (0.6, 0.2, 0.2))
    by_scaffold = {scaffold: {split for s, split in zip(scaffolds, splits) if s == scaffold} for scaffold in scaffolds}
    assert all(len(group_splits) == 1 for group_splits in by_scaffold.values())
    # a (4) and b (2) fill train to 6; singletons go largest-first, ties by later first index: f, e, d, c.
    assert by_scaffold == {"a": {"train"}, "b": {"train"}, "f": {"validation"}, "e": {"validation"},
                           "d": {"test"}, "c": {"test"}}


def test_scaffold_split_rejects_fractions_not_summing_to_one():
    with pytest.raises(ValueError, match="sum to 1"):
        scaffold_split(["a"], (0.8, 0.1, 0.05))


def test_murcko_scaffold_includes_rings_only():
    assert murcko_scaffold("CCc1ccccc1") == "c1ccccc1"
    assert murcko_scaffold("CCO") == ""


def test_hashed_split_is_seeded_group_stable_and_close_to_fractions():
    fractions = split_fractions(0.1, 0.1)
    keys = [f"molecule-{index}" for index in range(20_000)]
    first = [hashed_split(key, 0, fractions) for key in keys]
    assert first == [hashed_split(key, 0, fractions) for key in keys]
    assert first != [hashed_split(key, 1, fractions) for key in keys]
    shares = {split: count / len(keys) for split, count in Counter(first).items()}
    assert shares["train"] == pytest.approx(0.8, abs=0.01) and shares["test"] == pytest.approx(0.1, abs=0.01)


@pytest.mark.parametrize("num_keys", [3, 7, 60, 2_501])
def test_sized_random_split_gives_exact_nonempty_sizes_independent_of_row_order(num_keys):
    fractions = split_fractions(0.1, 0.1)
    keys = [f"molecule-{index}" for index in range(num_keys)]
    splits = sized_random_split(keys, 0, fractions)
    counts = Counter(splits)
    expected_held_out = max(1, round(0.1 * num_keys))
    assert counts["validation"] == counts["test"] == expected_held_out
    assert counts["train"] == num_keys - 2 * expected_held_out
    reversed_splits = sized_random_split(keys[::-1], 0, fractions)
    assert dict(zip(keys[::-1], reversed_splits)) == dict(zip(keys, splits))
    assert splits != sized_random_split(keys, 1, fractions) or num_keys == 3


def test_sized_random_split_sizes_distinct_keys_and_keeps_tiny_samples_in_train():
    keys = [f"k{index}" for index in range(20)]
    splits = sized_random_split([*keys, "k3", "k7"], 0, split_fractions(0.1, 0.1))
    # A repeated key (a duplicate source id, dropped later as such) shares its first occurrence's split.
    assert splits[20] == splits[3] and splits[21] == splits[7]
    assert {split: splits[:20].count(split) for split in set(splits)} == {"train": 16, "validation": 2, "test": 2}
    assert sized_random_split(["a", "b"], 0, split_fractions(0.1, 0.1)) == ["train", "train"]


def test_split_fractions_leave_out_empty_splits_and_check_range():
    assert split_fractions(0.0) == {"train": 1.0}
    with pytest.raises(ValueError):
        split_fractions(0.6, 0.5)


# ---------------------------------------------------------------- instructions and notation


def test_pick_instruction_depends_on_seed_and_id_only():
    pool = QM9_OWN_QUESTIONS["gap"]
    picks = [pick_instruction(pool, 7, f"row-{index}") for index in range(200)]
    assert picks == [pick_instruction(pool, 7, f"row-{index}") for index in range(200)]
    assert picks != [pick_instruction(pool, 8, f"row-{index}") for index in range(200)]
    assert set(picks) == set(pool)


def test_graph_placement_is_half_after_in_train_and_first_elsewhere():
    released, first = BuildOptions(seed=3), BuildOptions(seed=3, graph_placement="first")
    after = [graph_goes_after(released, "train", f"row-{index}") for index in range(2000)]
    assert 0.46 < sum(after) / len(after) < 0.54
    assert after == [graph_goes_after(released, "train", f"row-{index}") for index in range(2000)]
    assert after != [graph_goes_after(BuildOptions(seed=4), "train", f"row-{index}") for index in range(2000)]
    assert not any(graph_goes_after(released, split, f"row-{index}") for split in ("validation", "test")
                   for index in range(200))
    assert not any(graph_goes_after(first, "train", f"row-{index}") for index in range(200))


def test_translate_reaction_string_keeps_reaction_arrows_and_dots():
    assert translate_reaction_string("[C][O].[C][C]>>[C][O][C]", "selfies", "smiles") == "CO.CC>>COC"
    assert translate_reaction_string("CO>>COC", "smiles", "selfies") == "[C][O]>>[C][O][C]"


def test_smiles_to_selfies_reads_molt5_escaped_bond_directions():
    assert smiles_to_selfies("C/C=C\\\\C").startswith("[C]")
    with pytest.raises(ValueError, match="C1CC"):
        smiles_to_selfies("C1CC")


def test_require_columns_names_the_missing_ones():
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['SMILES'\]"):
        require_columns(["CID", "description"], ["CID", "SMILES"], "file x")


def test_qm9_property_read_from_instruction_wording():
    qm9 = load_builder("qm9")
    assert qm9.property_in_instruction("What is the HOMO-LUMO gap of this molecule?") == "gap"
    assert qm9.property_in_instruction("Can you give me the energy difference between the HOMO and LUMO?") == "gap"
    assert qm9.property_in_instruction("Please provide the lowest unoccupied molecular orbital (LUMO) energy.") \
        == "lumo"
    assert qm9.property_in_instruction("I am interested in the HOMO energy of this molecule.") == "homo"
    assert qm9.property_in_instruction("What is the dipole moment?") == ""
    assert all(qm9.property_in_instruction(question) == prop
               for prop, pool in QM9_OWN_QUESTIONS.items() for question in pool)


# ---------------------------------------------------------------- checking, counting, rendering


def small_candidates():
    rows = [
        candidate(row_id="1", task="description", split="train", molecule_input="CCO", target="A"),
        candidate(row_id="2", task="description", split="train", molecule_input="C1CC", target="A"),
        candidate(row_id="3", task="description", split="test", molecule_input="C" * 12, target="A"),
        candidate(row_id="4", task="description", split="test", molecule_input="c1ccccc1.O", target="B"),
        candidate(row_id="5", task="description", split="test", molecule_input="", target=""),
    ]
    return candidates_dataset(rows, "the test rows")


OPTIONS = BuildOptions(seed=0)


def test_resolve_and_count_every_drop_by_reason_and_split():
    checked = resolve_molecules(small_candidates(), OPTIONS, notation="smiles", needs_text=True, max_atoms=10)
    kept, counts = keep_and_count(checked)
    assert [row["id"] for row in kept["train"]] == ["1"] and [row["id"] for row in kept["test"]] == ["4"]
    assert (counts["train"].rows_in, counts["train"].rows_out) == (2, 1)
    assert counts["train"].drops == {"SMILES rejected by the featurizer": 1}
    assert counts["test"].drops == {"more than 10 heavy atoms": 1, "missing value": 1}
    assert kept["test"][0]["images"] == ["c1ccccc1.O"]  # one input molecule is one graph, fragments and all
    assert kept["test"][0]["molecule_text"] == "[C][=C][C][=C][C][=C][Ring1][=Branch1].[O]"


def test_kept_rows_without_a_split_are_an_error():
    rows = [candidate(row_id="1", task="description", split=BEFORE_SPLITTING, molecule_input="CCO", target="A")]
    checked = resolve_molecules(candidates_dataset(rows, "the test row"), OPTIONS, notation="smiles", needs_text=False)
    with pytest.raises(ValueError, match="never assigned a split"):
        keep_and_count(checked)


def test_build_task_renders_g_and_gs_with_one_schema():
    checked = resolve_molecules(small_candidates(), OPTIONS, notation="smiles", needs_text=True, max_atoms=10)
    build = build_task("description", checked, variants=("g", "gs"), options=OPTIONS)
    g_row, gs_row = build.configs["description_g"]["test"][0], build.configs["description_gs"]["test"][0]
    assert build.configs["description_g"]["test"].features == ROW_FEATURES
    question = pick_instruction(DESCRIPTION_POOL, 0, "description/4")
    assert g_row == {"images": ["c1ccccc1.O"],
                     "prompt": [{"role": "user", "content": [{"type": "image", "text": None},
                                                             {"type": "text", "text": question}]}],
                     "completion": [{"role": "assistant", "content": "B"}], "task": "description", "id": "4",
                     "smiles": "c1ccccc1.O", "target": "B"}
    assert gs_row["prompt"][0]["content"][1]["text"] == (
        f"{question} The compound SELFIES sequence is: [C][=C][C][=C][C][=C][Ring1][=Branch1].[O].")


def test_build_task_refuses_a_variant_the_task_does_not_have():
    checked = resolve_molecules(small_candidates(), OPTIONS, notation="smiles", needs_text=True, max_atoms=10)
    with pytest.raises(ValueError, match="task 'description' has no variant 'x'"):
        build_task("description", checked, variants=("x",), options=OPTIONS)


def test_card_yaml_lists_every_config_and_split_and_the_differences():
    checked = resolve_molecules(small_candidates(), OPTIONS, notation="smiles", needs_text=True, max_atoms=10)
    build = build_task("description", checked, variants=("g", "gs"), options=OPTIONS)
    spec = CardSpec(pretty_name="X", summary="S", source="Src", license="mit", license_details="L",
                    split_protocol="the source's own splits.", differences=["The source is a fixture."])
    card = DatasetCard(render_card(spec, [build], "python datasets/x.py", "me/x", OPTIONS))
    configs = card.data.to_dict()["configs"]
    assert [config["config_name"] for config in configs] == ["description_g", "description_gs"]
    assert configs[0]["data_files"] == [
        {"split": "train", "path": "data/description_g/train-00000-of-00001.parquet"},
        {"split": "test", "path": "data/description_g/test-00000-of-00001.parquet"}]
    assert "| description | description_g, description_gs | test | 3 | 1 |" in card.text
    assert 'load_dataset("me/x", "description_g")' in card.text
    training = card.text.split("## Training")[1].split("## ")[0]
    assert "- `description`: `trl sft --config recipes/stage2/description.yaml` (20 epochs, the paper's)" in training
    assert (REPO_ROOT / "recipes" / "stage2" / "description.yaml").is_file()
    differences = card.text.split("## Differences from the released InstructMol code")[1].split("## ")[0]
    assert "Split protocol: the source's own splits." in differences
    assert "- The source is a fixture." in differences and "drawn once" in differences
    assert "--graph-placement" not in differences and "--text-notation" not in differences
    smiles_first = BuildOptions(seed=0, graph_placement="first", text_notation="smiles")
    differences = render_card(spec, [build], "python datasets/x.py", "me/x", smiles_first)
    assert "`--graph-placement released` restores" in differences and "`--text-notation selfies` restores" in differences


def test_a_builder_records_the_command_it_was_given_for_its_card():
    from instructmol.data import builder_argument_parser
    from instructmol.tasks import TASKS

    parser = builder_argument_parser("qm9.py", "X", [TASKS["gap"]], source_help="S")
    args = parser.parse_args(["--output", "out dir", "--seed", "3"])  # as `main(argv)` passes them, not sys.argv
    assert args.command_line == "python datasets/qm9.py --output 'out dir' --seed 3"


def test_output_folder_must_be_empty_unless_overwriting_a_built_dataset(tmp_path):
    (tmp_path / "data" / "old").mkdir(parents=True)
    (tmp_path / "data" / "old" / "test-00000-of-00001.parquet").write_bytes(b"PAR1")
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="pass --overwrite to replace its dataset"):
        check_output_dir(tmp_path, overwrite=False)
    with pytest.raises(FileExistsError, match="holds no README.md"):
        check_output_dir(tmp_path, overwrite=True)
    (tmp_path / "README.md").write_text("---\ntags:\n- instructmol\n---\n# A built dataset\n")
    check_output_dir(tmp_path, overwrite=True)  # checking deletes nothing
    assert (tmp_path / "data" / "old").is_dir() and (tmp_path / "notes.txt").is_file()


def test_a_staged_build_replaces_only_the_dataset_and_only_on_success(tmp_path):
    output = tmp_path / "out"
    (output / "data" / "old").mkdir(parents=True)
    (output / "notes.txt").write_text("mine")
    with pytest.raises(RuntimeError), staged_output(output) as staging:
        (staging / "data").mkdir()
        raise RuntimeError("the build failed half way")
    assert (output / "data" / "old").is_dir()  # untouched
    with staged_output(output) as staging:
        (staging / "data" / "new").mkdir(parents=True)
        (staging / "README.md").write_text("card")
    assert sorted(path.name for path in output.iterdir()) == ["README.md", "data", "notes.txt"]
    assert [path.name for path in (output / "data").iterdir()] == ["new"]
    assert not list(tmp_path.glob(".out.building-*"))


# ---------------------------------------------------------------- PubChem324kV2 (PyG files), in-process


def write_pubchem324k(folder: Path) -> None:
    """MolCA's files: `(data, slices)` of PyG InMemoryDatasets with `smiles`, `text`, `cid` per record."""
    torch = pytest.importorskip("torch")
    pyg = pytest.importorskip("torch_geometric.data")
    folder.mkdir()
    records = {
        "pretrain.pt": [("CCCC", "Butane is an alkane with four carbon atoms.\nIt is a gas.", "7843")],
        "train.pt": [("c1ccncc1", "Pyridine is an azaarene and a monocyclic heteroarene.", "1049"),
                     ("CC(=O)O", "Acetic acid is a simple monocarboxylic acid found in vinegar.", "176")],
        "valid.pt": [("CCOCC", "Short text.", "3283")],
        "test.pt": [("C1CC", "An unclosed ring that RDKit cannot read at all.", "1")],
    }
    for file_name, rows in records.items():
        graphs = [pyg.Data(x=torch.zeros(1, 9, dtype=torch.long), smiles=smiles, text=text, cid=cid)
                  for smiles, text, cid in rows]
        torch.save(pyg.InMemoryDataset.collate(graphs), folder / file_name)


def test_pubchem324kv2_origin(tmp_path):
    source = tmp_path / "PubChem324kV2"
    write_pubchem324k(source)
    chebi20_test = tmp_path / "test.txt"
    chebi20_test.write_text("CID\tSMILES\tdescription\n176\tOC(C)=O\tThe molecule is acetic acid.\n")
    pubchem = load_builder("pubchem")
    output = tmp_path / "out"
    with mock.patch.object(sys, "argv", ["pubchem.py"]):
        pubchem.main(["--output", str(output), "--origin", "pubchem324kv2", "--source", str(source),
                      "--chebi20-test", str(chebi20_test), "--num-proc", "1"])
    dataset = load_dataset(str(output), "alignment_g", cache_dir=str(tmp_path / "cache"))
    assert {split: rows["smiles"] for split, rows in dataset.items()} == {"train": ["CCCC", "c1ccncc1"]}
    assert dataset["train"][0]["target"] == "Butane is an alkane with four carbon atoms. It is a gas."
    assert dataset["train"][0]["id"] == "pretrain-0-cid7843"
    card = (output / "README.md").read_text()
    for reason in ("molecule in the ChEBI-20 test split", "description shorter than 5 words",
                   "SMILES rejected by the featurizer"):
        assert f"dropped: {reason}" in card


def test_pubchem324kv2_file_without_text_fails_naming_it(tmp_path):
    torch = pytest.importorskip("torch")
    pyg = pytest.importorskip("torch_geometric.data")
    path = tmp_path / "train.pt"
    torch.save(pyg.InMemoryDataset.collate([pyg.Data(x=torch.zeros(1, 9), smiles="CCO")]), path)
    with pytest.raises(ValueError, match=r"lacks the attribute\(s\) \['text'\]"):
        load_builder("pubchem").read_pubchem324k_file(path)


# ---------------------------------------------------------------- source readers: wrong layouts fail at once


def test_mol_instructions_record_without_output_fails_naming_it(tmp_path):
    from instructmol.data.mol_instructions import read_task_records

    path = tmp_path / "retrosynthesis.json"
    path.write_text('[{"instruction": "Q", "input": "[C]", "output": "[O]", "metadata": {"split": "train"}},'
                    ' {"instruction": "Q", "input": "[C]", "metadata": {"split": "test"}}]')
    with pytest.raises(ValueError, match=r"record 1 lacks the column\(s\) \['output'\]"):
        read_task_records(path, "retrosynthesis.json")


def test_qm9pack_file_without_a_property_column_fails_naming_it(tmp_path):
    from instructmol.data.qm9pack import QM9PACK_PARTS, read_qm9pack

    for part in QM9PACK_PARTS:
        (tmp_path / part).write_text("Index,SMILES,HOMO_au,LUMO_au\n1,C,-0.38,0.11\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['HOMO_LUMO_gap_au'\]"):
        read_qm9pack(tmp_path)
