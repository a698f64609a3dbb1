"""Evaluate an InstructMol model on a dataset split with the paper's metrics, next to the paper's numbers.

Generates answers in batches (left padding; greedy unless --sample) and writes to --output:
predictions.jsonl (one line per row, appended batch by batch: a rerun generates only the rows still missing),
metrics.json, and report.md with figures (a parity plot per QM9 property, a ROC curve per Yes/No task).
The rows' `task` column (a name of the task registry, `instructmol/tasks.py`) picks the metrics: alignment and
description -> BLEU/ROUGE/METEOR; homo, lumo, gap -> MAE per property and pooled (qm9); bace, bbbp, hiv -> ROC-AUC
from P("Yes") and from the generated Yes/No, accuracy; forward, retrosynthesis, reagent -> exact match, BLEU,
Levenshtein, fingerprint similarities, validity (--mode molt5 or instructmol). A dataset built before the registry
is refused with the command that rebuilds it.
"""

import argparse
from dataclasses import fields
from pathlib import Path

from ..arguments import positive_int
from ..evaluation import EvaluationSettings, run_evaluation
from ..metrics.molecule_captioning.molecule_captioning import DEFAULT_TOKENIZER

HELP = "evaluate a model on a dataset split: predictions, metrics next to the paper's, report with plots"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = {field.name: field.default for field in fields(EvaluationSettings)}
    parser.add_argument("--model", required=True,
                        help="model folder or Hub repo, or a stage-2 adapter folder (adapter_config.json: base + adapter)")
    parser.add_argument("--dataset", required=True, help="dataset folder or Hub repo (Hub-native Parquet layout)")
    parser.add_argument("--config", required=True, help="dataset config, <task>_<variant>, e.g. bace_g or qm9_gs")
    parser.add_argument("--split", default=defaults["split"], help="dataset split (default: test)")
    parser.add_argument("--output", type=Path, help="folder for predictions.jsonl, metrics.json, report.md "
                        "(default: evaluation/<model folder name>/<config>-<split>)")
    parser.add_argument("--batch-size", type=positive_int, default=defaults["batch_size"], help="prompts generated together (default: 16)")
    parser.add_argument("--max-new-tokens", type=positive_int,
                        help="longest answer in tokens (default per task: 256 descriptions and reactions, 16 QM9, 8 Yes/No)")
    parser.add_argument("--sample", action="store_true", help="sample answers (the paper's setting) instead of greedy")
    parser.add_argument("--temperature", type=float, default=defaults["temperature"], help="sampling temperature (default: 0.2, the paper's)")
    parser.add_argument("--seed", type=int, default=defaults["seed"], help="sampling seed (default: 0)")
    parser.add_argument("--mode", choices=["molt5", "instructmol"], default=defaults["mode"],
                        help="molecule metrics recipe: molt5 counts invalid outputs, instructmol drops them (the paper's)")
    parser.add_argument("--limit", type=positive_int, help="evaluate only the first N rows of the split")
    parser.add_argument("--caption-tokenizer", default=DEFAULT_TOKENIZER,
                        help="WordPiece tokenizer of the description metrics: Hub id, folder or vocab.txt")
    parser.add_argument("--update-card", action="store_true",
                        help="write the results into the model folder's README.md (model-index and Evaluation section)")
    parser.add_argument("--dtype", default=defaults["dtype"], choices=["auto", "float32", "bfloat16", "float16"])


def run(args: argparse.Namespace) -> None:
    settings = EvaluationSettings(
        model=args.model, dataset=args.dataset, config=args.config, split=args.split, output=args.output,
        batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, sample=args.sample,
        temperature=args.temperature, seed=args.seed, mode=args.mode, limit=args.limit,
        caption_tokenizer=args.caption_tokenizer, update_card=args.update_card, dtype=args.dtype,
    )
    summary = run_evaluation(settings)
    print(f"Evaluated {summary['rows']} rows of {args.dataset} ({args.config}, {args.split}): {settings.output / 'report.md'}")
