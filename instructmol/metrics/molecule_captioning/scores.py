"""Molecule captioning metrics: BLEU-2, BLEU-4, ROUGE-1/2/L and METEOR, as MolT5 and InstructMol compute them.

The protocol of MolT5's `evaluation/text_translation_metrics.py` (also InstructMol's `llava/eval/eval_molcap.py`):

1. Word pieces: each prediction and reference is split by a BERT WordPiece tokenizer (default
   `allenai/scibert_scivocab_uncased`, lower-casing), truncated to 512 word pieces, and the tokens
   `[PAD]`, `[CLS]`, `[SEP]` are dropped. MolT5 wrote this as
   `tokenizer.tokenize(text, truncation=True, max_length=512, padding="max_length")`; transformers 5's
   `tokenize()` ignores those arguments, so the truncation is asked of the tokenizer call instead.
2. BLEU-2 / BLEU-4: `nltk.translate.bleu_score.corpus_bleu` over the word pieces, each prediction
   against a one-element reference list `[reference_pieces]`, weights (.5, .5) and (.25, .25, .25, .25),
   no smoothing.
3. METEOR: `nltk.translate.meteor_score.meteor_score([reference_pieces], prediction_pieces)` with
   NLTK's defaults (WordNet 3.0 synonyms, Porter stemmer), averaged over captions.
4. ROUGE-1/2/L: `rouge_score.rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])` (no stemmer)
   on the raw strings, F-measure averaged over captions. (MolT5 passes the prediction as the
   target and InstructMol the reference; the F-measure is symmetric, so both agree.)

MolT5's file reader also strips a leading "[CLS] " from outputs; pass clean text here.
Returns `bleu2`, `bleu4`, `rouge1`, `rouge2`, `rougeL`, `meteor` (all in [0, 1]) and `num_examples`.
Raises a ValueError when the tokenizer turns "molecule" into [UNK] (a vocabulary that did not load),
and `instructmol.wordnet.WordNetUnavailableError`, saying how to install it, when WordNet is missing.
"""

from functools import lru_cache
from pathlib import Path

import numpy as np
from nltk.translate.bleu_score import corpus_bleu
from nltk.translate.meteor_score import meteor_score
from rouge_score import rouge_scorer
from transformers import BertTokenizerFast

from instructmol.defaults import CAPTION_TOKENIZER
from instructmol.wordnet import ensure_wordnet

MAX_WORD_PIECES = 512
DROPPED_TOKENS = frozenset({"[PAD]", "[CLS]", "[SEP]"})
# A word every chemistry WordPiece vocabulary holds: if it comes out as [UNK] the vocabulary was not loaded.
KNOWN_WORD = "molecule"


@lru_cache(maxsize=4)
def load_word_piece_tokenizer(name_or_path: str) -> BertTokenizerFast:
    """Loads a BERT WordPiece tokenizer from a Hub id, a folder or a `vocab.txt`, and checks its vocabulary loaded.

    `BertTokenizerFast(vocab_file=...)` silently builds a tokenizer that maps every word to [UNK]
    in transformers 5 (BLEU then looks excellent), hence `vocab=` and the check.
    """
    if Path(name_or_path).is_file():
        tokenizer = BertTokenizerFast(vocab=str(name_or_path))
    else:
        tokenizer = BertTokenizerFast.from_pretrained(name_or_path)
    if tokenizer.unk_token in tokenizer.tokenize(KNOWN_WORD):
        raise ValueError(
            f"The tokenizer {name_or_path!r} turns {KNOWN_WORD!r} into {tokenizer.unk_token}: its vocabulary did not "
            "load (or is not a chemistry/English WordPiece vocabulary). Pass a Hub id, a folder with vocab.txt, "
            "or the vocab.txt path itself."
        )
    return tokenizer


def word_pieces(tokenizer: BertTokenizerFast, text: str) -> list[str]:
    """The word pieces MolT5 scores: the first 512 of `text`, without [PAD]/[CLS]/[SEP]."""
    encoding = tokenizer(text, add_special_tokens=False, truncation=True, max_length=MAX_WORD_PIECES)
    return [token for token in encoding.tokens() if token not in DROPPED_TOKENS]


def check_texts(texts: list, role: str) -> None:
    """Raises a TypeError naming the first entry of `texts` that is not a string."""
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"{role}[{index}] is {text!r}, not a string")


def score_captions(predictions: list[str], references: list[str], tokenizer: str = CAPTION_TOKENIZER) -> dict:
    """BLEU-2/4, ROUGE-1/2/L and METEOR of generated descriptions in MolT5's protocol (see the module docstring)."""
    if not predictions:
        raise ValueError("No predictions to score")
    check_texts(predictions, "predictions")
    check_texts(references, "references")
    ensure_wordnet()
    word_piece_tokenizer = load_word_piece_tokenizer(tokenizer)
    prediction_pieces = [word_pieces(word_piece_tokenizer, text) for text in predictions]
    reference_pieces = [word_pieces(word_piece_tokenizer, text) for text in references]
    # corpus_bleu takes, per prediction, a list of references; every caption has exactly one.
    reference_lists = [[pieces] for pieces in reference_pieces]

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    rouge_scores = [scorer.score(reference, prediction) for prediction, reference in zip(predictions, references)]
    return {
        "bleu2": float(corpus_bleu(reference_lists, prediction_pieces, weights=(0.5, 0.5))),
        "bleu4": float(corpus_bleu(reference_lists, prediction_pieces, weights=(0.25, 0.25, 0.25, 0.25))),
        "rouge1": float(np.mean([scores["rouge1"].fmeasure for scores in rouge_scores])),
        "rouge2": float(np.mean([scores["rouge2"].fmeasure for scores in rouge_scores])),
        "rougeL": float(np.mean([scores["rougeL"].fmeasure for scores in rouge_scores])),
        "meteor": float(
            np.mean(
                [
                    meteor_score(reference_list, pieces)
                    for reference_list, pieces in zip(reference_lists, prediction_pieces)
                ]
            )
        ),
        "num_examples": len(predictions),
    }
