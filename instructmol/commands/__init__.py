"""Subcommands of the `instructmol` command, each a module with HELP, add_arguments() and run()."""

from . import audit, chat, evaluate, init, merge, quickstart

SUBCOMMANDS = {"audit": audit, "chat": chat, "evaluate": evaluate, "init": init, "merge": merge, "quickstart": quickstart}
