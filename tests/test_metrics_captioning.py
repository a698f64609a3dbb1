"""molecule_captioning: hand-checked cases, the tokenizer trap, and parity with MolT5's protocol on its published outputs."""

import csv
from pathlib import Path

import numpy as np
import pytest
from nltk.translate.bleu_score import corpus_bleu
from nltk.translate.meteor_score import meteor_score
from rouge_score import rouge_scorer
from transformers import BertTokenizerFast

from instructmol import metrics
from instructmol.metrics.molecule_captioning.scores import (
    load_word_piece_tokenizer,
    word_pieces,
)
from tests_paths import SHARED_DATA

MOLT5_PREDICTIONS = SHARED_DATA / "molt5_predictions"
SCIBERT_VOCABULARY = SHARED_DATA / "scibert_scivocab_uncased"
# METEOR is the slow part of the protocol; the first rows of each file keep this test to seconds.
PARITY_ROWS = 300

TINY_VOCABULARY = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    "the", "cat", "sat", "on", "a", "mat", "molecule", "is", "an", "acid", "base", ".", "quin", "##oline",
]


@pytest.fixture(scope="module")
def captioning():
    return metrics.load("molecule_captioning")


@pytest.fixture
def tiny_vocabulary(tmp_path) -> Path:
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(TINY_VOCABULARY) + "\n")
    return path


def test_hand_checked_bleu_and_rouge(captioning, tiny_vocabulary, wordnet_available):
    scores = captioning.compute(
        predictions=["the cat sat on a mat"], references=["the cat sat on the mat"], tokenizer=str(tiny_vocabulary)
    )
    # Unigrams 5/6 match, bigrams 3/5, equal lengths: BLEU-2 = sqrt(5/6 * 3/5).
    assert scores["bleu2"] == pytest.approx(np.sqrt(5 / 6 * 3 / 5))
    # ROUGE-1 and ROUGE-L (LCS "the cat sat on mat"): 5 of 6 words each way; ROUGE-2: 3 of 5 bigrams.
    assert scores["rouge1"] == pytest.approx(5 / 6)
    assert scores["rougeL"] == pytest.approx(5 / 6)
    assert scores["rouge2"] == pytest.approx(3 / 5)
    assert scores["num_examples"] == 1


def test_identical_caption_scores_one_except_meteor_fragmentation(captioning, tiny_vocabulary, wordnet_available):
    caption = "the molecule is an acid ."
    scores = captioning.compute(predictions=[caption], references=[caption], tokenizer=str(tiny_vocabulary))
    assert scores["bleu4"] == pytest.approx(1.0)
    assert scores["rougeL"] == pytest.approx(1.0)
    # METEOR's fragmentation penalty for one chunk of 6 matched pieces: 0.5 * (1/6)^3.
    assert scores["meteor"] == pytest.approx(1 - 0.5 * (1 / 6) ** 3)


def test_empty_prediction_scores_zero_without_crashing(captioning, tiny_vocabulary, wordnet_available):
    scores = captioning.compute(predictions=[""], references=["the molecule is an acid ."], tokenizer=str(tiny_vocabulary))
    assert scores["bleu2"] == 0.0
    assert scores["rouge1"] == 0.0
    assert scores["meteor"] == 0.0


def test_word_pieces_drop_special_tokens_and_stop_at_512(tiny_vocabulary):
    tokenizer = load_word_piece_tokenizer(str(tiny_vocabulary))
    assert word_pieces(tokenizer, "[CLS] The Quinoline molecule [SEP] [PAD]") == ["the", "quin", "##oline", "molecule"]
    assert len(word_pieces(tokenizer, "cat " * 600)) == 512


def test_a_vocabulary_that_maps_words_to_unk_is_refused(captioning, tmp_path, wordnet_available):
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n")
    with pytest.raises(ValueError, match="'molecule' into \\[UNK\\]"):
        captioning.compute(predictions=["the"], references=["the"], tokenizer=str(tmp_path))


def test_non_string_prediction_is_named(captioning, tiny_vocabulary, wordnet_available):
    with pytest.raises(TypeError, match=r"predictions\[1\]"):
        captioning.compute(predictions=["the cat", None], references=["the cat", "a mat"], tokenizer=str(tiny_vocabulary))


def read_molt5_file(path: Path) -> list[dict]:
    """MolT5's reader: tab-separated, no quoting."""
    with open(path, encoding="utf-8") as lines:
        return list(csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE))


def reference_recipe(predictions: list[str], references: list[str], tokenizer: BertTokenizerFast) -> dict:
    """MolT5's text_translation_metrics.py written out directly, as it behaves under transformers 4."""

    def pieces(text):
        # transformers 4's tokenize(..., truncation=True, max_length=512, padding="max_length"), specials dropped.
        return [token for token in tokenizer.tokenize(text)[:512] if token not in ("[PAD]", "[CLS]", "[SEP]")]

    hypotheses = [pieces(text) for text in predictions]
    reference_lists = [[pieces(text)] for text in references]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"])
    rouge = [scorer.score(prediction, reference) for prediction, reference in zip(predictions, references)]
    return {
        "bleu2": corpus_bleu(reference_lists, hypotheses, weights=(0.5, 0.5)),
        "bleu4": corpus_bleu(reference_lists, hypotheses, weights=(0.25, 0.25, 0.25, 0.25)),
        "meteor": np.mean([meteor_score(refs, hyp) for refs, hyp in zip(reference_lists, hypotheses)]),
        "rouge1": np.mean([score["rouge1"].fmeasure for score in rouge]),
        "rouge2": np.mean([score["rouge2"].fmeasure for score in rouge]),
        "rougeL": np.mean([score["rougeL"].fmeasure for score in rouge]),
    }


@pytest.mark.skipif(
    not MOLT5_PREDICTIONS.is_dir() or not SCIBERT_VOCABULARY.is_dir(),
    reason=f"MolT5's published predictions and the SciBERT vocabulary are not in {SHARED_DATA} (only in the dev setup)",
)
@pytest.mark.parametrize("model_size", ["small", "base", "large"])
def test_parity_with_molt5_protocol_on_published_captions(captioning, model_size, wordnet_available):
    rows = read_molt5_file(MOLT5_PREDICTIONS / f"molt5-{model_size}-smiles2caption.txt")[:PARITY_ROWS]
    predictions = [row["output"] for row in rows]
    references = [row["ground truth"] for row in rows]
    scores = captioning.compute(predictions=predictions, references=references, tokenizer=str(SCIBERT_VOCABULARY))
    expected = reference_recipe(predictions, references, BertTokenizerFast.from_pretrained(str(SCIBERT_VOCABULARY)))
    assert 0.2 < expected["bleu4"] < 0.8, "the reference protocol itself looks broken"
    for name, value in expected.items():
        assert scores[name] == pytest.approx(value, abs=1e-4), name
