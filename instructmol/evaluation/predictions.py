"""`predictions.jsonl`: one JSON line per evaluated row, appended batch by batch, so an interrupted run resumes.

A record holds `id`, `task`, `smiles`, `prompt` (the user turn as the model read it), `prediction` (the generated
answer), `target`, `row_fingerprint` (a hash of the row's inputs and target: a resumed run refuses records of rows
that changed since) and `p_yes` for Yes/No tasks. Records are keyed by (task, id). A run killed while writing leaves
at most one unfinished last line (possibly cut inside a character); it is dropped when the file is opened again, and
that row is generated anew. One run at a time writes to a folder (a lock file).

A sharded run (`accelerate launch`, several processes) has each process append to its own
`predictions.shard-<rank>-of-<processes>.jsonl`; when all are done the main process merges them into
`predictions.jsonl` in row order and removes them. Shard files left by an interrupted sharded run are merged before
the next run starts, so every kind of rerun resumes from them.
"""

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from processing_instructmol import flatten_content

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"
SHARD_FILES = "predictions.shard-*.jsonl"
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


def shard_name(rank: int, processes: int) -> str:
    return f"shard-{rank}-of-{processes}"


class PredictionStore:
    """The records of `<folder>/predictions.jsonl`: those already there, and those appended now.

    Args:
        folder: the evaluation's output folder (created if needed).
        shard: this process's shard (`shard_name`) in a sharded run: records are appended to its own file, and
            those of `predictions.jsonl` count as done too.

    Raises:
        ValueError: naming the file and line of a record that is not a JSON object with `RECORD_KEYS`.
    """

    def __init__(self, folder: str | Path, shard: str | None = None):
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / (PREDICTIONS_FILE if shard is None else f"predictions.{shard}.jsonl")
        self.records: dict[tuple[str, str], dict] = {}
        for path in dict.fromkeys([folder / PREDICTIONS_FILE, self.path]):
            if path.exists():
                self.read(path)

    def read(self, path: Path) -> None:
        """Adds the records of a predictions file (dropping its unfinished last line, if any)."""
        data = path.read_bytes()
        complete, _, unfinished = data.rpartition(b"\n")
        if unfinished:  # a run died in the middle of this line: forget it, its row will be generated again
            logger.warning("Dropping the unfinished last line of %s (an interrupted run wrote it)", path)
            with open(path, "r+b") as file:
                file.truncate(len(data) - len(unfinished))
        for number, line in enumerate(complete.split(b"\n") if complete else [], start=1):
            record = self._parse(line, f"{path} line {number}")
            self.records[record_key(record)] = record

    @staticmethod
    def _parse(line: bytes, where: str) -> dict:
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

    def rewrite(self, rows: list[dict]) -> None:
        """Rewrites the file with every record: those of `rows` in their order, then any others (atomically)."""
        ordered = {record_key(row): self.records[record_key(row)] for row in rows if record_key(row) in self.records}
        ordered.update(self.records)
        temporary = self.path.with_name(self.path.name + ".tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            file.writelines(json.dumps(record, ensure_ascii=True) + "\n" for record in ordered.values())
        os.replace(temporary, self.path)


def merge_shard_files(folder: str | Path, rows: list[dict]) -> int:
    """Folds every shard file of `folder` into `predictions.jsonl` (in the order of `rows`) and removes them; returns
    how many shard files there were. Only while no process writes to the folder."""
    shard_paths = sorted(Path(folder).glob(SHARD_FILES))
    if shard_paths:
        store = PredictionStore(folder)
        for path in shard_paths:
            store.read(path)
        store.rewrite(rows)
        for path in shard_paths:
            path.unlink()
    return len(shard_paths)
