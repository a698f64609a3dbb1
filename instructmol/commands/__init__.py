"""Subcommands of the `instructmol` command, each a module with HELP, add_arguments() and run()."""

from . import audit, chat, demo, evaluate, export, init, merge, quickstart, serve

SUBCOMMANDS = {"audit": audit, "chat": chat, "demo": demo, "evaluate": evaluate, "export": export,
               "init": init, "merge": merge, "quickstart": quickstart, "serve": serve}
