"""Subcommands of the `instructmol` command, each a module with HELP, add_arguments() and run()."""

from . import init, quickstart

SUBCOMMANDS = {"init": init, "quickstart": quickstart}
