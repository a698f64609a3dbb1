"""The InstructMol tasks: the one registry of what each task is, read by every other part of the project.

A task's `name` is everywhere the same word: the rows' `task` value, the builders' `--tasks` choice, the config
prefix (`<name>_g`, `<name>_gs`), the recipe file, and the key of reports and of the paper's results. Builders
read how each variant's prompt is made (`Task.prompts`) and which molecules become graphs (`Task.graphs`); the evaluator reads the metric and the answer budget; reports read the title and the paper's
table. Adding a task is one entry in `TASKS` plus a reader of its source in a builder script.

By default, rows are built as the released InstructMol code (IDEA-XL/InstructMol, `llava/datasets/`) built them:
the instruction pools and suffixes below are its words, character for character. Where this project offers
another construction, it is a named build option (`BuildOptions`) and the dataset card lists it.
"""

from dataclasses import dataclass, field

# The metric modules of `instructmol.metrics`, one per kind of answer.
CAPTIONING = "molecule_captioning"
REGRESSION = "property_regression"
CLASSIFICATION = "molecule_classification"
MOLECULE_GENERATION = "molecule_generation"

# Variants: the molecule as a graph only (InstructMol-G), as a graph and its string (InstructMol-GS), or as its string
# only, no graph (the LoRA-tuned LLM baselines of the paper's Tables 1-4: what the graph adds is G/GS against S).
GRAPH_ONLY = "g"
GRAPH_AND_STRING = "gs"
STRING_ONLY = "s"
VARIANT_TITLES = {GRAPH_ONLY: "InstructMol-G", GRAPH_AND_STRING: "InstructMol-GS", STRING_ONLY: "LoRA-tuned LLM"}
GRAPHLESS_VARIANTS = (STRING_ONLY,)

# Where a variant's instruction comes from.
FROM_POOL = "pool"  # one of `Prompt.pool`, drawn per row with the build's seed
FROM_RECORD = "record"  # the source record's own instruction (Mol-Instructions)
NO_INSTRUCTION = "none"  # the graph alone (the released stage 1, LLaVA's `plain` template)

# Which molecules of a row's input become graphs, as the released code chose them.
WHOLE_INPUT = "whole input"  # the input as one graph ('.'-joined fragments stay one graph)
FIRST_MOLECULE = "first molecule"  # the first '.'-separated molecule (forward prediction)
REACTANT_SIDE = "reactant side"  # the part before '>>' as one graph (reagent prediction)

# The released code's questions for ChEBI-20 descriptions (`llava/datasets/chebi20_dataset.py`).
DESCRIPTION_POOL = (
    "Could you give me a brief overview of this molecule?",
    "Could you provide a description of this molecule?",
    "Describe this molecule.",
    "Please give me some details about this molecule.",
    "Provide a brief overview of this molecule.",
    "Provide a description of this molecule.",
    "What can you tell me about this molecule?",
)

# The released code's reagent questions for InstructMol-G, which then name the product.
REAGENT_POOL = (
    "Can you suggest some possible reagents that could have been used in the following chemical reaction?",
    "Give some possible reagents that could have been used in the following chemical reaction.",
    "Please propose potential reagents that might have been utilized in the provided chemical reaction.",
    "Please provide possible reagents based on the following chemical reaction.",
)

# MoleculeNet questions: the released code never published its wording, so these are this project's.
MOLECULENET_POOLS = {
    "bace": (
        "Can this molecule inhibit human beta-secretase 1 (BACE-1)? Answer Yes or No.",
        "Is this molecule an inhibitor of BACE-1 (human beta-secretase 1)? Answer Yes or No.",
        "Does this molecule bind and inhibit the BACE-1 enzyme? Answer Yes or No.",
        "Would this compound act as a human beta-secretase 1 inhibitor? Answer Yes or No.",
    ),
    "bbbp": (
        "Can this molecule penetrate the blood-brain barrier? Answer Yes or No.",
        "Is this molecule able to cross the blood-brain barrier? Answer Yes or No.",
        "Does this compound permeate the blood-brain barrier? Answer Yes or No.",
        "Would this molecule reach the brain through the blood-brain barrier? Answer Yes or No.",
    ),
    "hiv": (
        "Can this molecule inhibit HIV replication? Answer Yes or No.",
        "Is this molecule active against HIV replication? Answer Yes or No.",
        "Does this compound inhibit the replication of HIV? Answer Yes or No.",
        "Would this molecule act as an HIV replication inhibitor? Answer Yes or No.",
    ),
}

# QM9 questions for sources without instructions of their own (raw QM9 from `qm9pack`): this project's words.
# Values are in hartree, as in QM9 and Mol-Instructions; the question says so to pin the unit of the answer. They
# are short: on a CPU every prompt token costs training time (the quickstart trains on them).
QM9_UNIT = "hartree"
QM9_OWN_QUESTIONS = {
    "homo": (
        "What is its HOMO energy in hartree?",
        "Predict the HOMO energy (hartree).",
        "HOMO energy of this molecule, in hartree?",
        "Give the HOMO energy in hartree.",
    ),
    "lumo": (
        "What is its LUMO energy in hartree?",
        "Predict the LUMO energy (hartree).",
        "LUMO energy of this molecule, in hartree?",
        "Give the LUMO energy in hartree.",
    ),
    "gap": (
        "What is its HOMO-LUMO gap in hartree?",
        "Predict the HOMO-LUMO gap (hartree).",
        "HOMO-LUMO gap of this molecule, in hartree?",
        "Give the HOMO-LUMO gap in hartree.",
    ),
}

# The released GS suffix of the single-molecule tasks; `{notation}` is SELFIES unless a build asks for SMILES.
# ChEBI-20's ends with a period, QM9's and MoleculeNet's do not (as released).
COMPOUND_SEQUENCE = " The compound {notation} sequence is: {molecule}"


@dataclass(frozen=True)
class Prompt:
    """How one variant writes a row's user turn (the graph placeholders aside).

    The text is the instruction (see `FROM_POOL`, `FROM_RECORD`, `NO_INSTRUCTION`) followed by `suffix`, whose
    fields are filled from the row's input written in the build's text notation: `{molecule}` the whole input,
    `{product}` what follows '>>', `{other_reactants}` the input's molecules after the first, joined by ',' (only
    those that did not become graphs), `{notation}` the notation's name. With `suffix_needs`, the suffix is added
    only when that field is not empty.
    """

    instruction: str
    pool: tuple[str, ...] = ()
    suffix: str = ""
    suffix_needs: str | None = None


@dataclass(frozen=True)
class Task:
    """One InstructMol task.

    Attributes:
        name: the one name (row value, `--tasks` choice, config prefix, report and paper-results key).
        title: how reports and cards name it.
        builder: the script in `datasets/` that builds it.
        graphs: which molecules of a row's input become graphs, as released (`WHOLE_INPUT`, `FIRST_MOLECULE`,
            `REACTANT_SIDE`).
        prompts: variant ('g', 'gs', 's') -> how its user turn is written ('s' writes what 'gs' writes, without
            the graph).
        metric: the metric module (`instructmol.metrics`) that scores it; its answer parser reads the answers.
        max_new_tokens: the default answer budget of `instructmol evaluate`.
        paper_table: the paper's table holding its results ("Table 3"), or None.
        epochs: the paper's training epochs for it (stage 2; stage 1 for `alignment`).
        recipe: the recipe that trains it, relative to `recipes/`.
        group: the name of the tasks it is trained and pooled with ("qm9"), or None.
        legacy_names: its `task` values in datasets built before this registry (refused with a rebuild hint).
        labels: for a multi-label task (one Yes/No row per molecule and label), each label's source column ->
            what a positive molecule is, in words (the question asks it, see `label_question`); a task whose
            labels are read from its source (ToxCast's 617 assays) holds `{}`. None for other tasks.
        example_instruction: for a task whose rows take their instruction from the source record, a typical one
            (Mol-Instructions' wording): what the demo's preset asks, unless the task has a unit (see `unit`).
        unit: the unit of a numeric answer ("hartree" for QM9), which the demo writes after each answer; a preset of
            a task with a unit asks the first of this project's questions that name it (`QM9_OWN_QUESTIONS`), as the
            record wordings do not say it.
    """

    name: str
    title: str
    builder: str
    graphs: str
    prompts: dict[str, Prompt]
    metric: str
    max_new_tokens: int
    paper_table: str | None
    epochs: int
    recipe: str
    group: str | None = None
    legacy_names: tuple[str, ...] = field(default=())
    labels: dict[str, str] | None = None
    example_instruction: str | None = None
    unit: str | None = None

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(self.prompts)

    def config(self, variant: str) -> str:
        """The dataset config of one variant, e.g. 'homo_gs'."""
        if variant not in self.prompts:
            raise ValueError(f"task {self.name!r} has no variant {variant!r}; it has {', '.join(self.prompts)}")
        return f"{self.name}_{variant}"


def with_string_only(prompts: dict[str, Prompt]) -> dict[str, Prompt]:
    """A task's prompts plus the text-only variant: the GS wording (the molecule as its string), no graph."""
    return {**prompts, STRING_ONLY: prompts[GRAPH_AND_STRING]}


# The record's own question (a QM9 property question, a Table 11 label's question) for the molecule: the graph
# alone, the graph plus the compound's SELFIES, or the SELFIES alone.
RECORD_QUESTION_PROMPTS = with_string_only({GRAPH_ONLY: Prompt(FROM_RECORD),
                                            GRAPH_AND_STRING: Prompt(FROM_RECORD, suffix=COMPOUND_SEQUENCE)})


def _qm9_task(prop: str, title: str, example_instruction: str) -> Task:
    return Task(
        name=prop,
        title=f"QM9 {title}",
        builder="datasets/qm9.py",
        graphs=WHOLE_INPUT,
        prompts=RECORD_QUESTION_PROMPTS,
        metric=REGRESSION,
        max_new_tokens=16,
        paper_table="Table 1",
        epochs=10,
        recipe="stage2/qm9.yaml",
        group="qm9",
        legacy_names=(f"qm9_{prop}",),
        example_instruction=example_instruction,
        unit=QM9_UNIT,
    )


def _moleculenet_task(name: str, title: str) -> Task:
    pool = MOLECULENET_POOLS[name]
    return Task(
        name=name,
        title=f"MoleculeNet {title}",
        builder="datasets/moleculenet.py",
        graphs=WHOLE_INPUT,
        prompts=with_string_only({GRAPH_ONLY: Prompt(FROM_POOL, pool),
                                  GRAPH_AND_STRING: Prompt(FROM_POOL, pool, suffix=COMPOUND_SEQUENCE)}),
        metric=CLASSIFICATION,
        max_new_tokens=8,
        paper_table="Table 2",
        epochs=10,
        recipe="stage2/moleculenet.yaml",
        group="moleculenet",
        legacy_names=(f"moleculenet_{name}",),
    )


# Multi-label MoleculeNet tasks (the paper's Table 11): one Yes/No row per molecule and label, the question naming
# the assay or side effect. Label words are this project's (the paper published no wording).
LABEL_QUESTION = "Is this molecule {label_words}? Answer Yes or No."
# A row of a multi-label task has the id `<molecule id>|<label>` (the label is the source column).
LABEL_SEPARATOR = "|"
TOX21_LABELS = {
    "NR-AR": "active on the androgen receptor (Tox21 NR-AR)",
    "NR-AR-LBD": "active on the androgen receptor ligand-binding domain (Tox21 NR-AR-LBD)",
    "NR-AhR": "active on the aryl hydrocarbon receptor (Tox21 NR-AhR)",
    "NR-Aromatase": "an aromatase inhibitor (Tox21 NR-Aromatase)",
    "NR-ER": "active on the estrogen receptor alpha (Tox21 NR-ER)",
    "NR-ER-LBD": "active on the estrogen receptor ligand-binding domain (Tox21 NR-ER-LBD)",
    "NR-PPAR-gamma": "active on the peroxisome proliferator-activated receptor gamma (Tox21 NR-PPAR-gamma)",
    "SR-ARE": "active in the antioxidant response element stress assay (Tox21 SR-ARE)",
    "SR-ATAD5": "genotoxic in the ATAD5 assay (Tox21 SR-ATAD5)",
    "SR-HSE": "active in the heat shock response assay (Tox21 SR-HSE)",
    "SR-MMP": "disruptive of the mitochondrial membrane potential (Tox21 SR-MMP)",
    "SR-p53": "active in the p53 DNA-damage response assay (Tox21 SR-p53)",
}
CLINTOX_LABELS = {
    "FDA_APPROVED": "a drug approved by the FDA",
    "CT_TOX": "a drug candidate that failed clinical trials for toxicity",
}
SIDER_LABELS = {
    label: f"a drug with side effects in the class '{label.lower()}' (SIDER)"
    for label in (
        "Hepatobiliary disorders", "Metabolism and nutrition disorders", "Product issues", "Eye disorders",
        "Investigations", "Musculoskeletal and connective tissue disorders", "Gastrointestinal disorders",
        "Social circumstances", "Immune system disorders", "Reproductive system and breast disorders",
        "Neoplasms benign, malignant and unspecified (incl cysts and polyps)",
        "General disorders and administration site conditions", "Endocrine disorders",
        "Surgical and medical procedures", "Vascular disorders", "Blood and lymphatic system disorders",
        "Skin and subcutaneous tissue disorders", "Congenital, familial and genetic disorders",
        "Infections and infestations", "Respiratory, thoracic and mediastinal disorders", "Psychiatric disorders",
        "Renal and urinary disorders", "Pregnancy, puerperium and perinatal conditions",
        "Ear and labyrinth disorders", "Cardiac disorders", "Nervous system disorders",
        "Injury, poisoning and procedural complications",
    )
}


def label_of(row_id: str) -> str:
    """The label of a multi-label task's row (its id is `<molecule id>|<label>`)."""
    molecule, separator, label = row_id.rpartition(LABEL_SEPARATOR)
    if not separator:
        raise ValueError(f"row {row_id!r} of a multi-label task has no label (ids are <molecule id>{LABEL_SEPARATOR}<label>)")
    return label


def label_question(task: "Task", label: str) -> str:
    """The question of one label of a multi-label task (a ToxCast assay is named by its own identifier)."""
    words = task.labels.get(label) if task.labels else None
    return LABEL_QUESTION.format(label_words=words or f"active in the ToxCast assay {label}")


def _multilabel_task(name: str, title: str, labels: dict[str, str]) -> Task:
    return Task(
        name=name,
        title=f"MoleculeNet {title}",
        builder="datasets/moleculenet.py",
        graphs=WHOLE_INPUT,
        prompts=RECORD_QUESTION_PROMPTS,
        metric=CLASSIFICATION,
        max_new_tokens=8,
        paper_table="Table 11",
        epochs=10,
        recipe=f"stage2/{name}.yaml",
        labels=labels,
    )


TASKS: dict[str, Task] = {
    task.name: task
    for task in (
        Task(
            name="alignment",
            title="PubChem molecule description (stage-1 alignment)",
            builder="datasets/pubchem.py",
            graphs=WHOLE_INPUT,
            prompts={GRAPH_ONLY: Prompt(NO_INSTRUCTION)},
            metric=CAPTIONING,
            max_new_tokens=256,
            paper_table=None,
            epochs=5,
            recipe="stage1.yaml",
            legacy_names=("pubchem_alignment", "nci_description"),
        ),
        Task(
            name="description",
            title="ChEBI-20 molecule description",
            builder="datasets/chebi20.py",
            graphs=WHOLE_INPUT,
            prompts=with_string_only({
                GRAPH_ONLY: Prompt(FROM_POOL, DESCRIPTION_POOL),
                GRAPH_AND_STRING: Prompt(FROM_POOL, DESCRIPTION_POOL, suffix=COMPOUND_SEQUENCE + "."),
            }),
            metric=CAPTIONING,
            max_new_tokens=256,
            paper_table="Table 3",
            epochs=20,
            recipe="stage2/description.yaml",
            legacy_names=("chebi20_description",),
        ),
        _qm9_task("homo", "HOMO energy", "What is the HOMO energy of this molecule?"),
        _qm9_task("lumo", "LUMO energy", "Please provide the LUMO energy value for this molecule."),
        _qm9_task("gap", "HOMO-LUMO gap", "Please provide the energy separation between the highest occupied "
                  "and lowest unoccupied molecular orbitals (HOMO-LUMO gap) of this molecule."),
        _moleculenet_task("bace", "BACE"),
        _moleculenet_task("bbbp", "BBBP"),
        _moleculenet_task("hiv", "HIV"),
        _multilabel_task("clintox", "ClinTox", CLINTOX_LABELS),
        _multilabel_task("tox21", "Tox21", TOX21_LABELS),
        _multilabel_task("toxcast", "ToxCast", {}),
        _multilabel_task("sider", "SIDER", SIDER_LABELS),
        Task(
            name="forward",
            title="Forward reaction prediction (USPTO)",
            builder="datasets/reactions.py",
            graphs=FIRST_MOLECULE,
            prompts=with_string_only({
                GRAPH_ONLY: Prompt(FROM_RECORD, suffix=" The other joint reactants are: {other_reactants}",
                                   suffix_needs="other_reactants"),
                GRAPH_AND_STRING: Prompt(FROM_RECORD, suffix=" {molecule}"),
            }),
            metric=MOLECULE_GENERATION,
            max_new_tokens=256,
            paper_table="Table 4",
            epochs=10,
            recipe="stage2/forward.yaml",
            legacy_names=("forward_reaction_prediction",),
            example_instruction="With the provided reactants and reagents, propose a potential product.",
        ),
        Task(
            name="retrosynthesis",
            title="Retrosynthesis (USPTO-500MT)",
            builder="datasets/reactions.py",
            graphs=WHOLE_INPUT,
            prompts=with_string_only({GRAPH_ONLY: Prompt(FROM_RECORD),
                                      GRAPH_AND_STRING: Prompt(FROM_RECORD, suffix=" The product is: {molecule}")}),
            metric=MOLECULE_GENERATION,
            max_new_tokens=256,
            paper_table="Table 4",
            epochs=10,
            recipe="stage2/retrosynthesis.yaml",
            example_instruction="Please suggest potential reactants for the given product.",
        ),
        Task(
            name="reagent",
            title="Reagent prediction (USPTO-500MT)",
            builder="datasets/reactions.py",
            graphs=REACTANT_SIDE,
            prompts=with_string_only({
                GRAPH_ONLY: Prompt(FROM_POOL, REAGENT_POOL, suffix="\nThe product is {product}"),
                GRAPH_AND_STRING: Prompt(FROM_RECORD, suffix=" The reaction is {molecule}"),
            }),
            metric=MOLECULE_GENERATION,
            max_new_tokens=256,
            paper_table="Table 4",
            epochs=10,
            recipe="stage2/reagent.yaml",
            legacy_names=("reagent_prediction",),
            example_instruction="Please suggest some possible reagents that could have been used in the following "
            "chemical reaction.",
        ),
    )
}


@dataclass(frozen=True)
class TaskGroup:
    """Tasks trained together (one recipe, `recipes/stage2/<name>.yaml`).

    Attributes:
        pooled: whether the tasks also share one dataset config (`<name>_<variant>`) and one pooled score next to
            their own (the paper's QM9 average), or are only trained together (MoleculeNet).
    """

    name: str
    title: str
    members: tuple[str, ...]
    pooled: bool


GROUPS: dict[str, TaskGroup] = {
    "qm9": TaskGroup("qm9", "QM9 property regression", ("homo", "lumo", "gap"), pooled=True),
    "moleculenet": TaskGroup("moleculenet", "MoleculeNet classification", ("bace", "bbbp", "hiv"), pooled=False),
}

_LEGACY = {legacy: task.name for task in TASKS.values() for legacy in task.legacy_names}


def get_task(name: str, row_id: str | None = None) -> Task:
    """The task called `name`; a ValueError names an unknown one (and the row holding it), and for a name of a
    dataset built before this registry, the builder to rerun."""
    if name in TASKS:
        return TASKS[name]
    where = f" (row {row_id!r})" if row_id is not None else ""
    if name in _LEGACY:
        task = TASKS[_LEGACY[name]]
        raise ValueError(
            f"the task {name!r}{where} comes from a dataset built before the task registry (it is now {task.name!r}, "
            f"and its prompts are built differently); rebuild the dataset: python {task.builder} --output DIR"
        )
    raise ValueError(f"unknown task {name!r}{where}; the tasks are {', '.join(TASKS)}")


def tasks_of_builder(builder: str) -> list[Task]:
    """The tasks a builder script makes, in registry order (e.g. 'datasets/reactions.py')."""
    return [task for task in TASKS.values() if task.builder == builder]


