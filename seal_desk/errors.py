"""User-facing errors: each one renders as a single clear line (exit code 2)."""


class SealDeskError(Exception):
    """An error caused by input or environment, shown to the user as one line."""

    exit_code = 2


class InputError(SealDeskError):
    """A file, document, question set or argument the user gave is unusable."""


class ModelError(SealDeskError):
    """A model cannot be resolved, converted, loaded or does not fit."""


class Cancelled(SealDeskError):
    """The user cancelled a running job; nothing partial was kept."""

    exit_code = 130


class ClusterError(SealDeskError):
    """The Ray cluster (`--ray`) cannot be reached, cannot place a worker, or keeps losing them."""
