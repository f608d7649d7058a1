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


# errno values that mean "this place cannot take the file", each with the reason in a person's words.
_WRITE_ERRNOS = {"EROFS": "read-only file system", "ENOSPC": "disk full", "EDQUOT": "disk quota exceeded",
                 "EACCES": "permission denied", "EPERM": "operation not permitted"}


class CannotWrite(UserError):
    """A file could not be written: a read-only folder, a full disk, no permission."""

    def __init__(self, path: object, reason: str, errno: int | None = None) -> None:
        super().__init__(f"cannot write {path} ({reason}); free some space or choose a writable folder.")
        self.path, self.reason, self.errno = path, reason, errno


def cannot_write(exc: BaseException, path: object | None = None) -> CannotWrite | None:
    """The CannotWrite for an OSError whose errno says the disk or folder refused a write; None for any other."""
    import errno as errno_names

    if not isinstance(exc, OSError) or exc.errno is None:
        return None
    name = errno_names.errorcode.get(exc.errno, "")
    if name not in _WRITE_ERRNOS:
        return None
    return CannotWrite(path or exc.filename or "the file", _WRITE_ERRNOS[name], exc.errno)
