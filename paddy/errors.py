"""The one exception type for mistakes a user can fix, and the warning line for what a user should know."""
import sys


class PaddyError(Exception):
    """A user's mistake: the message says what is wrong and what to do. The CLI prints it and exits 2."""


def warn(message):
    "One warning line on stderr, in the CLI's `paddy:` voice."
    print(f"paddy: warning: {message}", file=sys.stderr, flush=True)
