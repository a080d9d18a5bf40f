"""Errors the backend raises on purpose; each message names the problem for the user."""


class AllSparkError(Exception):
    """Base class: an error a user can act on (the CLI prints it and exits non-zero)."""

    exit_code = 1


class InputError(AllSparkError):
    """The input data does not fit: wrong band count, empty, all nodata, NaN, unreadable file."""

    exit_code = 2


class BundleError(AllSparkError):
    """A model bundle is missing, corrupt, partial, or was trained against another LLM."""

    exit_code = 3


class LLMError(AllSparkError):
    """The LLM file cannot be found, verified or loaded."""

    exit_code = 4


class ProtocolError(AllSparkError):
    """A wire message is malformed, unsigned, mis-signed, oversized or of another protocol version."""

    exit_code = 5


class Cancelled(AllSparkError):
    """A job was cancelled by the user."""

    exit_code = 6
