"""`instructmol evaluate` as a function: load, generate what is missing, score, report, update the card.

    from instructmol.evaluation import EvaluationSettings, run_evaluation
    summary = run_evaluation(EvaluationSettings(model="my-model", dataset="my-data", config="bace_g"))
"""

import hashlib
import logging
from collections.abc import Callable
from contextlib import ExitStack

import torch
from accelerate import PartialState
from accelerate.utils import broadcast_object_list
from tqdm.auto import tqdm

from ..metrics.molecule_captioning.scores import load_word_piece_tokenizer
from ..engines import Decoding, TransformersEngine
from ..errors import one_line
from ..outputs import check_output_apart
from ..loading import load_model, load_processor, model_fingerprint, reads_molecules
from ..tasks import CAPTIONING, CLASSIFICATION, REGRESSION, TASKS
from ..wordnet import WordNetUnavailableError, ensure_wordnet
from .generation import batches, row_conversation
from .rows import check_rows, load_evaluation_split, train_split_inchikeys, train_split_means
from ..data.leakage import row_inchikeys
from .model_card import local_card_path, update_model_card
from .predictions import PredictionStore, exclusive_output, merge_shard_files, prediction_record, shard_name
from .report import write_report
from .scoring import score_records
from .settings import EvaluationSettings

logger = logging.getLogger(__name__)


def batch_seed(seed: int, batch: list[dict]) -> int:
    """The sampling seed of a batch: fixed by the run's seed and the batch's rows, so a rerun samples alike."""
    digest = hashlib.sha256(f"{seed}\x00{batch[0]['task']}\x00{batch[0]['id']}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def check_scoring_resources(rows: list[dict], settings: EvaluationSettings) -> None:
    """Loads what the description metrics need (WordNet, the WordPiece vocabulary) before any generation.

    Raises:
        ValueError: saying what is missing and how to provide it.
    """
    if not any(TASKS[row["task"]].metric == CAPTIONING for row in rows):
        return
    try:
        ensure_wordnet()
        load_word_piece_tokenizer(settings.caption_tokenizer)
    except (WordNetUnavailableError, OSError) as error:
        raise ValueError(
            f"the description metrics cannot run: {one_line(error)} (--caption-tokenizer takes a Hub id, "
            "a folder holding vocab.txt, or a vocab.txt)"
        ) from error


def default_max_new_tokens(rows: list[dict]) -> int:
    """Room for the longest answer any task of `rows` expects."""
    return max(TASKS[task].max_new_tokens for task in {row["task"] for row in rows})


def generate_missing(engine, rows: list[dict], store: PredictionStore, settings: EvaluationSettings,
                     max_new_tokens: int) -> None:
    """Generates answers (and P(Yes) for Yes/No tasks) for the rows without a record, a batch at a time, each
    batch appended to the store as soon as it is done. `engine`: a `TransformersEngine`, or an
    `InstructMolClient` of a vLLM server (then a batch holds at least `--concurrency` rows, all in flight)."""
    missing = store.missing(rows)
    logger.info("Generating answers for %d of %d rows (%d already in %s) with %s",
                len(missing), len(rows), len(rows) - len(missing), store.path, engine.description)
    batch_size = max(settings.batch_size, settings.concurrency) if settings.server else settings.batch_size
    progress = tqdm(total=len(missing), desc="Evaluating", unit="row")
    for batch in batches(missing, batch_size):
        decoding = Decoding(max_new_tokens, settings.sample, settings.temperature,
                            seed=batch_seed(settings.seed, batch) if settings.sample else None)
        conversations = [row_conversation(row) for row in batch]
        if settings.server:
            answers = engine.generate(conversations, decoding, labels=[f"row {row['id']!r}" for row in batch])
        else:
            answers = engine.generate(conversations, decoding)
        needs_p_yes = [TASKS[row["task"]].metric == CLASSIFICATION for row in batch]
        asked = [row for row, needed in zip(batch, needs_p_yes) if needed]
        probabilities = iter(engine.yes_probabilities(asked) if asked else [])
        store.append([
            prediction_record(row, answer, next(probabilities) if needed else None)
            for row, answer, needed in zip(batch, answers, needs_p_yes)
        ])
        progress.update(len(batch))
    progress.close()


def evaluation_engine(settings: EvaluationSettings, processor, device):
    """What answers: the vLLM server of `--server` (the model's processor and prompt encoder run here), else the
    model loaded in this process."""
    if settings.server:
        from ..serving import InstructMolClient

        if not reads_molecules(settings.model):
            raise ValueError(f"--server sends molecules as prompt embeddings, which {settings.model} (a plain "
                             "language model) does not read: evaluate it without --server")
        return InstructMolClient(settings.server, settings.model, max_concurrency=settings.concurrency,
                                 processor=processor)
    return TransformersEngine(load_model(settings.model, dtype=settings.dtype, device=device), processor)


def without_train_molecules(rows: list[dict], settings: EvaluationSettings) -> tuple[list[dict], int]:
    """The rows none of whose molecules (by InChIKey) is in the config's train split, and how many were dropped."""
    train_keys = train_split_inchikeys(settings.dataset, settings.config)
    kept = [row for row in rows if not train_keys.intersection(row_inchikeys(row["smiles"]))]
    logger.info("--exclude-train-overlap: %d of %d rows hold a train molecule and are left out",
                len(rows) - len(kept), len(rows))
    return kept, len(rows) - len(kept)


def process_state() -> PartialState:
    """This process's place in an `accelerate launch` (one process otherwise). Without a GPU, accelerate joins the
    processes only when told `cpu=True` (else each process believes it runs alone)."""
    return PartialState(cpu=not torch.cuda.is_available())


def on_main_process(state: PartialState, action: Callable[[], None]) -> None:
    """Runs `action` on the main process only; when it fails, every process fails with its message (instead of
    waiting for the main process forever), then all go on together."""
    failure = None
    if state.is_main_process:
        try:
            action()
        except (ValueError, OSError) as error:
            if state.num_processes == 1:
                raise
            failure = error
    if state.num_processes > 1:
        [message] = broadcast_object_list([one_line(failure) if failure else None])
        if failure:
            raise failure
        if message:
            raise ValueError(f"the main process stopped: {message}")


def run_evaluation(settings: EvaluationSettings) -> dict:
    """Runs one evaluation and returns the summary written to `metrics.json`.

    Under `accelerate launch` (several processes) each process generates every n-th row into its own shard file;
    the main process merges them, scores and reports, and returns the summary (the others return {}).

    Raises:
        ValueError / FileNotFoundError: naming a missing model, dataset, config, split or column, an unknown task
            value, a row the model could not read, a card that cannot be updated, or an output folder that holds
            another run's predictions (other settings, a changed model or dataset) or is in use by another run.
    """
    check_output_apart(settings.output, model=settings.model, dataset=settings.dataset)
    if settings.update_card:
        local_card_path(settings.model)  # fail now, not after hours of generation
    dataset = load_evaluation_split(settings.dataset, settings.config, settings.split)
    if settings.limit is not None:
        dataset = dataset.select(range(min(settings.limit, len(dataset))))
    rows = list(dataset)
    if not rows:
        raise ValueError(f"the split {settings.split!r} of {settings.dataset!r} (config {settings.config!r}) is empty")
    if any(row["images"] for row in rows) and not reads_molecules(settings.model):
        raise ValueError(
            f"{settings.model} is a plain language model: it reads text only. Evaluate it on a text-only `_s` config "
            f"(the molecule as its string), or evaluate an InstructMol model on {settings.config!r}"
        )
    # The model's own processor checks the rows: its featurizer reads each molecule once, and generation finds
    # the graphs in its cache.
    processor = load_processor(settings.model)
    check_rows(rows, processor)
    excluded = None
    if settings.exclude_train_overlap:
        rows, excluded = without_train_molecules(rows, settings)
        if not rows:
            raise ValueError(f"every row of the split {settings.split!r} holds a molecule of the train split: "
                             "nothing is left to evaluate with --exclude-train-overlap")
    check_scoring_resources(rows, settings)
    max_new_tokens = settings.max_new_tokens or default_max_new_tokens(rows)
    state = process_state()
    with ExitStack() as held:
        def claim_output() -> None:
            held.enter_context(exclusive_output(settings.output))
            settings.check_or_record_run(max_new_tokens, model_fingerprint(settings.model))
            merge_shard_files(settings.output, rows)  # what an interrupted sharded run left

        on_main_process(state, claim_output)
        shard = shard_name(state.process_index, state.num_processes) if state.num_processes > 1 else None
        own_rows = rows[state.process_index :: state.num_processes]
        store = PredictionStore(settings.output, shard=shard)
        if store.missing(own_rows):
            engine = evaluation_engine(settings, processor, state.device)
            generate_missing(engine, own_rows, store, settings, max_new_tokens)
        state.wait_for_everyone()
        if not state.is_main_process:
            return {}
        if shard is not None:
            merge_shard_files(settings.output, rows)
            store = PredictionStore(settings.output)

        has_regression = any(TASKS[row["task"]].metric == REGRESSION for row in rows)
        evaluations = score_records(
            store.records_for(rows),
            mode=settings.mode,
            caption_tokenizer=settings.caption_tokenizer,
            train_means=train_split_means(settings.dataset, settings.config) if has_regression else None,
        )
        summary = write_report(settings, max_new_tokens, evaluations, excluded_train_overlap=excluded)
    if settings.update_card:
        logger.info("Updated the model card %s", update_model_card(settings, evaluations))
    logger.info("Wrote %s", settings.output)
    return summary
