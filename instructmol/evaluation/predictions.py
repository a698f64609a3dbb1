"""`predictions.jsonl`: one JSON line per evaluated row, appended batch by batch, so an interrupted run resumes.

A record holds `id`, `task`, `smiles`, `prompt` (the user turn as the model read it), `prediction` (the generated
answer), `target`, `row_fingerprint` (a hash of the row's inputs and target: a resumed run refuses records of rows
that changed since) and `p_yes` for Yes/No tasks. Records are keyed by (task, id). A run killed while writing leaves
at most one unfinished last line (possibly cut inside a character); it is dropped when the file is opened again, and
that row is generated anew. One run at a time writes to a folder (a lock file).
"""

import fcntl
import hashlib
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from processing_instructmol import flatten_content

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"
LOCK_FILE = ".instructmol-evaluate.lock"
RECORD_KEYS = ("id", "task", "prediction", "target", "row_fingerprint")


def record_key(record: dict) -> tuple[str, str]:
    """The (task, id) pair that identifies a row across runs."""
    return record["task"], record["id"]


def row_fingerprint(row: dict) -> str:
    """A hash of what a row's answer and score depend on: its molecules, prompt and target."""
    content = {key: row[key] for key in ("images", "prompt", "target")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def user_turn(row: dict) -> str:
    """A row's user turn as the model reads it, each graph as its `<mol>` placeholder."""
    return flatten_content(next(message["content"] for message in row["prompt"] if message["role"] == "user"))[0]


def prediction_record(row: dict, prediction: str, p_yes: float | None = None) -> dict:
    """The line written for one row."""
    record = {
        "id": row["id"],
        "task": row["task"],
        "smiles": row["smiles"],
        "prompt": user_turn(row),
        "prediction": prediction,
        "target": row["target"],
        "row_fingerprint": row_fingerprint(row),
    }
    if p_yes is not None:
        record["p_yes"] = p_yes
    return record


@contextmanager
def exclusive_output(folder: str | Path) -> Iterator[Path]:
    """Holds the output folder's lock for the duration: a second run on the same folder would write every row twice.

    Raises:
        ValueError: another run holds the folder.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the process ends, however it ends
        except BlockingIOError:
            raise ValueError(
                f"another `instructmol evaluate` is writing to {folder}; wait for it to finish or choose another --output"
            ) from None
        yield folder


class PredictionStore:
    """The records of `<folder>/predictions.jsonl`: those already there, and those appended now.

    Args:
        folder: the evaluation's output folder (created if needed).

    Raises:
        ValueError: naming the file and line of a record that is not a JSON object with `RECORD_KEYS`.
    """

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / PREDICTIONS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[tuple[str, str], dict] = {}
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        data = self.path.read_bytes()
        complete, _, unfinished = data.rpartition(b"\n")
        if unfinished:  # a run died in the middle of this line: forget it, its row will be generated again
            logger.warning("Dropping the unfinished last line of %s (an interrupted run wrote it)", self.path)
            with open(self.path, "r+b") as file:
                file.truncate(len(data) - len(unfinished))
        for number, line in enumerate(complete.split(b"\n") if complete else [], start=1):
            record = self._parse(line, number)
            self.records[record_key(record)] = record

    def _parse(self, line: bytes, number: int) -> dict:
        where = f"{self.path} line {number}"
        try:
            record = json.loads(line.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"{where} is not a JSON record ({error}); was the file edited? Delete it to start over") from None
        if not isinstance(record, dict):
            raise ValueError(f"{where} is a JSON {type(record).__name__}, not a prediction record")
        missing = [key for key in RECORD_KEYS if key not in record]
        if missing:
            raise ValueError(f"{where} lacks {', '.join(missing)} (written by an older version, or edited); "
                             "delete the file to start over")
        if not isinstance(record["prediction"], str):
            raise ValueError(f"{where}: the prediction must be a string, got {record['prediction']!r:.80}")
        return record

    def missing(self, rows: list[dict]) -> list[dict]:
        """The rows that have no record yet, in their order.

        Raises:
            ValueError: a row's record was made from other content (the dataset changed in place since).
        """
        for row in rows:
            record = self.records.get(record_key(row))
            if record is not None and record["row_fingerprint"] != row_fingerprint(row):
                raise ValueError(
                    f"the dataset changed since {self.path} was written: row {row['id']!r} (task {row['task']!r}) has "
                    "other molecules, prompt or target now. Choose another --output, or delete that folder."
                )
        return [row for row in rows if record_key(row) not in self.records]

    def append(self, records: list[dict]) -> None:
        """Writes records at the end of the file; closing it flushes them before this returns."""
        with open(self.path, "a", encoding="utf-8") as file:
            for record in records:
                # ASCII escapes: any string a model generates (a lone surrogate included) round-trips.
                file.write(json.dumps(record, ensure_ascii=True) + "\n")
                self.records[record_key(record)] = record

    def records_for(self, rows: list[dict]) -> list[dict]:
        """The records of `rows`, in the rows' order (every row must have one)."""
        return [self.records[record_key(row)] for row in rows]
