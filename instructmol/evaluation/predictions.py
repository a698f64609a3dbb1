"""`predictions.jsonl`: one JSON line per evaluated row, appended batch by batch, so an interrupted run resumes.

A record holds `id`, `task`, `smiles`, `prompt` (the user's instruction), `prediction` (the generated answer),
`target`, and `p_yes` for Yes/No tasks. Records are keyed by (task, id). A run killed while writing leaves at
most one truncated last line; it is dropped when the file is opened again, and that row is generated anew.
"""

import json
import logging
from pathlib import Path

from processing_instructmol import flatten_content

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"


def record_key(record: dict) -> tuple[str, str]:
    """The (task, id) pair that identifies a row across runs."""
    return record["task"], record["id"]


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
    }
    if p_yes is not None:
        record["p_yes"] = p_yes
    return record


class PredictionStore:
    """The records of `<folder>/predictions.jsonl`: those already there, and those appended now.

    Args:
        folder: the evaluation's output folder (created if needed).
    """

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / PREDICTIONS_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[tuple[str, str], dict] = {}
        if self.path.exists():
            self._read()

    def _read(self) -> None:
        text = self.path.read_text(encoding="utf-8")
        lines = text.split("\n")
        complete_lines, unfinished = lines[:-1], lines[-1]
        if unfinished:  # a run died in the middle of this line: forget it, its row will be generated again
            logger.warning("Dropping the unfinished last line of %s (an interrupted run wrote it)", self.path)
            self.path.write_text(text[: len(text) - len(unfinished)], encoding="utf-8")
        for number, line in enumerate(complete_lines, start=1):
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{self.path} line {number} is not a JSON record ({error}); was the file edited?") from None
            self.records[record_key(record)] = record

    def missing(self, rows: list[dict]) -> list[dict]:
        """The rows that have no record yet, in their order."""
        return [row for row in rows if record_key(row) not in self.records]

    def append(self, records: list[dict]) -> None:
        """Writes records at the end of the file; closing it flushes them before this returns."""
        with open(self.path, "a", encoding="utf-8") as file:
            for record in records:
                file.write(json.dumps(record, ensure_ascii=False) + "\n")
                self.records[record_key(record)] = record

    def records_for(self, rows: list[dict]) -> list[dict]:
        """The records of `rows`, in the rows' order (every row must have one)."""
        return [self.records[record_key(row)] for row in rows]
