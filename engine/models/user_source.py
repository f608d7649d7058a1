"""A person's own model file: read it, hash it, import it and build one of its classes — with every failure one
sentence that names the file.

Importing a .py file RUNS its code. That happens only for files a person named with `gan-prune import` (or the
studio's "Import a generator…"), and a rebuild re-imports the file only while its SHA-256 still equals the one
recorded then: an edited file is refused, never silently used with weights made for the old one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import threading
from pathlib import Path
from typing import Any

import torch.nn as nn

from engine.errors import ConfigError

# (path, sha256) -> the imported module: one import per file version per process (class identity stays stable,
# and a rebuild for every checkpoint read does not run the file's top level again).
_MODULES: dict[tuple[str, str], Any] = {}
_GUARD = threading.Lock()


class UserModelError(ConfigError):
    """The user's file, class, constructor or weights do not give a usable model; the message names the file."""


def one_line(e: BaseException) -> str:
    """The exception as the person's own code raised it, on one line: 'NameError: name 'x' is not defined'."""
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}"[:200] if text else type(e).__name__


def file_sha256(path: str | Path) -> str:
    path = Path(path)
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
    path = Path(path).expanduser().resolve()
    if path.suffix != ".py":
        raise UserModelError(f"The model file {path} is not a .py file; give the Python file that defines the class.")
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
            spec.loader.exec_module(module)
        except BaseException as e:  # its own error, whatever it is (SyntaxError, ImportError, SystemExit...)
            sys.modules.pop(name, None)
            if isinstance(e, KeyboardInterrupt):
                raise
            where = f" (line {e.lineno})" if isinstance(e, SyntaxError) and e.lineno else ""
            raise UserModelError(f"The model file {path} failed to import{where}: {one_line(e)}") from None
        finally:
            if str(path.parent) in sys.path:
                sys.path.remove(str(path.parent))
        _MODULES[key] = module
        return module


def build_class(path: str | Path, class_name: str, args: dict, sha256: str | None = None) -> nn.Module:
    """An instance of `class_name` from the file, made with keyword arguments `args`."""
    module = load_module(path, sha256)
    path = Path(path).expanduser().resolve()
    cls = getattr(module, class_name, None)
    if cls is None:
        found = sorted(n for n, v in vars(module).items()
                       if isinstance(v, type) and issubclass(v, nn.Module) and v.__module__ == module.__name__)
        listed = f"; its nn.Module classes: {', '.join(found)}" if found else "; it defines no nn.Module class"
        raise UserModelError(f"The model file {path} has no class {class_name!r}{listed}.")
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise UserModelError(f"{class_name} in {path} is not an nn.Module class; name the model's class.")
    try:
        model = cls(**args)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
        raise UserModelError(f"{class_name}({shown}) from {path} failed: {one_line(e)}; check --args.") from None
    if not isinstance(model, nn.Module):
        raise UserModelError(f"{class_name}(...) from {path} did not make an nn.Module.")
    return model
