"""Subcommands of the `instructmol` command, each a module with HELP, add_arguments() and run()."""

from . import audit, chat, demo, evaluate, init, merge, quickstart

SUBCOMMANDS = {"audit": audit, "chat": chat, "demo": demo, "evaluate": evaluate, "init": init, "merge": merge, "quickstart": quickstart}
