"""Errors a person can act on: each carries one human sentence naming the value and what to do."""


class UserError(Exception):
    """Bad input. The CLI prints the message on one line and exits 2; the GUI shows it in a dialog."""


class ConfigError(UserError):
    """A setting is out of range or unknown."""


class DataError(UserError):
    """A data set cannot be found, read or downloaded."""


class WorkspaceError(UserError):
    """A workspace folder, manifest or checkpoint is missing, corrupt or of another kind."""


class TrainingDiverged(UserError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""
