"""The one rule for where a command may write: never into one of its own inputs.

Every command that writes a folder (`init`, `merge`, `export`, `evaluate`, `audit`, the dataset builders) checks its
`--output` here before any work: a merge written over its adapter would load the adapter twice, predictions written
into the model folder change its fingerprint, a builder's `--overwrite` of the folder holding its source file would
delete the source. Reads only paths (no torch), so the check costs nothing.
"""

from pathlib import Path


def check_output_apart(output: str | Path, **inputs: str | Path | None) -> Path:
    """`output`, when it is none of the command's inputs, lies inside none and holds none.

    Args:
        output: the folder (or file) the command writes.
        inputs: each input by its option name (`adapter="..."` for `--adapter`); None and Hub ids (paths that do not
            exist here) are skipped.

    Raises:
        ValueError: naming the output and the input it would write into.
    """
    written = Path(output).resolve()
    for option, value in inputs.items():
        if value is None or not Path(value).exists():
            continue
        read = Path(value).resolve()
        if written == read:
            relation = "is"
        elif written.is_relative_to(read):
            relation = "lies inside"
        elif read.is_relative_to(written):
            relation = "holds"
        else:
            continue
        raise ValueError(f"--output {output} {relation} the input --{option.replace('_', '-')} {value}: a command "
                         "never writes into its own inputs; choose another output folder")
    return Path(output)
