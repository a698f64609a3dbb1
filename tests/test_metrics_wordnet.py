"""WordNet for METEOR, offline: the NLTK copy built from Debian's files, and the error without any WordNet."""

from pathlib import Path

import nltk
import pytest
from nltk.corpus.reader.wordnet import WordNetCorpusReader
from nltk.translate.meteor_score import meteor_score

from instructmol import wordnet as instructmol_wordnet
from instructmol.wordnet import (
    LEXICOGRAPHER_FILES,
    WordNetUnavailableError,
    build_nltk_wordnet,
    ensure_wordnet,
    find_wordnet_database,
    lexnames_text,
)

# The example of NLTK's meteor_score docstring, published there as 0.6944.
TEXTBOOK_HYPOTHESIS = "It is a guide to action which ensures that the military always obeys the commands of the party"
TEXTBOOK_REFERENCE = "It is a guide to action that ensures that the military will forever heed Party commands"


def test_lexnames_matches_wordnet_30_layout():
    lines = lexnames_text().splitlines()
    assert len(lines) == 45
    assert lines[0] == "00\tadj.all\t3"
    assert lines[3] == "03\tnoun.Tops\t1"
    assert lines[29] == "29\tverb.body\t2"
    assert lines[2] == "02\tadv.all\t4"
    assert lines[44] == "44\tadj.ppl\t3"
    assert len(set(LEXICOGRAPHER_FILES)) == 45


@pytest.mark.skipif(find_wordnet_database() is None, reason="no WordNet database (apt-get install wordnet-base)")
def test_built_copy_loads_as_wordnet_30(tmp_path, monkeypatch):
    wordnet_dir = build_nltk_wordnet(find_wordnet_database(), tmp_path)
    assert wordnet_dir == tmp_path / "corpora" / "wordnet"
    assert not any(path.is_symlink() for path in wordnet_dir.iterdir())
    # NLTK only reads corpora under its data path.
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    reader = WordNetCorpusReader(nltk.data.find("corpora/wordnet"), None)
    assert reader.get_version() == "3.0"
    assert "automobile" in reader.synset("car.n.01").lemma_names()


def test_building_from_a_folder_without_wordnet_names_the_missing_files(tmp_path):
    (tmp_path / "data.noun").write_text("")
    with pytest.raises(FileNotFoundError, match="index.noun"):
        build_nltk_wordnet(tmp_path, tmp_path / "nltk_data")


def test_without_any_wordnet_the_error_says_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "empty_nltk_data")])
    monkeypatch.setenv(instructmol_wordnet.NLTK_DATA_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(instructmol_wordnet.WORDNET_DIR_ENV, raising=False)
    monkeypatch.setattr(instructmol_wordnet, "DEBIAN_WORDNET_DIR", tmp_path / "no_wordnet_here")
    with pytest.raises(WordNetUnavailableError) as error:
        ensure_wordnet()
    assert "apt-get install wordnet-base wordnet-sense-index" in str(error.value)
    assert "python -m nltk.downloader wordnet" in str(error.value)


def test_meteor_scores_the_textbook_example_as_published(wordnet_available):
    score = meteor_score([TEXTBOOK_REFERENCE.split()], TEXTBOOK_HYPOTHESIS.split())
    assert round(score, 4) == 0.6944


def test_meteor_uses_wordnet_synonyms(wordnet_available):
    # NLTK looks synonyms up after Porter stemming, so the pair must survive stemming ("automobile" does not).
    reference = ["the", "auto", "is", "red"]
    synonym_score = meteor_score([reference], ["the", "car", "is", "red"])
    unrelated_score = meteor_score([reference], ["the", "banana", "is", "red"])
    assert synonym_score == pytest.approx(meteor_score([reference], reference))
    assert synonym_score > unrelated_score


def test_ensure_wordnet_puts_a_readable_copy_on_the_nltk_path(wordnet_available):
    found = Path(str(nltk.data.find("corpora/wordnet")))
    assert (found / "lexnames").is_file()
