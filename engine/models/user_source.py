"""A person's own model file: read it, hash it, import it and build one of its classes — with every failure one
sentence that names the file.

Importing a .py file RUNS its code. That happens only for files a person named with `gan-prune import` (or the
studio's "Import a generator…"), and a rebuild re-imports the file only while its SHA-256 still equals the one
recorded then: an edited file is refused, never silently used with weights made for the old one.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch.nn as nn

from engine import user_code
from engine.errors import ConfigError
from engine.workspace import regular_file as _regular_file
from engine.workspace import resolved

# (path, sha256) -> the imported module: one import per file version per process (class identity stays stable,
# and a rebuild for every checkpoint read does not run the file's top level again).
_MODULES: dict[tuple[str, str], Any] = {}
_GUARD = threading.Lock()


class UserModelError(ConfigError):
    """The user's file, class, constructor or weights do not give a usable model; the message names the file."""


class UserCodeStopped(UserModelError):
    """The model's own code tried to end the program or recursed without end (SystemExit, a KeyboardInterrupt no
    signal caused, another BaseException, RecursionError): never retried as "another input layout might work"."""


class EngineSignal(Exception):  # noqa: N818 - a signal, not an error
    """Raised by the engine's own hook inside a person's forward (e.g. to stop it after the layer it needs): the
    guard lets it through unchanged, since it is not the model's doing."""


@contextlib.contextmanager
def guarded(what: str, hint: str = "", failed: str = "failed", plain: bool = False) -> Iterator[None]:
    """Run a piece of a person's model code (`what`: 'Net.forward in /path/g.py'); whatever it raises becomes ONE
    UserModelError sentence naming it, never a traceback nor an exit 0 with nothing done. A real Ctrl-C or SIGTERM
    (engine.user_code saw the signal) passes through as the stop it is. `plain`: an ordinary Exception passes
    through unchanged (a probe words it itself); only what would stop the program is turned into a sentence."""
    signals = user_code.stop_signals()
    user_code.enter()
    try:
        yield
    except (UserModelError, EngineSignal):
        raise  # a guard further in already said it; or the engine's own hook stopped the forward
    except KeyboardInterrupt as e:
        if user_code.stop_signals() != signals:
            raise
        raise UserCodeStopped(f"{what} {failed}: it raised {one_line(e)} itself (no Ctrl-C was pressed); a model "
                              "must not stop the program: fix that code.") from None
    except RecursionError as e:
        raise UserCodeStopped(f"{what} {failed}: it recursed without end ({one_line(e)}); fix that code.") from None
    except Exception as e:
        if plain:
            raise
        where = f" (line {e.lineno})" if isinstance(e, SyntaxError) and e.lineno else ""
        raise UserModelError(f"{what} {failed}{where}: {one_line(e)}{hint}") from None
    except BaseException as e:  # SystemExit, GeneratorExit, a class of its own: it would end the command silently
        raise UserCodeStopped(f"{what} {failed}: it raised {one_line(e)}, which would end the program with nothing "
                              "done; a model must not exit: fix that code.") from None
    finally:
        user_code.leave()


def call_forward(net: nn.Module, *args: Any, plain: bool = False) -> Any:
    """net(*args) with the person's forward guarded (see `guarded`)."""
    with guarded(describe(net, "forward"), plain=plain):
        return net(*args)


def describe(net: nn.Module, method: str) -> str:
    cls = type(net)
    module = sys.modules.get(cls.__module__)
    where = getattr(module, "__file__", None)
    return f"{cls.__name__}.{method}" + (f" in {where}" if where else "")


def regular_file(path: Path, what: str) -> Path:
    """`path` when it is a regular file, else one UserModelError sentence (engine.workspace.regular_file)."""
    return _regular_file(path, what, UserModelError)


def one_line(e: BaseException) -> str:
    """The exception as the person's own code raised it, on one line: 'NameError: name 'x' is not defined'."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}"[:200] if text else type(e).__name__


def file_sha256(path: str | Path) -> str:
    path = Path(path)
    if path.suffix != ".py":  # the suffix first: no read of a device or a large file that is not a model file
        raise UserModelError(f"The model file {path} is not a .py file; give the Python file that defines the class.")
    if path.exists() and not path.is_dir():
        regular_file(path, "model file")
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        raise UserModelError(f"The model file {path} does not exist; check the path.") from None
    except IsADirectoryError:
        raise UserModelError(f"The model path {path} is a folder; give the .py file that defines the class.") from None
    except OSError as e:
        raise UserModelError(f"Cannot read the model file {path} ({e.strerror}); check its permissions.") from None


def class_names(path: str | Path) -> list[str]:
    """The classes a file defines, read from its syntax tree WITHOUT running it (for the studio's class list);
    an unreadable or broken file gives none (the import itself names the problem)."""
    import ast

    try:
        tree = ast.parse(Path(path).read_bytes())
    except (OSError, SyntaxError, ValueError):
        return []
    return [node.name for node in tree.body if isinstance(node, ast.ClassDef)]


def load_module(path: str | Path, sha256: str | None = None):
    """Import the file as a module of its own name (one no other import can clash with), its folder on the path.

    sha256: the hash recorded when the file was imported; a file that changed since is refused."""
    path = resolved(path, "model file")
    digest = file_sha256(path)
    if sha256 is not None and digest != sha256:
        raise UserModelError(f"The model file {path} changed since it was imported (SHA-256 {digest[:12]}… is not "
                             f"the recorded {str(sha256)[:12]}…); restore it or import it again.")
    key = (str(path), digest)
    with _GUARD:
        if key in _MODULES:
            return _MODULES[key]
        name = f"gan_user_model_{digest[:16]}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look a class's module up here
        # Its own folder first on the path while it runs, as when its author runs it: `from layers import Block`
        # next to the file works (those helpers are not hashed; the file that imports them is).
        sys.path.insert(0, str(path.parent))
        try:
            with guarded(f"The model file {path}", failed="failed to import"):
                spec.loader.exec_module(module)
        except BaseException:
            sys.modules.pop(name, None)
            raise
        finally:
            if str(path.parent) in sys.path:
                sys.path.remove(str(path.parent))
        _MODULES[key] = module
        return module


def build_class(path: str | Path, class_name: str, args: dict, sha256: str | None = None) -> nn.Module:
    """An instance of `class_name` from the file, made with keyword arguments `args`."""
    module = load_module(path, sha256)
    path = resolved(path, "model file")
    cls = getattr(module, class_name, None)
    if cls is None:
        found = sorted(n for n, v in vars(module).items()
                       if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == module.__name__)
        listed = f"; its nn.Module classes: {', '.join(found)}" if found else "; it defines no nn.Module class"
        raise UserModelError(f"The model file {path} has no class {class_name!r}{listed}.")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise UserModelError(f"{class_name} in {path} is not an nn.Module class; name the model's class.")
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    with guarded(f"{class_name}({shown}) from {path}", "; check --args"):
        model = cls(**args)
    if not isinstance(model, nn.Module):
        raise UserModelError(f"{class_name}(...) from {path} did not make an nn.Module.")
    return model
