"""Subcommands of the `instructmol` command, each a module with HELP, add_arguments() and run()."""

from . import init

SUBCOMMANDS = {"init": init}
