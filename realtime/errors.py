"""The one exception type the CLI turns into a one-line message and a non-zero exit."""


class UserError(Exception):
    """Something the user can fix: a bad path, option, file or missing resource.

    The message names the file or option and what to do; the CLI prints it without a traceback.
    """
