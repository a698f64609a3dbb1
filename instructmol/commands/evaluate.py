"""Evaluate an InstructMol model on a dataset split with the paper's metrics, next to the paper's numbers.

Generates answers in batches (left padding; greedy unless --sample) and writes to --output:
predictions.jsonl (one line per row, appended batch by batch: a rerun generates only the rows still missing),
metrics.json, and report.md with figures (a parity plot per QM9 property, a ROC curve per Yes/No task).
The rows' `task` column (a name of the task registry, `instructmol/tasks.py`) picks the metrics: alignment and
description -> BLEU/ROUGE/METEOR; homo, lumo, gap -> MAE per property and pooled (qm9); bace, bbbp, hiv -> ROC-AUC
from P("Yes") and from the generated Yes/No, accuracy; forward, retrosynthesis, reagent -> exact match, BLEU,
Levenshtein, fingerprint similarities, validity (--mode molt5 or instructmol). A dataset built before the registry
is refused with the command that rebuilds it.

`--paper-table N` (1-4, 10, 11) runs a whole table of the paper instead: `--models ROW=PATH ...` (ROW: g, gs, s, or
a Table 10 ablation) and `--dataset DIR [DIR ...]`; every cell is evaluated on its config's test split with the
released decoding (sampling at temperature 0.2, seeded; `--greedy` to decode greedily) and written to table.md
beside the published value.

Sharded over processes (each generates every n-th row into its own shard file; the main process merges them in
row order, scores and reports):

    accelerate launch --num_processes 2 -m instructmol.cli evaluate --model M --dataset D --config bace_g
"""

import argparse
from dataclasses import fields
from pathlib import Path

from ..arguments import positive_int, random_seed
from ..evaluation.paper_results import PAPER_TABLES, RELEASED_MODES, RELEASED_TEMPERATURE
from ..evaluation.settings import EvaluationSettings

HELP = "evaluate a model on a dataset split: predictions, metrics next to the paper's, report with plots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = {field.name: field.default for field in fields(EvaluationSettings)}
    parser.add_argument("--model",
                        help="model folder or Hub repo, or a stage-2 adapter folder (adapter_config.json: base + adapter)")
    parser.add_argument("--dataset", required=True, nargs="+",
                        help="dataset folder or Hub repo (Hub-native Parquet layout); several with --paper-table")
    parser.add_argument("--config", help="dataset config, <task>_<variant>, e.g. bace_g or qm9_gs")
    parser.add_argument("--paper-table", type=int, choices=PAPER_TABLES,
                        help="evaluate the paper's table N: its tasks for every row given in --models")
    parser.add_argument("--models", nargs="+", default=[], metavar="ROW=PATH",
                        help="--paper-table: the model of each row (g, gs, s, or a Table 10 ablation), e.g. g=ckpt/g")
    parser.add_argument("--greedy", action="store_true",
                        help="--paper-table: decode greedily instead of the released sampling at temperature 0.2")
    parser.add_argument("--split", default=defaults["split"], help="dataset split (default: test)")
    parser.add_argument("--output", type=Path, help="folder for predictions.jsonl, metrics.json, report.md "
                        "(default: evaluation/<model folder name>/<config>-<split>)")
    parser.add_argument("--batch-size", type=positive_int, default=defaults["batch_size"], help="prompts generated together (default: 16)")
    parser.add_argument("--max-new-tokens", type=positive_int,
                        help="longest answer in tokens (default per task: 256 descriptions and reactions, 16 QM9, 8 Yes/No)")
    parser.add_argument("--sample", action="store_true", help="sample answers (the paper's setting) instead of greedy")
    parser.add_argument("--temperature", type=float, default=defaults["temperature"], help="sampling temperature (default: 0.2, the paper's)")
    parser.add_argument("--seed", type=random_seed, default=defaults["seed"], help="sampling seed (default: 0)")
    parser.add_argument("--mode", choices=["molt5", "instructmol"],
                        help="molecule metrics recipe: molt5 counts invalid outputs (the default), instructmol drops "
                        "them (the paper's scripts; the default of --paper-table 4)")
    parser.add_argument("--limit", type=positive_int, help="evaluate only the first N rows of the split")
    parser.add_argument("--caption-tokenizer", default=defaults["caption_tokenizer"],
                        help="WordPiece tokenizer of the description metrics: Hub id, folder or vocab.txt")
    parser.add_argument("--update-card", action="store_true",
                        help="write the results into the model folder's README.md (model-index and Evaluation section)")
    parser.add_argument("--dtype", default=defaults["dtype"], choices=["auto", "float32", "bfloat16", "float16"])
    parser.add_argument("--exclude-train-overlap", action="store_true",
                        help="leave out test rows whose molecule (by InChIKey) is in the config's train split, and "
                        "say how many (the released QM9 evaluation left out such rows from an unpublished list)")
    parser.add_argument("--server", metavar="URL", help="generate through the vLLM server of `instructmol serve "
                        "--model` on this model (e.g. http://127.0.0.1:8000); molecules are read here")
    parser.add_argument("--concurrency", type=positive_int, default=defaults["concurrency"],
                        help="--server: requests in flight at once (default: 8)")


def run(args: argparse.Namespace) -> None:
    if args.paper_table is not None:
        run_table(args)
        return
    if args.model is None or args.config is None or len(args.dataset) != 1 or args.models or args.greedy:
        raise ValueError("evaluate takes --model, one --dataset and --config (--models and --greedy belong to "
                         "--paper-table)")
    settings = shared_settings(args, model=args.model, dataset=args.dataset[0], config=args.config,
                               sample=args.sample, mode=args.mode or "molt5")
    from ..evaluation import run_evaluation

    summary = run_evaluation(settings)
    if summary:  # under `accelerate launch`, the main process reports
        print(f"Evaluated {summary['rows']} rows of {settings.dataset} ({args.config}, {args.split}): "
              f"{settings.output / 'report.md'}")


def shared_settings(args: argparse.Namespace, **chosen) -> EvaluationSettings:
    return EvaluationSettings(
        split=args.split, output=args.output, batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
        temperature=args.temperature, seed=args.seed, limit=args.limit, caption_tokenizer=args.caption_tokenizer,
        update_card=args.update_card, dtype=args.dtype, exclude_train_overlap=args.exclude_train_overlap,
        server=args.server, concurrency=args.concurrency, **chosen,
    )


def run_table(args: argparse.Namespace) -> None:
    """`--paper-table N`: the released decoding (sampled, temperature 0.2) unless --greedy."""
    if args.model or args.config:
        raise ValueError("--paper-table takes the models as --models ROW=PATH and finds each config itself; "
                         "leave out --model and --config")
    if args.sample and args.greedy:
        raise ValueError("--sample and --greedy contradict each other")
    output = args.output or Path("evaluation") / f"paper-table-{args.paper_table}"
    template = shared_settings(args, model="", dataset="", config="", sample=not args.greedy,
                               mode=args.mode or RELEASED_MODES.get(args.paper_table, "molt5"))
    if template.sample and args.temperature != RELEASED_TEMPERATURE:
        print(f"Note: sampling at temperature {args.temperature}, not the released {RELEASED_TEMPERATURE}")
    from ..evaluation.paper_table import TABLE_FILE, run_paper_table

    record = run_paper_table(args.paper_table, args.models, args.dataset, output, template)
    if not record:
        return
    ran = sum(cell["ours"] is not None for cell in record["cells"])
    print(f"{record['table']}: {ran} of {len(record['cells'])} cells evaluated: {output / TABLE_FILE}")
