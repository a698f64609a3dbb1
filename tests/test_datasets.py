"""End-to-end tests of the dataset builders in `datasets/`: each runs as a subprocess on small files written here in
its source's exact format (with deliberately bad rows), and `load_dataset` reads what it wrote.

Builder processes start slowly (importing the processor imports transformers), so all builds run once per session,
two at a time, and the tests read their outputs.
"""

import hashlib
import json
import os
import subprocess
import sys
import textwrap
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
from datasets import load_dataset
from rdkit import RDConfig

from instructmol.data import ROW_FEATURES, TEXT_ROW_FEATURES, murcko_scaffold, smiles_to_selfies
from instructmol.tasks import GROUPS, MOLECULENET_POOLS, TASKS, label_of, label_question
from featurization_instructmol import MolecularGraphFeaturizer
from processing_instructmol import flatten_content

from hub_client import hub_environment
from hub_server import LoopbackHub
from tests_paths import REPO_ROOT, SHARED_DATA

BUILDERS = REPO_ROOT / "datasets"
REAL_CHEBI20 = SHARED_DATA / "chebi20"
NCI_SMILES = Path(RDConfig.RDDataDir) / "NCI" / "first_5K.smi"

LONG_CHAIN = "C" * 50  # 50 heavy atoms: over the --max-atoms 40 the fixture builds use
MAX_ATOMS = "40"


# ---------------------------------------------------------------- source fixtures, in each source's exact format


def write_chebi20(folder: Path) -> Path:
    """MolT5's layout: train/validation/test.txt, tab-separated, header `CID\\tSMILES\\tdescription`."""
    folder.mkdir(parents=True)
    rows = {
        "train": [
            ("702", "CCO", 'The molecule is a primary alcohol that is ethane substituted by a "hydroxy" group.'),
            ("241", "c1ccccc1", "The molecule is a benzenoid aromatic compound."),
            ("887", "CO", "The molecule is the simplest aliphatic alcohol."),
            ("180", "CC(C)=O", "The molecule is a methyl ketone that is propane with an oxo group."),
            ("1", "C1CC", "An unclosed ring: RDKit rejects it."),
            ("2", LONG_CHAIN, "The molecule is a long alkane."),
            ("3", "CCN", ""),
        ],
        "validation": [("8857", "CC(=O)OC", "The molecule is an acetate ester.")],
        "test": [
            ("176", "CC(=O)O", "The molecule is a simple monocarboxylic acid."),
            ("5793", "C/C=C\\\\C", "Bond directions written escaped, as MolT5's files write them."),
        ],
    }
    for split, split_rows in rows.items():
        with open(folder / f"{split}.txt", "w", encoding="utf-8") as file:
            file.write("CID\tSMILES\tdescription\n")
            file.writelines("\t".join(row) + "\n" for row in split_rows)
    return folder


def write_pubchemsft(path: Path) -> Path:
    """`all_clean.json`: {smiles: [[question, description], ...]}."""
    question = "Could you give me a brief overview of this molecule?"
    pairs = {
        "CCCC": [[question, "The molecule is butane, an alkane with four carbon atoms."],
                 [question, "The molecule is a gas used as a fuel and in lighters."]],
        "c1ccncc1": [[question, "The molecule is pyridine, an azaarene and a monocyclic heteroarene."]],
        "OC(C)=O": [[question, "The molecule is acetic acid, written differently from the ChEBI-20 test row."]],
        "CCOCC": [[question, "Diethyl ether."], [question, ""]],
        "C1CC": [[question, "An unclosed ring that the featurizer rejects outright."]],
        LONG_CHAIN: [[question, "The molecule is a long alkane chain with fifty carbon atoms."]],
    }
    path.write_text(json.dumps(pairs), encoding="utf-8")
    return path


def _record(instruction: str, selfies_input: str, output, split: str) -> dict:
    return {"instruction": instruction, "input": selfies_input, "output": output,
            "metadata": {"task": "fixture", "split": split}}


def write_mol_instructions_zip(path: Path) -> Path:
    """`Molecule-oriented_Instructions.zip`: one JSON list of records per task, inside a top-level folder."""
    homo, lumo = "What is the HOMO energy of this molecule?", "Please provide the LUMO energy value for this molecule."
    gap = "Please provide the energy separation between the highest occupied and lowest unoccupied molecular " \
          "orbitals (HOMO-LUMO gap) of this molecule."
    molecules = ["[C][C][O]", "[C][=C][C][=C][C][=C][Ring1][=Branch1]", "[C][C][=O]", "[N][C][C][O]",
                 "[C][O][C]", "[C][C][C][N]"]
    properties = []
    for index, selfies_input in enumerate(molecules):
        split = "test" if index == 0 else "train"
        properties += [_record(homo, selfies_input, -0.25 - index / 100, split),  # a JSON number, as some releases
                       _record(lumo, selfies_input, f"{0.01 * index:.4f}", split),
                       _record(gap, selfies_input, f"{0.3 + index / 100:.4f}", split)]
    properties += [
        _record("What is the dipole moment of this molecule?", "[C][O]", "1.2", "train"),  # no HOMO/LUMO/gap
        _record(homo, "[Xyz]", "-0.2", "train"),  # not a SELFIES symbol
        _record(lumo, "[C][C]", "", "train"),  # missing value
        _record(gap, "[C][N]", "0.31", "validation"),  # split the source does not have
    ]
    forward = "With the provided reactants and reagents, propose a potential product."
    retro = "Please suggest potential reactants for the given product."
    reagent = "Please suggest some possible reagents that could have been used in the following chemical reaction."
    tasks = {
        "forward_reaction_prediction.json": [
            _record(forward, "[C][C][O].[C][C][=Branch1][C][=O][O]", "[C][C][O][C][Branch1][C][C][=O]", "train"),
            _record(forward, "[C][O].[C][C][=Branch1][C][=O][Cl]", "[C][O][C][Branch1][C][C][=O]", "test"),
            _record(forward, "[N].[C][C][=Branch1][C][=O][Cl].[C][C][N]", "[C][C][Branch1][C][N][=O]", "test"),
            _record(forward, "[N][C][C].[C][C][=Branch1][C][=O][Cl]", "[C][C][N][C][Branch1][C][C][=O]", "train"),
            _record(forward, "[C][C].[Xyz]", "[C][C]", "train"),  # a reactant that is no SELFIES
            _record(forward, "[C][O].[C][C]", "[Xyz]", "train"),  # a target that is no SELFIES
        ],
        "retrosynthesis.json": [
            _record(retro, "[C][C][O][C][Branch1][C][C][=O]", "[C][C][O].[C][C][=Branch1][C][=O][O]", "train"),
            _record(retro, "[C][O][C][Branch1][C][C][=O]", "[C][O].[C][C][=Branch1][C][=O][Cl]", "test"),
            _record(retro, "[C][" + "C][" * 49 + "C]", "[C][C]", "train"),  # 51 atoms: over --max-atoms
        ],
        "reagent_prediction.json": [
            _record(reagent, "[C][C][O].[C][C][=Branch1][C][=O][O]>>[C][C][O][C][Branch1][C][C][=O]",
                    "[O][=S][=Branch1][C][=O][Branch1][C][O][O]", "train"),
            _record(reagent, "[C][O].[C][C][=Branch1][C][=O][Cl]>>[C][O][C][Branch1][C][C][=O]",
                    "[C][C][N][Branch1][Ring1][C][C][C][C]", "test"),
            _record(reagent, "[C][O].[C][C]", "[O]", "train"),  # not a reaction: no '>>'
        ],
        "property_prediction.json": properties,
    }
    with zipfile.ZipFile(path, "w") as archive:
        for file_name, records in tasks.items():
            archive.writestr(f"Molecule-oriented_Instructions/{file_name}", json.dumps(records))
    return path


def nci_smiles(count: int, start: int = 0) -> list[str]:
    """Real molecules (RDKit's NCI file) that the featurizer reads, for splits that need many scaffolds."""
    featurizer = MolecularGraphFeaturizer()
    smiles = [line.split("\t")[0] for line in NCI_SMILES.read_text().splitlines()[start:]]
    readable = []
    for molecule in smiles:
        try:
            featurizer.featurize(molecule, max_atoms=int(MAX_ATOMS))
            readable.append(molecule)
        except ValueError:
            continue
        if len(readable) == count:
            return readable
    raise AssertionError("not enough readable NCI molecules")


def write_moleculenet(folder: Path) -> Path:
    """DeepChem's CSVs, in MoleculeSTM's mirror layout (`<name>/raw/<file>`): bace.csv, BBBP.csv, HIV.csv."""
    molecules = nci_smiles(60)
    for name in ("bace", "bbbp", "hiv"):
        (folder / name / "raw").mkdir(parents=True)
    bace = pd.DataFrame({"mol": molecules[:40] + ["C1CC", "CCO"], "CID": [f"BACE_{i}" for i in range(42)],
                         "Class": [str(i % 2) for i in range(41)] + [""], "pIC50": ["5.0"] * 42})
    bace.to_csv(folder / "bace" / "raw" / "bace.csv", index=False)
    bbbp = pd.DataFrame({"num": range(1, 31), "name": [f"drug {i}" for i in range(30)],
                         "p_np": [i % 2 for i in range(30)], "smiles": molecules[20:50]})
    bbbp.to_csv(folder / "bbbp" / "raw" / "BBBP.csv", index=False)
    hiv = pd.DataFrame({"smiles": molecules[30:60], "activity": ["CI"] * 30, "HIV_active": [i % 3 == 0 for i in
                                                                                          range(30)]})
    hiv["HIV_active"] = hiv["HIV_active"].astype(int)
    hiv.to_csv(folder / "hiv" / "raw" / "HIV.csv", index=False)
    return folder


def write_moleculenet_multilabel(folder: Path) -> Path:
    """DeepChem's gzipped multi-label CSVs (`smiles` and one 0/1 column per label, blank where unmeasured):
    clintox.csv.gz, tox21.csv.gz (with `mol_id`), toxcast_data.csv.gz (3 of its assays), sider.csv.gz."""
    folder.mkdir(parents=True)
    molecules = nci_smiles(30, start=200)

    def labels(count: int, index: int) -> list[str]:  # every third value missing, both classes present
        return ["" if (index + column) % 3 == 0 else str((index * 7 + column) % 2) for column in range(count)]

    tables = {
        "clintox.csv.gz": ["FDA_APPROVED", "CT_TOX"],
        "tox21.csv.gz": [*TASKS["tox21"].labels, "mol_id"],
        "toxcast_data.csv.gz": ["TOX21_ERa_BLA_Agonist_ratio", "ACEA_T47D_80hr_Negative", "ATG_PXRE_CIS_up"],
        "sider.csv.gz": list(TASKS["sider"].labels),
    }
    for file_name, columns in tables.items():
        label_columns = [column for column in columns if column != "mol_id"]
        frame = pd.DataFrame([[smiles, *labels(len(label_columns), index)] for index, smiles in enumerate(molecules)],
                             columns=["smiles", *label_columns])
        if "mol_id" in columns:
            frame["mol_id"] = [f"TOX{index}" for index in range(len(frame))]
        frame.to_csv(folder / file_name, index=False, compression="gzip")
    return folder


# ---------------------------------------------------------------- running the builders


def builder_command(script: str, output: Path, *options: str) -> list[str]:
    return [sys.executable, str(BUILDERS / script), "--output", str(output), *options]


def run_builder(command: list[str]) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    return subprocess.run(command, capture_output=True, text=True, env=environment, cwd=REPO_ROOT, timeout=600)


@pytest.fixture(scope="session")
def mol_instructions_zip(tmp_path_factory) -> Path:
    return write_mol_instructions_zip(tmp_path_factory.mktemp("mol-instructions") / "Molecule-oriented_Instructions.zip")


@pytest.fixture(scope="session")
def builds(tmp_path_factory, mol_instructions_zip) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Every builder run the tests inspect, keyed by name: (finished process, output folder)."""
    sources = tmp_path_factory.mktemp("sources")
    outputs = tmp_path_factory.mktemp("outputs")
    chebi20 = write_chebi20(sources / "chebi20")
    zip_path = mol_instructions_zip
    fixture_options = ("--max-atoms", MAX_ATOMS)
    commands = {
        "chebi20": builder_command("chebi20.py", outputs / "chebi20", "--source", str(chebi20), "--seed", "1",
                                   "--num-proc", "2", *fixture_options),
        "chebi20_same_seed": builder_command("chebi20.py", outputs / "chebi20_same_seed", "--source", str(chebi20),
                                             "--seed", "1", "--num-proc", "1", *fixture_options),
        "chebi20_other_seed": builder_command("chebi20.py", outputs / "chebi20_other_seed", "--source",
                                              str(chebi20), "--seed", "2", "--num-proc", "1", *fixture_options),
        "pubchem": builder_command("pubchem.py", outputs / "pubchem", "--source",
                                   str(write_pubchemsft(sources / "all_clean.json")), "--chebi20-test",
                                   str(chebi20 / "test.txt"), "--validation-fraction", "0.3", *fixture_options),
        "qm9_mol_instructions": builder_command("qm9.py", outputs / "qm9_mol_instructions", "--source",
                                                str(zip_path), "--validation-fraction", "0.3", *fixture_options),
        "qm9pack": builder_command("qm9.py", outputs / "qm9pack", "--origin", "qm9pack", "--limit", "400",
                                   "--num-proc", "2"),
        "pubchem_question": builder_command("pubchem.py", outputs / "pubchem_question", "--source",
                                            str(sources / "all_clean.json"), "--chebi20-test",
                                            str(chebi20 / "test.txt"), "--alignment-prompt", "question",
                                            *fixture_options),
        "moleculenet": builder_command("moleculenet.py", outputs / "moleculenet", "--source",
                                       str(write_moleculenet(sources / "MoleculeNet_data")), *fixture_options),
        "moleculenet_multilabel": builder_command(
            "moleculenet.py", outputs / "moleculenet_multilabel", "--source",
            str(write_moleculenet_multilabel(sources / "multilabel")), "--tasks", "clintox", "tox21", "toxcast",
            "sider", "--labels", "ACEA_T47D_80hr_Negative", "ATG_PXRE_CIS_up", "NR-AR", "CT_TOX", *fixture_options),
        "moleculenet_random": builder_command("moleculenet.py", outputs / "moleculenet_random", "--source",
                                              str(sources / "MoleculeNet_data"), "--split", "random", "--tasks",
                                              "bbbp", *fixture_options),
        "reactions": builder_command("reactions.py", outputs / "reactions", "--source", str(zip_path),
                                     "--validation-fraction", "0.3", *fixture_options),
        "reactions_smiles": builder_command("reactions.py", outputs / "reactions_smiles", "--source",
                                            str(zip_path), "--tasks", "forward", "--target-format", "smiles",
                                            "--text-notation", "smiles", *fixture_options),
        "reactions_every_molecule": builder_command("reactions.py", outputs / "reactions_every_molecule", "--source",
                                                    str(zip_path), "--reaction-graphs", "every-molecule",
                                                    "--validation-fraction", "0.3", *fixture_options),
        "quickstart": builder_command("quickstart.py", outputs / "quickstart", "--num-molecules", "300",
                                      "--num-qm9", "300"),
    }
    if REAL_CHEBI20.is_dir():
        commands["chebi20_real"] = builder_command("chebi20.py", outputs / "chebi20_real", "--source",
                                                   str(REAL_CHEBI20), "--splits", "test", "--num-proc", "2")
    with ThreadPoolExecutor(max_workers=2) as pool:
        finished = dict(zip(commands, pool.map(run_builder, commands.values())))
    return {name: (process, Path(commands[name][3])) for name, process in finished.items()}


def built(builds: dict, name: str) -> Path:
    process, output = builds[name]
    assert process.returncode == 0, f"{name} failed:\n{process.stdout[-3000:]}\n{process.stderr[-5000:]}"
    return output


def load(output: Path, config: str, tmp_path: Path, **kwargs):
    return load_dataset(str(output), config, cache_dir=str(tmp_path / "cache"), **kwargs)


def parquet_digests(output: Path) -> dict[str, str]:
    return {str(path.relative_to(output)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(output.glob("data/*/*.parquet"))}


def card_counts(output: Path) -> pd.DataFrame:
    """The card's table of rows in, rows out and drops, as a frame (one row per task and split)."""
    lines = [line for line in (output / "README.md").read_text().splitlines() if line.startswith("| ")]
    start = next(index for index, line in enumerate(lines) if line.startswith("| task | configs | split"))
    header = [cell.strip() for cell in lines[start].strip("|").split("|")]
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[start + 1:]]
    frame = pd.DataFrame(rows, columns=header)
    numeric = [column for column in header if column not in ("task", "configs", "split")]
    frame[numeric] = frame[numeric].astype(int)
    return frame


def drops(output: Path, task: str, split: str) -> dict[str, int]:
    row = card_counts(output).query("task == @task and split == @split").iloc[0]
    return {column.removeprefix("dropped: "): value for column, value in row.items()
            if column.startswith("dropped: ") and value}


def drops_from_train(output: Path, task: str) -> dict[str, int]:
    """Drops of source train rows, wherever the validation hash sent them."""
    total: dict[str, int] = {}
    for split in ("train", "validation"):
        if ((card_counts(output).task == task) & (card_counts(output).split == split)).any():
            for reason, count in drops(output, task, split).items():
                total[reason] = total.get(reason, 0) + count
    return total


def assert_readable_rows(dataset) -> None:
    """The one schema, registry task names, one image placeholder per graph, and every molecule of `images`
    passes the processor's featurizer."""
    featurizer = MolecularGraphFeaturizer()
    for split in dataset.values():
        assert split.features == ROW_FEATURES
        for row in split:
            assert row["task"] in TASKS
            assert row["images"] and row["smiles"] == ".".join(row["images"])
            for smiles in row["images"]:
                featurizer.featurize(smiles)
            assert row["prompt"][0]["role"] == "user" and row["completion"][0]["role"] == "assistant"
            blocks = row["prompt"][0]["content"]
            assert sum(block["type"] == "image" for block in blocks) == len(row["images"])
            assert row["completion"][0]["content"] == row["target"] != ""


def user_turn(row: dict) -> str:
    """The row's user turn as the model reads it (the processor's rendering, `<mol>` for each graph)."""
    return flatten_content(row["prompt"][0]["content"])[0]


def rows_by_id(output: Path, config: str, split: str, tmp_path: Path) -> dict[str, dict]:
    return {row["id"]: row for row in load(output, config, tmp_path)[split]}


def assert_released_placement(dataset, text_of) -> None:
    """Validation and test rows put the graph first; train rows put it before or after the text, as released.
    `text_of(row)` is the row's text as released (without the graph)."""
    for split, rows in dataset.items():
        for row in rows:
            graphs = "\n".join(["<mol>"] * len(row["images"]))
            allowed = {f"{graphs}\n{text_of(row)}"} | ({f"{text_of(row)}\n{graphs}"} if split == "train" else set())
            assert user_turn(row) in allowed, (split, row["id"], user_turn(row))


# The released code's wording (IDEA-XL/InstructMol, quoted in ../shared/PAPER-FIDELITY.md), written here on purpose
# rather than imported from the registry: these tests are the reference the registry must match.
RELEASED_DESCRIPTION_QUESTIONS = {
    "Could you give me a brief overview of this molecule?",
    "Could you provide a description of this molecule?",
    "Describe this molecule.",
    "Please give me some details about this molecule.",
    "Provide a brief overview of this molecule.",
    "Provide a description of this molecule.",
    "What can you tell me about this molecule?",
}
RELEASED_REAGENT_QUESTIONS = {
    "Can you suggest some possible reagents that could have been used in the following chemical reaction?",
    "Give some possible reagents that could have been used in the following chemical reaction.",
    "Please propose potential reagents that might have been utilized in the provided chemical reaction.",
    "Please provide possible reagents based on the following chemical reaction.",
}


def question_after_graph(text: str, questions: set[str], suffix: str = "") -> bool:
    """Whether a user turn is the graph, then one of `questions`, then `suffix`."""
    return any(text == f"<mol>\n{question}{suffix}" for question in questions)


# ---------------------------------------------------------------- ChEBI-20


def test_chebi20_rows_counts_and_drops(builds, tmp_path):
    output = built(builds, "chebi20")
    dataset = load(output, "description_g", tmp_path)
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 4, "validation": 1, "test": 2}
    assert_readable_rows(dataset)
    assert drops(output, "description", "train") == {
        "SMILES rejected by the featurizer": 1, "more than 40 heavy atoms": 1, "empty text": 1}
    counts = card_counts(output).set_index("split")
    assert counts.loc["train", "rows in"] == 7 and counts.loc["train", "rows out"] == 4
    ethanol = next(row for row in dataset["train"] if row["id"] == "702")
    assert ethanol["images"] == ["CCO"] and ethanol["task"] == "description"
    assert ethanol["target"].startswith("The molecule is a primary alcohol")
    # The printed summary and the card agree.
    assert "| description | description_g, description_gs, description_s | train | 7 | 4 |" in builds["chebi20"][0].stdout


def test_chebi20_user_turns_are_the_released_wording(builds, tmp_path):
    output = built(builds, "chebi20")
    g_rows, gs_rows = (rows_by_id(output, config, "test", tmp_path) for config in ("description_g", "description_gs"))
    assert g_rows.keys() == gs_rows.keys() == {"176", "5793"}
    acid_g, acid_gs = user_turn(g_rows["176"]), user_turn(gs_rows["176"])
    assert question_after_graph(acid_g, RELEASED_DESCRIPTION_QUESTIONS)
    # GS: the same question, then the released suffix with its final period.
    assert acid_gs == f"{acid_g} The compound SELFIES sequence is: [C][C][=Branch1][C][=O][O]."
    # MolT5's escaped bond directions still get a SELFIES string (RDKit rewrites the SMILES first).
    assert "The compound SELFIES sequence is: [C]" in user_turn(gs_rows["5793"])
    for config in ("description_g", "description_gs"):
        dataset = load(output, config, tmp_path)
        assert_released_placement(dataset, lambda row: next(
            block["text"] for block in row["prompt"][0]["content"] if block["type"] == "text"))
        questions = {next(block["text"] for block in row["prompt"][0]["content"] if block["type"] == "text")
                     .split(" The compound SELFIES")[0] for rows in dataset.values() for row in rows}
        assert questions <= RELEASED_DESCRIPTION_QUESTIONS


def test_same_seed_gives_byte_identical_parquet_and_other_seed_differs(builds):
    first = parquet_digests(built(builds, "chebi20"))
    assert first and first == parquet_digests(built(builds, "chebi20_same_seed"))  # also 2 processes vs 1
    other = parquet_digests(built(builds, "chebi20_other_seed"))
    assert other.keys() == first.keys() and other != first


def test_streaming_load(builds, tmp_path):
    output = built(builds, "chebi20")
    streamed = load(output, "description_gs", tmp_path, streaming=True)
    rows = list(streamed["train"])
    assert len(rows) == 4 and rows[0].keys() == ROW_FEATURES.keys()


@pytest.mark.skipif(not REAL_CHEBI20.is_dir(), reason=f"real ChEBI-20 splits not found at {REAL_CHEBI20}")
def test_chebi20_real_test_split(builds, tmp_path):
    output = built(builds, "chebi20_real")
    test = load(output, "description_gs", tmp_path)["test"]
    counts = card_counts(output).iloc[0]
    assert counts["rows in"] == 3300 and counts["rows out"] == len(test)
    assert 3200 < len(test) < 3300  # a few molecules over 256 atoms or without a SELFIES encoding are dropped
    assert sum(counts[column] for column in counts.index if column.startswith("dropped: ")) == 3300 - len(test)
    assert_readable_rows({"test": test.select(range(0, len(test), 50))})
    # Every question of the released pool is drawn, each graph first (a test split).
    assert {user_turn(row).split("\n")[1].split(" The compound")[0] for row in test} == RELEASED_DESCRIPTION_QUESTIONS


def test_wrong_columns_fail_naming_them(tmp_path):
    source = tmp_path / "chebi20"
    source.mkdir()
    (source / "test.txt").write_text("CID\tsmiles\ttext\n1\tCCO\tEthanol.\n")
    process = run_builder(builder_command("chebi20.py", tmp_path / "out", "--source", str(source), "--splits",
                                          "test"))
    assert process.returncode != 0
    assert "lacks the column(s) ['SMILES', 'description']" in process.stderr


# ---------------------------------------------------------------- PubChem (stage 1)


def test_pubchem_removes_chebi20_test_molecules_and_short_descriptions(builds, tmp_path):
    output = built(builds, "pubchem")
    dataset = load(output, "alignment_g", tmp_path)
    assert_readable_rows(dataset)
    kept = [row for split in dataset.values() for row in split]
    assert sorted(row["smiles"] for row in kept) == ["CCCC", "CCCC", "c1ccncc1"]
    counts = card_counts(output)
    assert counts["rows in"].sum() == 8 and counts["rows out"].sum() == 3
    dropped = counts.filter(like="dropped: ").sum().to_dict()
    assert dropped == {"dropped: molecule in the ChEBI-20 test split": 1,
                       "dropped: description shorter than 5 words": 1, "dropped: empty text": 1,
                       "dropped: SMILES rejected by the featurizer": 1, "dropped: more than 40 heavy atoms": 1}
    # Both descriptions of one molecule stay in one split.
    assert len({split for split, rows in dataset.items() for row in rows if row["smiles"] == "CCCC"}) == 1


def test_pubchem_rows_are_the_released_plain_form_and_the_question_option(builds, tmp_path):
    plain = load(built(builds, "pubchem"), "alignment_g", tmp_path)
    assert {user_turn(row) for rows in plain.values() for row in rows} == {"<mol>"}  # the graph alone, as released
    asked = load(built(builds, "pubchem_question"), "alignment_g", tmp_path)
    assert all(question_after_graph(user_turn(row), RELEASED_DESCRIPTION_QUESTIONS) or
               any(user_turn(row) == f"{question}\n<mol>" for question in RELEASED_DESCRIPTION_QUESTIONS)
               for rows in asked.values() for row in rows)
    card = (built(builds, "pubchem_question") / "README.md").read_text()
    assert "`--alignment-prompt plain` restores that" in card
    plain_card = (built(builds, "pubchem") / "README.md").read_text()
    assert "--alignment-prompt" not in plain_card and "train.pkl" in plain_card  # the authors' pickled split named


# ---------------------------------------------------------------- QM9


def test_qm9_from_mol_instructions(builds, tmp_path):
    output = built(builds, "qm9_mol_instructions")
    homo = load(output, "homo_gs", tmp_path)
    assert_readable_rows(homo)
    assert {row["task"] for split in homo.values() for row in split} == {"homo"}
    test_row = homo["test"][0]
    assert test_row["images"] == ["CCO"] and test_row["target"] == "-0.25"
    # The record's own instruction; GS adds the released suffix without a final period.
    assert user_turn(test_row) == ("<mol>\nWhat is the HOMO energy of this molecule? "
                                   "The compound SELFIES sequence is: [C][C][O]")
    assert user_turn(load(output, "homo_g", tmp_path)["test"][0]) == "<mol>\nWhat is the HOMO energy of this molecule?"
    gap = load(output, "gap_g", tmp_path)
    assert_released_placement(gap, lambda row: (
        "Please provide the energy separation between the highest occupied and lowest unoccupied molecular "
        "orbitals (HOMO-LUMO gap) of this molecule."))
    assert sum(len(split) for split in gap.values()) == 6
    everything = load(output, "qm9_g", tmp_path)
    assert sum(len(split) for split in everything.values()) == 18
    assert {row["task"] for split in everything.values() for row in split} == {"homo", "lumo", "gap"}
    all_drops = card_counts(output).query("task == 'qm9'").filter(like="dropped: ").sum()
    assert all_drops[all_drops > 0].to_dict() == {
        "dropped: instruction names no HOMO, LUMO or gap": 1, "dropped: SELFIES cannot be decoded": 1,
        "dropped: missing value": 1, "dropped: metadata.split is neither train nor test": 1}
    # Each molecule's rows share one split (validation is carved from train by molecule).
    split_of = {}
    for split, rows in everything.items():
        for row in rows:
            assert split_of.setdefault(row["smiles"], split) == split
    assert "property_overlap.txt" in (output / "README.md").read_text()


def test_qm9_from_qm9pack(builds, tmp_path):
    output = built(builds, "qm9pack")
    gap = load(output, "gap_g", tmp_path)
    assert_readable_rows(gap)
    assert sum(len(split) for split in gap.values()) == 400 and set(gap) == {"train", "validation", "test"}
    qm9 = pd.concat(pd.read_csv(path, usecols=["Index", "SMILES", "HOMO_LUMO_gap_au"])
                    for path in sorted(next(Path(p) for p in sys.path if (Path(p) / "qm9pack").is_dir())
                                       .joinpath("qm9pack", "data").glob("qm9_part*.csv"))).set_index("Index")
    for row in gap["test"]:
        assert row["target"] == f"{qm9.loc[int(row['id']), 'HOMO_LUMO_gap_au']:.4f}"
        assert row["smiles"] == qm9.loc[int(row["id"]), "SMILES"]
    assert {split: len(rows) for split, rows in load(output, "qm9_gs", tmp_path).items()} == {
        split: 3 * len(rows) for split, rows in gap.items()}
    # Train rows put the graph after the question about half of the time (320 rows), never outside train.
    after = [user_turn(row).endswith("<mol>") for row in gap["train"]]
    assert 0.4 < sum(after) / len(after) < 0.6
    assert not any(user_turn(row).endswith("<mol>") for split in ("validation", "test") for row in gap[split])


# ---------------------------------------------------------------- MoleculeNet


def test_moleculenet_scaffold_split_is_disjoint(builds, tmp_path):
    output = built(builds, "moleculenet")
    for name, rows_kept in (("bace", 40), ("bbbp", 30), ("hiv", 30)):
        dataset = load(output, f"{name}_gs", tmp_path)
        assert_readable_rows(dataset)
        assert sum(len(split) for split in dataset.values()) == rows_kept
        assert len(dataset["train"]) >= len(dataset["validation"]) > 0 and len(dataset["test"]) > 0
        scaffolds = {split: {murcko_scaffold(smiles) for smiles in rows["smiles"]} for split, rows in dataset.items()}
        assert not scaffolds["train"] & scaffolds["validation"]
        assert not scaffolds["train"] & scaffolds["test"]
        assert not scaffolds["validation"] & scaffolds["test"]
        assert {row["target"] for split in dataset.values() for row in split} == {"Yes", "No"}
        assert {row["task"] for split in dataset.values() for row in split} == {name}
    assert drops(output, "bace", "(before splitting)") == {"SMILES rejected by the featurizer": 1,
                                                            "missing value": 1}
    card = (output / "README.md").read_text()
    assert "Split protocol: the deterministic Bemis-Murcko scaffold split" in card


def test_moleculenet_user_turns(builds, tmp_path):
    output = built(builds, "moleculenet")
    g_rows, gs_rows = (rows_by_id(output, config, "test", tmp_path) for config in ("bbbp_g", "bbbp_gs"))
    for row_id, g_row in g_rows.items():
        # The wording of the released MoleculeNet prompts was never published: this project's pool.
        assert question_after_graph(user_turn(g_row), set(MOLECULENET_POOLS["bbbp"]))
        selfies_string = smiles_to_selfies(g_row["smiles"])
        assert user_turn(gs_rows[row_id]) == f"{user_turn(g_row)} The compound SELFIES sequence is: {selfies_string}"


def test_moleculenet_random_split_is_the_released_protocol(builds, tmp_path):
    output = built(builds, "moleculenet_random")
    dataset = load(output, "bbbp_g", tmp_path)
    assert {split: len(rows) for split, rows in dataset.items()} == {"train": 24, "validation": 3, "test": 3}
    card = (output / "README.md").read_text()
    assert "Split protocol: a seeded random 80/10/10 split" in card and "bace_g" not in card


def test_multilabel_tasks_have_a_row_per_molecule_and_label_split_by_molecule(builds, tmp_path):
    output = built(builds, "moleculenet_multilabel")
    expected_labels = {"clintox": {"CT_TOX"}, "tox21": {"NR-AR"}, "toxcast": {"ACEA_T47D_80hr_Negative", "ATG_PXRE_CIS_up"},
                       "sider": set(TASKS["sider"].labels)}  # --labels builds the named ones where a task has them
    for task, labels in expected_labels.items():
        dataset = load(output, f"{task}_g", tmp_path)
        assert_readable_rows(dataset)
        rows = [row for split in dataset.values() for row in split]
        assert {label_of(row["id"]) for row in rows} == labels
        assert {row["target"] for row in rows} == {"Yes", "No"}
        for row in rows:  # the question names the assay or side effect; train rows place the graph either side
            question = label_question(TASKS[task], label_of(row["id"]))
            assert user_turn(row) in (f"<mol>\n{question}", f"{question}\n<mol>")
        assert all(user_turn(row).startswith("<mol>\n") for row in dataset["test"])
        split_of_molecule = {}
        for split, split_rows in dataset.items():
            for row in split_rows:
                molecule = row["id"].split("|")[0]
                assert split_of_molecule.setdefault(molecule, split) == split  # all labels of a molecule together
        # Every third label value is blank: missing, dropped and counted.
        missing = sum(drops(output, task, split).get("missing value", 0) for split in ("(before splitting)",))
        assert missing and missing + len(rows) == 30 * len(labels)
    assert "Is this molecule active in the ToxCast assay ATG_PXRE_CIS_up? Answer Yes or No." in {
        user_turn(row).split("\n")[1] for split in load(output, "toxcast_g", tmp_path).values() for row in split}


def test_moleculenet_wrong_columns_fail_naming_them(tmp_path):
    folder = tmp_path / "moleculenet"
    folder.mkdir()
    pd.DataFrame({"smiles": ["CCO"], "Class": [1]}).to_csv(folder / "bace.csv", index=False)
    process = run_builder(builder_command("moleculenet.py", tmp_path / "out", "--source", str(folder),
                                          "--tasks", "bace"))
    assert process.returncode != 0 and "lacks the column(s) ['mol']" in process.stderr


# ---------------------------------------------------------------- reactions

FORWARD_INSTRUCTION = "With the provided reactants and reagents, propose a potential product."
RETRO_INSTRUCTION = "Please suggest potential reactants for the given product."
REAGENT_INSTRUCTION = "Please suggest some possible reagents that could have been used in the following chemical reaction."


def test_forward_rows_are_the_released_wording(builds, tmp_path):
    output = built(builds, "reactions")
    g_rows, gs_rows = (rows_by_id(output, config, "test", tmp_path) for config in ("forward_g", "forward_gs"))
    two, three = g_rows["test-1"], g_rows["test-2"]
    # The first reactant is the graph; G names the others as text, comma-separated.
    assert two["images"] == ["CO"] and two["target"] == "[C][O][C][Branch1][C][C][=O]"
    assert user_turn(two) == f"<mol>\n{FORWARD_INSTRUCTION} The other joint reactants are: [C][C][=Branch1][C][=O][Cl]"
    assert three["images"] == ["N"]
    assert user_turn(three) == (f"<mol>\n{FORWARD_INSTRUCTION} The other joint reactants are: "
                                "[C][C][=Branch1][C][=O][Cl],[C][C][N]")
    # GS: the same graph, all reactants appended.
    assert gs_rows["test-1"]["images"] == ["CO"]
    assert user_turn(gs_rows["test-1"]) == f"<mol>\n{FORWARD_INSTRUCTION} [C][O].[C][C][=Branch1][C][=O][Cl]"
    assert_readable_rows(load(output, "forward_g", tmp_path))


def test_retrosynthesis_rows_are_the_released_wording(builds, tmp_path):
    output = built(builds, "reactions")
    g_row = rows_by_id(output, "retrosynthesis_g", "test", tmp_path)["test-1"]
    gs_row = rows_by_id(output, "retrosynthesis_gs", "test", tmp_path)["test-1"]
    assert g_row["images"] == gs_row["images"] == ["COC(C)=O"]  # the product
    assert user_turn(g_row) == f"<mol>\n{RETRO_INSTRUCTION}"
    assert user_turn(gs_row) == f"<mol>\n{RETRO_INSTRUCTION} The product is: [C][O][C][Branch1][C][C][=O]"


def test_reagent_rows_are_the_released_wording(builds, tmp_path):
    output = built(builds, "reactions")
    g_row = rows_by_id(output, "reagent_g", "test", tmp_path)["test-1"]
    gs_row = rows_by_id(output, "reagent_gs", "test", tmp_path)["test-1"]
    assert g_row["images"] == gs_row["images"] == ["CO.CC(=O)Cl"]  # the reactant side, one graph
    assert question_after_graph(user_turn(g_row), RELEASED_REAGENT_QUESTIONS,
                                suffix="\nThe product is [C][O][C][Branch1][C][C][=O]")
    assert user_turn(gs_row) == (f"<mol>\n{REAGENT_INSTRUCTION} The reaction is "
                                 "[C][O].[C][C][=Branch1][C][=O][Cl]>>[C][O][C][Branch1][C][C][=O]")


@pytest.mark.parametrize("build", ["reactions", "reactions_every_molecule"])
def test_every_reagent_row_in_every_config_names_its_product(builds, mol_instructions_zip, tmp_path, build):
    output = built(builds, build)
    records = json.loads(zipfile.ZipFile(mol_instructions_zip).read(
        "Molecule-oriented_Instructions/reagent_prediction.json"))
    products = {f"{record['metadata']['split']}-{index}": record["input"].split(">>")[1]
                for index, record in enumerate(records) if ">>" in record["input"]}
    checked = 0
    for config in ("reagent_g", "reagent_gs"):
        for split, rows in load(output, config, tmp_path).items():
            for row in rows:
                text = user_turn(row)
                assert (f"The product is {products[row['id']]}" in text if config == "reagent_g"
                        else text.endswith(f">>{products[row['id']]}")), (config, split, text)
                checked += 1
    assert checked == 4


def test_reaction_graph_option_makes_every_reactant_a_graph(builds, tmp_path):
    output = built(builds, "reactions_every_molecule")
    forward = rows_by_id(output, "forward_g", "test", tmp_path)
    assert forward["test-1"]["images"] == ["CO", "CC(=O)Cl"]
    assert user_turn(forward["test-1"]) == f"<mol>\n<mol>\n{FORWARD_INSTRUCTION}"  # no reactant left as text
    reagent = rows_by_id(output, "reagent_g", "test", tmp_path)["test-1"]
    assert reagent["images"] == ["CO", "CC(=O)Cl"]
    assert user_turn(reagent).startswith("<mol>\n<mol>\n") and user_turn(reagent).endswith(
        "\nThe product is [C][O][C][Branch1][C][C][=O]")
    assert "`--reaction-graphs released` restores that" in (output / "README.md").read_text()
    assert "--reaction-graphs" not in (built(builds, "reactions") / "README.md").read_text()


def test_reaction_drops(builds):
    output = built(builds, "reactions")
    assert drops_from_train(output, "forward") == {"SELFIES cannot be decoded": 1,
                                                   "target SELFIES cannot be decoded": 1}
    assert drops_from_train(output, "retrosynthesis") == {"more than 40 heavy atoms": 1}
    assert drops_from_train(output, "reagent") == {"input is not a reaction (no '>>')": 1}


def test_reactions_smiles_targets_and_prompts(builds, tmp_path):
    output = built(builds, "reactions_smiles")
    row = rows_by_id(output, "forward_gs", "test", tmp_path)["test-1"]
    assert row["target"] == "COC(C)=O"
    assert user_turn(row) == f"<mol>\n{FORWARD_INSTRUCTION} CO.CC(=O)Cl"
    card = (output / "README.md").read_text()
    assert "`--text-notation selfies` restores that" in card and "`--target-format selfies` restores that" in card


# ---------------------------------------------------------------- quickstart


def test_quickstart_short_answers(builds, tmp_path):
    output = built(builds, "quickstart")
    alignment = load(output, "alignment_g", tmp_path)
    gap = load(output, "gap_g", tmp_path)
    assert_readable_rows(alignment)
    assert_readable_rows(gap)
    assert sum(len(split) for split in gap.values()) == 300
    assert 290 <= sum(len(split) for split in alignment.values()) <= 300  # a few NCI SMILES are unreadable
    for row in alignment["train"]:
        assert row["target"].startswith("The molecule has the formula ") and len(row["target"]) < 220
        assert user_turn(row) == "<mol>"
    for row in gap["train"]:
        whole, decimals = row["target"].lstrip("-").split(".")
        assert whole.isdigit() and len(decimals) == 4
    assert {row["task"] for row in gap["train"]} == {"gap"}


def test_every_builder_writes_identical_features_and_registry_tasks(builds, tmp_path):
    outputs = ["chebi20", "pubchem", "qm9_mol_instructions", "qm9pack", "moleculenet", "reactions", "quickstart"]
    for name in outputs:
        output = built(builds, name)
        for path in output.glob("data/*/*.parquet"):
            parquet = load_dataset("parquet", data_files=str(path), cache_dir=str(tmp_path / "cache"))
            text_only = path.parent.name.endswith("_s")
            assert parquet["train"].features == (TEXT_ROW_FEATURES if text_only else ROW_FEATURES), (name, path)
            assert set(parquet["train"]["task"]) <= set(TASKS), (name, path)
            # The config is named after its task (or the tasks' group).
            task_names = set(parquet["train"]["task"])
            prefix = path.parent.name.rsplit("_", 1)[0]
            assert task_names == {prefix} or set(GROUPS[prefix].members) >= task_names, (name, path)


@pytest.mark.parametrize(("build", "task"), [("chebi20", "description"), ("qm9_mol_instructions", "homo"),
                                             ("moleculenet", "bace"), ("reactions", "forward"),
                                             ("reactions", "reagent")])
def test_string_only_rows_are_the_gs_rows_without_the_graph(builds, tmp_path, build, task):
    output = built(builds, build)
    gs_rows = {row["id"]: row for split in load(output, f"{task}_gs", tmp_path).values() for row in split}
    s_rows = {row["id"]: row for split in load(output, f"{task}_s", tmp_path).values() for row in split}
    assert s_rows.keys() == gs_rows.keys() and s_rows
    for row_id, row in s_rows.items():
        gs_text = next(block["text"] for block in gs_rows[row_id]["prompt"][0]["content"] if block["type"] == "text")
        assert "images" not in row and row["prompt"] == [{"role": "user", "content": gs_text}]
        assert "<mol>" not in row["prompt"][0]["content"]
        assert (row["smiles"], row["target"], row["task"]) == (gs_rows[row_id]["smiles"], gs_rows[row_id]["target"], task)


# ---------------------------------------------------------------- pushing to a Hub (a loopback one)

PULL_SCRIPT = """
    import json, sys
    from datasets import load_dataset
    repo, output = sys.argv[1:]
    rows = {config: load_dataset(repo, config, split="test").to_list() for config in ("description_g", "description_gs", "description_s")}
    json.dump(rows, open(output, "w"))
"""


def test_push_to_hub_then_load_dataset_from_the_hub(tmp_path):
    hub = LoopbackHub(tmp_path / "hub-storage").start()
    try:
        repo = "test-user/instructmol-chebi20"
        output = tmp_path / "chebi20-out"
        push = subprocess.run(
            builder_command("chebi20.py", output, "--source", str(write_chebi20(tmp_path / "chebi20")), "--splits",
                            "test", "--num-proc", "1", "--push-to-hub", repo),
            capture_output=True, text=True, env=hub_environment(hub, tmp_path / "home-push", token=hub.token), cwd=REPO_ROOT)
        assert push.returncode == 0, push.stderr[-4000:]
        pushed = hub.files(repo, "dataset")
        assert {path for path in pushed if path.endswith(".parquet")} == {
            f"data/description_{variant}/test-00000-of-00001.parquet" for variant in ("g", "gs", "s")}
        assert pushed["README.md"] == (output / "README.md").read_bytes()  # our card, not push_to_hub's

        pull = subprocess.run([sys.executable, "-c", textwrap.dedent(PULL_SCRIPT), repo, str(tmp_path / "rows.json")],
                              capture_output=True, text=True, env=hub_environment(hub, tmp_path / "home-pull", token=hub.token))
        assert pull.returncode == 0, pull.stderr[-4000:]
    finally:
        hub.stop()
    pulled = json.loads((tmp_path / "rows.json").read_text())
    for config in ("description_g", "description_gs", "description_s"):
        assert pulled[config] == load(output, config, tmp_path)["test"].to_list()
