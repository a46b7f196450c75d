"""User-facing errors: the CLI prints these as one line and exits non-zero, never a traceback."""


class WildferError(Exception):
    """A problem with the user's input, files or configuration (not a bug in wildfer)."""


class DataError(WildferError):
    """A data file is missing, unreadable or malformed; the message names the file (and line)."""


class ConfigError(WildferError):
    """A configuration value is unknown, of the wrong type or out of range."""


class CheckpointError(WildferError):
    """A weights file is not a safetensors checkpoint, or does not fit the model it is loaded into."""


class DecodeWarning(UserWarning):
    """A video decoded fewer frames than it announces (a cut download): what ``predict`` warns
    about on stderr, the Python API warns with ``warnings.warn``; the message names the file."""
