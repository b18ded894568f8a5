"""The one exception type for mistakes a user can fix."""


class PaddyError(Exception):
    """A user's mistake: the message says what is wrong and what to do. The CLI prints it and exits 2."""
