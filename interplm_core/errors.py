"""Errors a user can act on.

Every exception the core raises on purpose derives from `InterPLMError`; its message is
written for the person at the keyboard (what went wrong, and what to do), so the app and
the CLI can show `str(err)` as it is, with no traceback.
"""


class InterPLMError(Exception):
    """Base class: the message is meant to be shown to the user verbatim."""


class InputError(InterPLMError, ValueError):
    """The user's input (sequence, accession, file, option) is not usable."""


class NotFoundError(InterPLMError, LookupError):
    """The thing asked for does not exist at the source (unknown accession, no model)."""


class NetworkError(InterPLMError, ConnectionError):
    """A remote service could not be reached or kept failing after retries."""


class OfflineError(InterPLMError):
    """Offline mode is on and the answer is not in the local cache."""


class OutputError(InterPLMError):
    """An output file could not be written (a full disk, no permission)."""


class WeightsUnavailableError(InterPLMError):
    """Model weights are neither on disk nor downloadable; says what to fetch and where."""


#: Appended to messages about missing weights or an unreachable service: the way to work without either.
OFFLINE_WAYS = (
    "No internet here? `python -m interplm_core demo` runs the whole app offline, and "
    "`python -m interplm_core weights synthetic --out DIR` writes stand-in weights "
    "(then INTERPLM_WEIGHTS_DIR=DIR; their features mean nothing biologically)"
)
