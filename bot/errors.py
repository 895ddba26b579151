"""Errors people see as one clear line instead of a traceback."""


class UserError(Exception):
    """Bad input or a refused request; the message is shown as it is."""
