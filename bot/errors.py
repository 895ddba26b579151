"""Errors people see as one clear line instead of a traceback."""


class UserError(Exception):
    """Bad input or a refused request at the command line; the message is shown as it is."""


class DomainError(Exception):
    """A request the coaching domain refuses; the message is one line a person can act on."""


class NotFound(DomainError):
    """Nobody, no team or no pack goes by the name given."""


class Ambiguous(DomainError):
    """A name matches several records; the message lists them."""


class Invalid(DomainError):
    """A value or a change the domain's rules refuse."""
