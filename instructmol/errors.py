"""How the toolkit reports what went wrong: errors a user can act on, on one line."""

# What bad input raises once it is checked at a boundary (a SMILES, a graph batch, a dataset row, a file, an
# option): the CLI prints these as one line naming the culprit. Anything else is a bug and keeps its traceback.
EXPECTED_ERRORS = (ValueError, OSError, EOFError)


def one_line(error: BaseException) -> str:
    """An exception's message on one line, for errors that quote another library's (often multi-line) message."""
    return " ".join(str(error).split())
