"""WordNet 3.0 for NLTK's METEOR, without a download at run time.

NLTK's METEOR matches synonyms through `nltk.corpus.wordnet`. NLTK normally fetches that corpus
with `nltk.download("wordnet")`, which needs the network. Debian's `wordnet-base` (plus
`wordnet-sense-index`) ships the same WordNet 3.0 database in /usr/share/wordnet, but NLTK cannot
read it there: nltk 3.10 refuses corpus roots outside `nltk.data.path` ("Security Violation") and
symlinks that leave the root, and Debian leaves out the `lexnames` file NLTK's reader opens first.

`ensure_wordnet()` therefore, in order:
1. uses a WordNet NLTK already finds (e.g. one from `python -m nltk.downloader wordnet`);
2. else uses, or builds once, `<cache>/corpora/wordnet/`: the database files copied (not linked)
   from `$WNSEARCHDIR` or /usr/share/wordnet, plus a generated `lexnames`; `<cache>` is
   `$INSTRUCTMOL_NLTK_DATA`, else `$XDG_CACHE_HOME/instructmol/nltk_data`, else
   `~/.cache/instructmol/nltk_data`, and is put on `nltk.data.path`;
3. else raises `WordNetUnavailableError` saying how to get WordNet.
"""

import os
import shutil
import tempfile
from pathlib import Path

import nltk
from nltk.corpus import wordnet

NLTK_DATA_ENV = "INSTRUCTMOL_NLTK_DATA"
# The variable WordNet's own tools read for the location of the database.
WORDNET_DIR_ENV = "WNSEARCHDIR"
DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")

# The files NLTK's reader opens to load WordNet, besides `lexnames`.
WORDNET_DATABASE_FILES = tuple(
    f"{kind}.{part_of_speech}" for kind in ("data", "index") for part_of_speech in ("noun", "verb", "adj", "adv")
) + tuple(f"{part_of_speech}.exc" for part_of_speech in ("noun", "verb", "adj", "adv"))

# WordNet 3.0's 45 lexicographer files, numbered 00-44 in this order (lexnames(5WN)).
LEXICOGRAPHER_FILES = (
    "adj.all", "adj.pert", "adv.all", "noun.Tops", "noun.act", "noun.animal", "noun.artifact",
    "noun.attribute", "noun.body", "noun.cognition", "noun.communication", "noun.event", "noun.feeling",
    "noun.food", "noun.group", "noun.location", "noun.motive", "noun.object", "noun.person",
    "noun.phenomenon", "noun.plant", "noun.possession", "noun.process", "noun.quantity", "noun.relation",
    "noun.shape", "noun.state", "noun.substance", "noun.time", "verb.body", "verb.change", "verb.cognition",
    "verb.communication", "verb.competition", "verb.consumption", "verb.contact", "verb.creation",
    "verb.emotion", "verb.motion", "verb.perception", "verb.possession", "verb.social", "verb.stative",
    "verb.weather", "adj.ppl",
)
# The third lexnames column: the syntactic category number WordNet gives each part of speech.
SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

HOW_TO_GET_WORDNET = (
    "METEOR needs WordNet 3.0 and none was found. Get it with one of:\n"
    "  apt-get install wordnet-base wordnet-sense-index   (Debian/Ubuntu: puts it in /usr/share/wordnet)\n"
    "  python -m nltk.downloader wordnet                    (NLTK's copy, needs network once)\n"
    f"or point ${WORDNET_DIR_ENV} at a folder holding WordNet 3.0's database files (data.noun, index.noun, ...)."
)


class WordNetUnavailableError(LookupError):
    """No WordNet NLTK can load, and none to build one from."""


def default_nltk_data_dir() -> Path:
    """The folder that receives the NLTK copy of WordNet: `$INSTRUCTMOL_NLTK_DATA` or a user cache folder."""
    if os.environ.get(NLTK_DATA_ENV):
        return Path(os.environ[NLTK_DATA_ENV]).expanduser()
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "instructmol" / "nltk_data"


def lexnames_text() -> str:
    """WordNet 3.0's `lexnames` file: "<number>\\t<lexicographer file>\\t<syntactic category>" per line."""
    return "".join(
        f"{number:02d}\t{name}\t{SYNTACTIC_CATEGORY[name.split('.')[0]]}\n"
        for number, name in enumerate(LEXICOGRAPHER_FILES)
    )


def find_wordnet_database() -> Path | None:
    """The first of `$WNSEARCHDIR` and /usr/share/wordnet that holds WordNet's database files."""
    candidates = [Path(os.environ[WORDNET_DIR_ENV])] if os.environ.get(WORDNET_DIR_ENV) else []
    candidates.append(DEBIAN_WORDNET_DIR)
    for candidate in candidates:
        if all((candidate / name).is_file() for name in WORDNET_DATABASE_FILES):
            return candidate
    return None


def build_nltk_wordnet(database_dir: Path, nltk_data_dir: Path) -> Path:
    """Copies a WordNet database into `<nltk_data_dir>/corpora/wordnet/` with a `lexnames`; returns that folder.

    Files are copied, not linked: NLTK refuses links that leave its data root. The folder is
    assembled under a temporary name and renamed into place, so a concurrent process never sees
    half a corpus.
    """
    missing = [name for name in WORDNET_DATABASE_FILES if not (database_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{database_dir} is not a WordNet database folder: it lacks {', '.join(missing)}")
    corpora_dir = nltk_data_dir / "corpora"
    corpora_dir.mkdir(parents=True, exist_ok=True)
    wordnet_dir = corpora_dir / "wordnet"
    staging_dir = Path(tempfile.mkdtemp(prefix="wordnet-", dir=corpora_dir))
    # Debian's folder also holds other packages' sub-folders (GUI resources); only files are corpus.
    for source in database_dir.iterdir():
        if source.is_file():
            shutil.copyfile(source, staging_dir / source.name)
    if not (staging_dir / "lexnames").exists():
        (staging_dir / "lexnames").write_text(lexnames_text())
    try:
        staging_dir.rename(wordnet_dir)
    except OSError:
        # Another process finished first; its copy is as good as ours.
        shutil.rmtree(staging_dir)
        if not (wordnet_dir / "lexnames").is_file():
            raise
    return wordnet_dir


def nltk_finds_wordnet() -> bool:
    """Whether NLTK resolves the `wordnet` corpus on its current `nltk.data.path`."""
    try:
        nltk.data.find("corpora/wordnet")
    except LookupError:
        return False
    return True


def ensure_wordnet() -> None:
    """Makes `nltk.corpus.wordnet` loadable offline (see the module docstring), or raises `WordNetUnavailableError`."""
    if not nltk_finds_wordnet():
        nltk_data_dir = default_nltk_data_dir()
        if not (nltk_data_dir / "corpora" / "wordnet" / "lexnames").is_file():
            database_dir = find_wordnet_database()
            if database_dir is None:
                raise WordNetUnavailableError(HOW_TO_GET_WORDNET)
            build_nltk_wordnet(database_dir, nltk_data_dir)
        if str(nltk_data_dir) not in nltk.data.path:
            nltk.data.path.append(str(nltk_data_dir))
    wordnet.ensure_loaded()
