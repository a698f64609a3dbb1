"""PubChem molecule-description pairs for InstructMol's stage-1 alignment, with ChEBI-20 test molecules removed.

Config `alignment_g`: the task `alignment`, the graph alone in the user turn and the description as the answer, as
the released stage 1 trained (`--alignment-prompt question` asks a description question instead). Sources:
- `--origin pubchemsft` (default): InstructMol's own `OpenMol/PubChemSFT` on the Hub, file `all_clean.json`
  (`{smiles: [[question, description], ...]}`, ~330K pairs). The authors' own split is in pickles (unsafe to load)
  and is not used: `--validation-fraction` of the molecules (by a seeded hash of the SMILES) becomes validation.
- `--origin pubchem324kv2`: MolCA's `acharkq/PubChem324kV2` (`pretrain.pt`, `train.pt`, `valid.pt`, `test.pt`,
  PyG InMemoryDatasets with `smiles`, `text` and `cid`); pretrain+train -> train, valid -> validation, test -> test.

As the paper did, rows whose molecule is in the ChEBI-20 test split (same InChIKey) and rows with an empty or too
short description are dropped; `--exclude-test-of DIR [DIR ...]` also drops the test molecules of other built
datasets (e.g. MoleculeNet or QM9, which the paper did not clean against).

    python datasets/pubchem.py --output pubchem [--origin pubchemsft] [--source all_clean.json] [--exclude-test-of DIR]
"""

import zipfile
from pathlib import Path

from datasets import Dataset

from instructmol.arguments import fraction, positive_int
from instructmol.data import (
    build_options,
    build_task,
    builder_argument_parser,
    candidate,
    candidates_dataset,
    CardSpec,
    EMPTY_TEXT,
    fetch,
    find_file,
    finish_build,
    hashed_split,
    hub_dataset_file,
    inchikey,
    map_processes,
    read_json,
    resolve_molecules,
    run_builder,
    split_fractions,
    start_build,
)
from instructmol.data.leakage import test_molecules_of
from instructmol.data.molt5 import MOLT5_CHEBI20_URL, chebi20_split_location, read_chebi20_file
from instructmol.tasks import TASKS

TASK = TASKS["alignment"]
PUBCHEMSFT_FILE = hub_dataset_file("OpenMol/PubChemSFT", "all_clean.json")
PUBCHEM324K_REPO = "acharkq/PubChem324kV2"
PUBCHEM324K_SPLITS = {"pretrain.pt": "train", "train.pt": "train", "valid.pt": "validation", "test.pt": "test"}
IN_CHEBI20_TEST = "molecule in the ChEBI-20 test split"
DEFAULT_MIN_DESCRIPTION_WORDS = 5

CARD = CardSpec(
    pretty_name="InstructMol PubChem alignment pairs",
    summary=(
        "Molecule-description pairs from PubChem for InstructMol's stage-1 alignment (Cao et al., COLING 2025): "
        "the graph encoder and the LLM stay frozen and only the projector learns to map atom vectors into the "
        "LLM's embedding space by describing the molecule. Molecules of the ChEBI-20 test split are removed (by "
        "InChIKey), as are empty or very short descriptions, as the paper did (about 330K -> 264K pairs)."
    ),
    source=(
        "`--origin pubchemsft`: `all_clean.json` of the Hub dataset `OpenMol/PubChemSFT` (InstructMol's authors), a "
        "JSON object mapping each SMILES to a list of `[question, description]` pairs; only the descriptions are "
        "used (the released stage 1 ignores the questions too). The same repository holds the authors' split as "
        "pickles (`train.pkl`, `valid.pkl`, `test.pkl`, about 80/10/10) and a `stage1/` folder written by "
        "`datasets.save_to_disk`; neither is read here (see the split protocol). `--origin pubchem324kv2`: MolCA's `acharkq/PubChem324kV2` "
        "(`pretrain.pt`, `train.pt`, `valid.pt`, `test.pt`; PyTorch Geometric InMemoryDatasets whose records carry "
        "`smiles`, `text` (one description per line) and `cid`). Both are derived from PubChem compound "
        "descriptions, collected as in MoleculeSTM's PubChemSTM."
    ),
    split_protocol=(
        "`--origin pubchemsft`: a seeded hash of each SMILES sends `--validation-fraction` of the molecules to "
        "validation (all descriptions of a molecule stay together); no test split. The authors' own split exists "
        "only as pickled files, which can run code when loaded, so this builder does not read it. "
        "`--origin pubchem324kv2`: MolCA's files (pretrain + train -> train, valid -> validation, test -> test)."
    ),
    differences=[
        "The split is not the authors' (their `train.pkl`/`valid.pkl`/`test.pkl` are pickles, unsafe to load): "
        "see the split protocol.",
        "Descriptions shorter than `--min-description-words` words are dropped; `all_clean.json` is already "
        "cleaned by the authors, and the paper states no threshold (`--min-description-words 1` keeps them all).",
    ],
    license="other",
    license_details=(
        "PubChem data is in the public domain (NCBI). `OpenMol/PubChemSFT` is published under the MIT licence; "
        "descriptions are contributed to PubChem by their data sources, some of which state their own terms. "
        "InstructMol's authors release their data for research use only."
    ),
    notes=(
        "Format check: the PubChemSFT layout (`all_clean.json` at the repository root, `{smiles: [[q, a], ...]}`) "
        "follows PyTorch Geometric's `InstructMolDataset` loader and the authors' preprocessing scripts; the "
        "PubChem324kV2 layout follows MolCA's loader. The builder's tests use files written in these formats; "
        "neither file was downloaded while writing this builder."
    ),
    citations=[
        """@article{kim2023pubchem,
  title   = {PubChem 2023 update},
  author  = {Kim, Sunghwan and Chen, Jie and Cheng, Tiejun and others},
  journal = {Nucleic Acids Research},
  volume  = {51},
  number  = {D1},
  pages   = {D1373--D1380},
  year    = {2023}
}""",
        """@inproceedings{liu2023molca,
  title     = {MolCA: Molecular Graph-Language Modeling with Cross-Modal Projector and Uni-Modal Adapter},
  author    = {Liu, Zhiyuan and Li, Sihang and Luo, Yanchen and Fei, Hao and Cao, Yixin and Kawaguchi, Kenji and Wang, Xiang and Chua, Tat-Seng},
  booktitle = {Proceedings of EMNLP 2023},
  year      = {2023}
}""",
    ],
)


def too_short(min_words: int) -> str:
    return f"description shorter than {min_words} words"


MALFORMED_ENTRY = "entry is not a list of [question, description] pairs"
MALFORMED_PAIR = "pair is not [question, description]"
NOT_TEXT = "description is not text"


class JsonObjectPairs(list):
    """A JSON object's (key, value) pairs in file order, repeated keys included (a dict would keep the last)."""


def description_problem(description, min_words: int) -> str:
    """'' for a usable description, else the drop reason (not text, not valid Unicode, empty, too short)."""
    if not isinstance(description, str):
        return NOT_TEXT
    if not description.strip():
        return EMPTY_TEXT
    try:
        description.encode("utf-8")
    except UnicodeEncodeError:
        return NOT_TEXT  # a lone surrogate escaped in the JSON
    return too_short(min_words) if len(description.split()) < min_words else ""


def pubchemsft_candidates(path: Path, seed: int, validation_fraction: float, min_words: int) -> list[dict]:
    """Candidates from `all_clean.json`: one per (SMILES, description) pair, split by a hash of the SMILES.

    Every pair becomes a candidate, a SMILES repeated as a key included; an entry or pair of the wrong shape, or a
    description that is not text, is dropped and counted.
    """
    entries = read_json(path.read_bytes(), str(path), object_pairs_hook=JsonObjectPairs)
    if not isinstance(entries, JsonObjectPairs):
        raise ValueError(f"{path}: expected a JSON object mapping SMILES to [question, description] pairs, "
                         f"got a {type(entries).__name__}")
    fractions = split_fractions(validation_fraction)
    records = []
    for molecule_index, (smiles, pairs) in enumerate(entries):
        smiles = smiles.strip()
        split = hashed_split(smiles, seed, fractions)
        if not isinstance(pairs, list) or not pairs:
            records.append(candidate(row_id=f"{molecule_index}-0", task=TASK.name, split=split, molecule_input=smiles,
                                     target="", drop_reason=MALFORMED_ENTRY))
            continue
        for pair_index, pair in enumerate(pairs):
            well_formed = isinstance(pair, list) and len(pair) == 2
            problem = description_problem(pair[1], min_words) if well_formed else MALFORMED_PAIR
            records.append(candidate(row_id=f"{molecule_index}-{pair_index}", task=TASK.name, split=split,
                                     molecule_input=smiles, target=pair[1].strip() if not problem else "",
                                     drop_reason=problem if smiles else ""))
    return records


def read_pubchem324k_file(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(cids, smiles, texts) of a PubChem324kV2 `.pt` file: PyG's `(data, slices)` of string attributes."""
    import torch
    import torch_geometric.data.data as pyg_data
    import torch_geometric.data.storage as pyg_storage

    # weights_only loading allows just the PyG classes the file is made of; nothing else can execute.
    allowed = [pyg_data.Data, pyg_data.DataEdgeAttr, pyg_data.DataTensorAttr, pyg_storage.GlobalStorage]
    with torch.serialization.safe_globals(allowed):
        data, _ = torch.load(path, map_location="cpu", weights_only=True)
    missing = [key for key in ("smiles", "text") if key not in data]
    if missing:
        raise ValueError(f"{path} lacks the attribute(s) {missing}; it has {sorted(data.keys())}")
    smiles, texts = _as_list(data["smiles"]), _as_list(data["text"])
    cids = [str(cid) for cid in _as_list(data["cid"])] if "cid" in data else [""] * len(smiles)
    if not len(smiles) == len(texts) == len(cids):
        raise ValueError(f"{path}: {len(smiles)} SMILES, {len(texts)} texts and {len(cids)} CIDs do not pair up")
    return cids, smiles, texts


def _as_list(values) -> list:
    # PyG's collate keeps a one-record dataset's attribute as the value itself, not a one-item list; numeric
    # attributes (CIDs in some releases) are tensors.
    if hasattr(values, "tolist"):
        values = values.tolist()
    return [values] if isinstance(values, (str, int)) else list(values)


def pubchem324k_folder(source: str | None) -> Path:
    """A folder with the four `.pt` files: `--source` as given, or the Hub repository (zips unpacked)."""
    if source:
        return fetch(source)
    from huggingface_hub import snapshot_download

    folder = Path(snapshot_download(PUBCHEM324K_REPO, repo_type="dataset", allow_patterns=["*.pt", "*.zip"]))
    for archive in folder.rglob("*.zip"):
        zipfile.ZipFile(archive).extractall(archive.parent)
    return folder


def pubchem324k_candidates(folder: Path, min_words: int) -> list[dict]:
    """Candidates from PubChem324kV2; a record's description is its text lines joined by spaces (as MolCA does)."""
    records = []
    for file_name, split in PUBCHEM324K_SPLITS.items():
        cids, smiles_list, texts = read_pubchem324k_file(find_file(folder, file_name))
        for index, (cid, smiles, text) in enumerate(zip(cids, smiles_list, texts)):
            smiles = (smiles or "").strip()
            description = " ".join(line.strip() for line in (text or "").splitlines() if line.strip())
            row_id = f"{file_name.removesuffix('.pt')}-{index}" + (f"-cid{cid}" if cid else "")
            records.append(candidate(row_id=row_id, task=TASK.name, split=split, molecule_input=smiles,
                                     target=description,
                                     drop_reason=description_problem(description, min_words) if smiles else ""))
    return records


def chebi20_test_inchikeys(location: str) -> set[str]:
    frame = read_chebi20_file(location)
    return {key for key in map(inchikey, frame["SMILES"]) if key}


def excluded_molecules(chebi20_test: str, test_folders: list[str]) -> dict[str, str]:
    """InChIKey -> why a row holding it is dropped: the ChEBI-20 test split first, then each folder's test splits."""
    reasons = dict.fromkeys(chebi20_test_inchikeys(chebi20_test), IN_CHEBI20_TEST)
    for folder, keys in test_molecules_of(test_folders).items():
        for key in keys:
            reasons.setdefault(key, f"molecule in a test split of {folder}")
    return reasons


def _mark_excluded_batch(batch: dict[str, list], excluded: dict[str, str]) -> dict[str, list]:
    reasons = []
    for images, reason in zip(batch["images"], batch["drop_reason"]):
        if not reason:
            reason = next((excluded[key] for key in map(inchikey, images) if key in excluded), "")
        reasons.append(reason)
    return {"drop_reason": reasons}


def mark_excluded_molecules(checked: Dataset, excluded: dict[str, str], num_proc: int | None) -> Dataset:
    """Marks rows whose molecule is a test molecule elsewhere (`excluded`: InChIKey -> reason), so stage 1 never
    sees it."""
    return checked.map(_mark_excluded_batch, batched=True, fn_kwargs={"excluded": excluded},
                       num_proc=map_processes(num_proc, len(checked)), desc="Removing test molecules")


def main(argv: list[str] | None = None) -> None:
    parser = builder_argument_parser(
        "pubchem.py",
        __doc__.splitlines()[0],
        [TASK],
        source_help="local copy of the source: all_clean.json (pubchemsft) or a folder with the .pt files "
        "(pubchem324kv2); default: download from the Hub",
    )
    parser.add_argument("--origin", choices=["pubchemsft", "pubchem324kv2"], default="pubchemsft")
    parser.add_argument("--chebi20-test", default=chebi20_split_location(MOLT5_CHEBI20_URL, "test"),
                        help="ChEBI-20 test.txt (path or URL) whose molecules are removed")
    parser.add_argument("--exclude-test-of", nargs="+", default=[], metavar="DIR",
                        help="built dataset folders whose test molecules (every task's test split, by InChIKey) are "
                        "removed as well")
    parser.add_argument("--min-description-words", type=positive_int, default=DEFAULT_MIN_DESCRIPTION_WORDS,
                        help="drop descriptions with fewer words (the paper does not state its threshold)")
    parser.add_argument("--validation-fraction", type=fraction, default=0.01,
                        help="share of PubChemSFT molecules held out for validation")
    args = parser.parse_args(argv)
    start_build(args)
    options = build_options(args)

    if args.origin == "pubchemsft":
        records = pubchemsft_candidates(fetch(args.source or PUBCHEMSFT_FILE), args.seed, args.validation_fraction,
                                        args.min_description_words)
    else:
        records = pubchem324k_candidates(pubchem324k_folder(args.source), args.min_description_words)
    checked = resolve_molecules(candidates_dataset(records, f"the {args.origin} source"), options, notation="smiles", needs_text=False,
                                max_atoms=args.max_atoms, num_proc=args.num_proc)
    checked = mark_excluded_molecules(checked, excluded_molecules(args.chebi20_test, args.exclude_test_of),
                                      args.num_proc)
    finish_build(args, CARD, [build_task(TASK.name, checked, variants=TASK.variants, options=options)])


if __name__ == "__main__":
    run_builder(main, "pubchem.py")
