"""The one exception type that reaches users.

Every check on user input raises :class:`InputError` with a message that names the offending
file or value and the problem, so that the CLI can print exactly one line and exit non-zero
instead of a traceback. Anything else escaping is a bug and keeps its traceback.
"""


class InputError(Exception):
    """Bad input from the user: a file, a name, an option. The message is shown verbatim."""
