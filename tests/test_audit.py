"""The leakage audit on datasets built by the real builders from fixtures with planted overlaps: `instructmol audit`
finds exactly them (full InChIKey and connectivity), each builder's card states its own train/test overlap, and
`datasets/pubchem.py --exclude-test-of` drops the test molecules of built datasets from the alignment data."""

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from test_datasets import builder_command, built, card_counts, load, run_builder

CLI = [sys.executable, "-m", "instructmol.cli"]
DESCRIPTION = "The molecule is a small organic compound used in this fixture."

# Written into MolT5's layout. A's test planted: ethanol (written OCC) is in A's train (same InChIKey);
# cis-2-butene is in A's train only as trans-2-butene (same connectivity, other stereo); pyridine is in B's train
# (written n1ccccc1); L-alanine is in B's train only as D-alanine. B's test: ethanol is in A's train, ethylamine in
# B's own train, methane nowhere.
PLANTED = {
    "A": {"train": ["CCO", "C/C=C/C", "c1ccccc1", "CC(=O)O"], "validation": ["CCCl"],
          "test": ["OCC", "C/C=C\\\\C", "c1ccncc1", "N[C@@H](C)C(=O)O"]},
    "B": {"train": ["n1ccccc1", "N[C@H](C)C(=O)O", "CCN"], "validation": ["CCCl"], "test": ["CCO", "NCC", "C"]},
}
# (test folder, train folder) -> (shared by full InChIKey, shared by connectivity, test molecules)
EXPECTED = {("A", "A"): (1, 2, 4), ("A", "B"): (1, 2, 4), ("B", "A"): (1, 1, 3), ("B", "B"): (1, 1, 3)}


def write_molt5(folder: Path, splits: dict[str, list[str]]) -> Path:
    folder.mkdir(parents=True)
    for offset, (split, smiles) in enumerate(splits.items()):  # CIDs unique across splits, as in ChEBI-20
        lines = ["CID\tSMILES\tdescription"] + [f"{100 * offset + index}\t{value}\t{DESCRIPTION}"
                                                  for index, value in enumerate(smiles)]
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> dict[str, Path]:
    """The two planted datasets, built by datasets/chebi20.py: name -> output folder."""
    root = tmp_path_factory.mktemp("planted")
    commands = {name: builder_command("chebi20.py", root / name, "--source", str(write_molt5(root / f"{name}-source",
                                                                                             splits)),
                                      "--splits", *splits)
                for name, splits in PLANTED.items()}
    with ThreadPoolExecutor(max_workers=2) as pool:
        processes = dict(zip(commands, pool.map(run_builder, commands.values())))
    return {name: built({name: (processes[name], root / name)}, name) for name in commands}


def cell(report: dict, test: str, train: str) -> dict:
    return next(pair for pair in report["pairs"]
                if pair["test"] == f"{test}/description_g/test" and pair["train"] == f"{train}/description_g/train")


def test_audit_finds_exactly_the_planted_overlaps(planted, tmp_path):
    output = tmp_path / "audit"
    process = subprocess.run([*CLI, "audit", str(planted["A"]), str(planted["B"]), "--output", str(output)],
                             capture_output=True, text=True)
    assert process.returncode == 0, process.stderr[-3000:]
    report = json.loads((output / "leakage.json").read_text())
    # One config per task (the _gs and _s variants hold the same molecules), validation splits not compared.
    assert report["tests"] == ["A/description_g/test", "B/description_g/test"]
    assert report["trains"] == ["A/description_g/train", "B/description_g/train"]
    for (test, train), (by_inchikey, by_connectivity, total) in EXPECTED.items():
        pair = cell(report, test, train)
        assert (pair["inchikey"]["shared"], pair["connectivity"]["shared"]) == (by_inchikey, by_connectivity)
        assert pair["inchikey"]["test_molecules"] == total
        assert pair["inchikey"]["fraction"] == pytest.approx(by_inchikey / total)
    # The tables on screen say the same, and the heatmap is a PNG.
    assert "| A/description_g/test | 1 / 4 (25.0%) | 1 / 4 (25.0%) |" in process.stdout
    assert "| A/description_g/test | 2 / 4 (50.0%) | 2 / 4 (50.0%) |" in process.stdout
    assert "| B/description_g/test | 1 / 3 (33.3%) | 1 / 3 (33.3%) |" in process.stdout
    assert (output / "leakage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_each_card_states_its_own_train_test_overlap(planted):
    for name, (by_inchikey, by_connectivity, total) in (("A", EXPECTED["A", "A"]), ("B", EXPECTED["B", "B"])):
        card = (planted[name] / "README.md").read_text()
        assert "## Train/test overlap" in card
        assert (f"| description | {total} | {by_inchikey} ({100 * by_inchikey / total:.1f}%) | "
                f"{by_connectivity} ({100 * by_connectivity / total:.1f}%) |") in card


def test_audit_refuses_folders_without_datasets_or_splits_to_compare(planted, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    process = subprocess.run([*CLI, "audit", str(empty)], capture_output=True, text=True)
    assert process.returncode != 0 and f"{empty} holds no built dataset" in process.stderr
    assert "Traceback" not in process.stderr

    only_test = tmp_path / "only-test" / "data" / "description_g"
    only_test.mkdir(parents=True)
    (only_test / "test-00000-of-00001.parquet").write_bytes(
        (planted["A"] / "data" / "description_g" / "test-00000-of-00001.parquet").read_bytes())
    process = subprocess.run([*CLI, "audit", str(only_test.parents[1]), "--output", str(tmp_path / "out")],
                             capture_output=True, text=True)
    assert process.returncode != 0 and "hold 1 test and 0 train splits" in process.stderr


def test_pubchem_excludes_the_test_molecules_of_built_datasets(planted, tmp_path):
    question = "Could you give me a brief overview of this molecule?"
    pairs = {"OCC": "ethanol, in A's test split", "CCN": "ethylamine, in B's test split",
             "CC(C)C": "isobutane, in the ChEBI-20 test split", "Cc1ccccc1": "toluene, in no test split"}
    source = tmp_path / "all_clean.json"
    source.write_text(json.dumps({smiles: [[question, f"The molecule is {text} here."]] for smiles, text in pairs.items()}))
    chebi20_test = write_molt5(tmp_path / "chebi20", {"test": ["CC(C)C"]}) / "test.txt"
    output = built({"pubchem": (run_builder(builder_command(
        "pubchem.py", tmp_path / "pubchem", "--source", str(source), "--chebi20-test", str(chebi20_test),
        "--exclude-test-of", str(planted["A"]), str(planted["B"]))), tmp_path / "pubchem")}, "pubchem")
    kept = [row["smiles"] for split in load(output, "alignment_g", tmp_path).values() for row in split]
    assert kept == ["Cc1ccccc1"]
    dropped = card_counts(output).filter(like="dropped: ").sum().to_dict()
    assert dropped == {"dropped: molecule in the ChEBI-20 test split": 1,
                       f"dropped: molecule in a test split of {planted['A']}": 1,
                       f"dropped: molecule in a test split of {planted['B']}": 1}
