"""Subcommands of the `instructmol` command, each a module with HELP, add_arguments() and run()."""

from . import init, merge, quickstart

SUBCOMMANDS = {"init": init, "merge": merge, "quickstart": quickstart}
