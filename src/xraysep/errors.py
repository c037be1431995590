"""The one exception type that reaches users.

Every check on user input raises :class:`InputError` with a message that names the offending
file or value and the problem, so that the CLI can print exactly one line and exit non-zero
instead of a traceback. Anything else escaping is a bug and keeps its traceback.
"""


class InputError(Exception):
    """Bad input from the user: a file, a name, an option. The message is shown verbatim."""


def reason(error: BaseException) -> str:
    """The first line of a library's exception, for a one-line message: decoders and
    ``torch.load`` explain over many lines, and the first one says what went wrong."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
