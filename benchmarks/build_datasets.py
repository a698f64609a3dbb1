"""How fast the full QM9 dataset builds from the `qm9pack` wheel (130,831 molecules x 3 properties), with 1 and 2
processes for the heavy step (featurizer checks and SELFIES encoding).

Times `datasets/qm9.py --origin qm9pack` in this process (imports excluded, they cost the same either way), writing
all 8 configs, and prints rows per second and the 2-vs-1 process ratio.

    python benchmarks/build_datasets.py [--limit N]
"""

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

BUILDER = Path(__file__).resolve().parents[1] / "datasets" / "qm9.py"


def load_qm9_builder():
    spec = importlib.util.spec_from_file_location("qm9_builder", BUILDER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def property_rows(output: Path) -> int:
    """Rows of the `qm9_g` config: one per kept molecule and property."""
    return sum(pq.read_metadata(path).num_rows for path in output.glob("data/qm9_g/*.parquet"))


def time_build(builder, num_proc: int, limit: int | None) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as folder:
        output = Path(folder) / "qm9"
        options = ["--output", str(output), "--origin", "qm9pack", "--num-proc", str(num_proc)]
        options += ["--limit", str(limit)] if limit else []
        sys.argv = ["qm9.py", *options]
        start = time.perf_counter()
        builder.main(options)
        seconds = time.perf_counter() - start
        return seconds, property_rows(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, help="build a sample of this many molecules instead of all")
    args = parser.parse_args()
    builder = load_qm9_builder()
    results = {num_proc: time_build(builder, num_proc, args.limit) for num_proc in (1, 2)}
    print("\nQM9 from qm9pack, 8 configs (homo/lumo/gap/qm9 x G/GS)")
    for num_proc, (seconds, rows) in results.items():
        print(f"  {num_proc} process(es): {seconds:7.1f} s  {rows:,} molecule-property rows  "
              f"{rows / seconds:9,.0f} rows/s")
    print(f"  2-vs-1 process speed-up: {results[1][0] / results[2][0]:.2f}x")


if __name__ == "__main__":
    main()
