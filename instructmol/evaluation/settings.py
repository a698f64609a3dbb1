"""The settings of one evaluation run, and the command line that reproduces it."""

import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path

from ..loading import read_json_file
from ..defaults import CAPTION_TOKENIZER

RUN_FILE = "run.json"
MODES = ("molt5", "instructmol")


@dataclass
class EvaluationSettings:
    """Everything `instructmol evaluate` takes (see `instructmol evaluate --help` for each)."""

    model: str
    dataset: str
    config: str
    split: str = "test"
    output: Path | None = None
    batch_size: int = 16
    max_new_tokens: int | None = None
    sample: bool = False
    temperature: float = 0.2
    seed: int = 0
    mode: str = "molt5"
    limit: int | None = None
    caption_tokenizer: str = CAPTION_TOKENIZER
    update_card: bool = False
    dtype: str = "auto"
    exclude_train_overlap: bool = False
    server: str | None = None
    concurrency: int = 8

    def __post_init__(self) -> None:
        if self.output is None:
            self.output = Path("evaluation") / Path(self.model).name / f"{self.config}-{self.split}"
        self.output = Path(self.output)
        if self.batch_size < 1 or (self.max_new_tokens is not None and self.max_new_tokens < 1):
            raise ValueError(f"--batch-size and --max-new-tokens must be at least 1, got {self.batch_size} and {self.max_new_tokens}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {self.limit}")
        if self.sample and not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"--temperature must be a positive finite number when sampling, got {self.temperature}")
        if self.concurrency < 1:
            raise ValueError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.mode not in MODES:
            raise ValueError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")

    @property
    def decoding(self) -> str:
        """How answers are decoded, in words."""
        return f"sampling, temperature {self.temperature}, seed {self.seed}" if self.sample else "greedy"

    @property
    def engine(self) -> str:
        """What generates the answers, in words."""
        return f"vLLM server at {self.server}" if self.server else f"transformers, dtype {self.dtype}"

    @property
    def decoding_record(self) -> dict:
        """How answers are decoded, as metrics.json and the model card's results record it."""
        if self.sample:
            return {"strategy": "sampling", "temperature": self.temperature, "seed": self.seed}
        return {"strategy": "greedy", "temperature": None, "seed": None}

    def generate_kwargs(self) -> dict:
        """The decoding arguments of `model.generate`."""
        return decoding_kwargs(self.sample, self.temperature)

    def command_line(self) -> str:
        """The `instructmol evaluate` command that repeats this run, every option spelled out."""
        arguments = ["instructmol", "evaluate", "--model", self.model, "--dataset", self.dataset, "--config", self.config,
                     "--split", self.split, "--output", str(self.output), "--batch-size", str(self.batch_size)]
        if self.max_new_tokens is not None:
            arguments += ["--max-new-tokens", str(self.max_new_tokens)]
        if self.sample:
            arguments += ["--sample", "--temperature", str(self.temperature), "--seed", str(self.seed)]
        arguments += ["--mode", self.mode, "--caption-tokenizer", self.caption_tokenizer, "--dtype", self.dtype]
        if self.limit is not None:
            arguments += ["--limit", str(self.limit)]
        if self.exclude_train_overlap:
            arguments.append("--exclude-train-overlap")
        if self.server:
            arguments += ["--server", self.server, "--concurrency", str(self.concurrency)]
        if self.update_card:
            arguments.append("--update-card")
        return shlex.join(arguments)

    def prediction_settings(self, max_new_tokens: int, model_fingerprint: str) -> dict:
        """What the generated answers depend on: a resumed run must agree on all of it."""
        return {"model": self.model, "model_fingerprint": model_fingerprint, "dataset": self.dataset,
                "config": self.config, "split": self.split, "max_new_tokens": max_new_tokens,
                "decoding": self.decoding, "dtype": self.dtype,
                # Only a served run records its engine, so that runs recorded before there was a choice still resume.
                **({"engine": "vllm"} if self.server else {})}

    def check_or_record_run(self, max_new_tokens: int, model_fingerprint: str) -> None:
        """Records the prediction settings in `<output>/run.json`, or checks that a previous run used the same.

        Raises:
            ValueError: the output folder holds predictions made with other settings or another state of the model
                (its files changed in place), or a run.json that cannot be read; resuming would mix them.
        """
        path = self.output / RUN_FILE
        settings = self.prediction_settings(max_new_tokens, model_fingerprint)
        if path.exists():
            previous = read_run_file(path)
            differences = {key: (previous.get(key), value) for key, value in settings.items() if previous.get(key) != value}
            if differences:
                described = "; ".join(
                    "the model's files changed since (fingerprint)" if key == "model_fingerprint"
                    else f"{key}: {old!r} before, {new!r} now" for key, (old, new) in differences.items()
                )
                raise ValueError(
                    f"{self.output} holds predictions made with other settings ({described}); resuming would mix them. "
                    "Choose another --output, or delete that folder."
                )
            return
        self.output.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2) + "\n")


def decoding_kwargs(sample: bool, temperature: float) -> dict:
    """`model.generate`'s decoding arguments: sampling at `temperature`, or greedy (which clears the sampling
    defaults a model's generation config may hold)."""
    if sample:
        return {"do_sample": True, "temperature": temperature}
    return {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}


def read_run_file(path: Path) -> dict:
    """A previous run's settings; a ValueError names the file when it is not a JSON object."""
    try:
        return read_json_file(path)
    except ValueError as error:
        raise ValueError(f"{path.name} is not a valid run record ({error}); delete the folder to start over") from None
