"""Subcommands of the `instructmol` command, each a module with HELP, add_arguments() and run()."""

from . import chat, init, merge, quickstart

SUBCOMMANDS = {"chat": chat, "init": init, "merge": merge, "quickstart": quickstart}
