"""The `instructmol` command: `instructmol <subcommand> --help` for each."""

import argparse
import logging
import sys

from . import commands
from .errors import EXPECTED_ERRORS, one_line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instructmol", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error, not only its message")
    subcommands = parser.add_subparsers(dest="command", required=True)
    for name, command in commands.SUBCOMMANDS.items():
        subparser = subcommands.add_parser(name, help=command.HELP, description=command.__doc__)
        command.add_arguments(subparser)
        subparser.set_defaults(run=command.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except EXPECTED_ERRORS as error:
        # Bad input (a SMILES, a path, a file, a config key) ends with one line naming it, not a traceback.
        if args.debug:
            raise
        print(f"instructmol {args.command}: error: {one_line(error)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
