"""Command-line flags generated from a stage's config dataclass: a new option is one field.

Each field becomes `--field-name` with the field's type, default, and the choices and help from its `setting(...)`
metadata (engine/config.py). A bool that defaults to False is a switch (`--resume`); one that defaults to True is
turned off with `--no-field-name`. Lists take one or more values. `Flag(...)` adjusts what a field cannot say itself
(a metavar, a second spelling, a parser for "64,32").
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Flag:
    """How one field appears on the command line, where its declaration is not enough."""

    name: str | None = None  # the flag's name when it is not --field-name (e.g. --precision for precisions)
    names: tuple[str, ...] = ()  # other spellings, e.g. ("--feature-distill",)
    metavar: str | None = None
    help: str | None = None  # instead of the field's help
    type: Callable[[str], Any] | None = None  # parses the whole value (then no nargs)
    convert: Callable[[Any], Any] | None = None  # turns the parsed value into the field's (after parsing, so a
    # refusal is a ConfigError: one line, exit 2)
    required: bool = False
    choices: tuple | None = None  # instead of the field's choices (None: the field's)
    extra: dict[str, Any] = field(default_factory=dict)  # more argparse keywords


def _unwrap(hint: Any) -> tuple[Any, bool]:
    """(the type without `| None`, whether None is allowed)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else str), True
    return hint, False


def flag_fields(cls: type, hidden: Iterable[str] = ()) -> tuple[str, ...]:
    """Every field of a config class that is a flag, in the class's order: a new field is a new flag."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.name not in set(hidden))


def flag_name(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_flags(parser, cls: type, names: Iterable[str], flags: dict[str, Flag] | None = None,
                     overrides_only: bool = False) -> None:
    """Add a flag for each named field of `cls`, in the order given.

    `overrides_only`: every default is None (a flag left out keeps the value it would have had, e.g. from the
    workspace's config when resuming); bool switches still default to False."""
    hints = typing.get_type_hints(cls)
    by_name = {f.name: f for f in dataclasses.fields(cls)}
    for name in names:
        f, spec = by_name[name], (flags or {}).get(name, Flag())
        kind, _ = _unwrap(hints[name])
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        meta = f.metadata
        kwargs: dict[str, Any] = {"dest": name, **spec.extra}
        text = (spec.help if spec.help is not None else meta.get("help", "")).replace("%", "%%")  # argparse formats
        flag = spec.name or meta.get("flag") or flag_name(name)
        if kind is bool:
            if default is True and not overrides_only:
                parser.add_argument(flag_name("no_" + name), *spec.names, action="store_false", help=text or None,
                                    **kwargs)
            elif default is True:  # --no-amp with an unset default: None means "as before"
                parser.add_argument(flag_name("no_" + name), *spec.names, action="store_const", const=False,
                                    default=None, help=text or None, **kwargs)
            else:
                parser.add_argument(flag, *spec.names, action="store_true", help=text or None, **kwargs)
            continue
        if typing.get_origin(kind) is tuple and spec.type is None:
            kwargs["nargs"] = "+"
            kind = typing.get_args(kind)[0]
            default = list(default) if isinstance(default, tuple) else default
        kwargs["type"] = spec.type or (kind if kind in (int, float) else None)
        choices = spec.choices if spec.choices is not None else meta.get("choices")
        if choices:
            kwargs["choices"] = list(choices)
        if spec.metavar or meta.get("metavar"):
            kwargs["metavar"] = spec.metavar or meta["metavar"]
        if spec.required:
            kwargs["required"] = True
        else:
            kwargs["default"] = None if overrides_only else default
            if default is not None and not overrides_only and "default" not in text:
                shown = " ".join(map(str, default)) if isinstance(default, list | tuple) else default
                text = f"{text} (default {shown})".strip()
        parser.add_argument(flag, *spec.names, help=text or None, **kwargs)


def _values(args, names: Iterable[str], flags: dict[str, Flag] | None) -> dict[str, Any]:
    out = {}
    for n in names:
        v = getattr(args, n)
        convert = (flags or {}).get(n, Flag()).convert
        if convert is not None and v is not None:
            v = convert(v)
        out[n] = tuple(v) if isinstance(v, list) else v
    return out


def config_from_args(cls: type, args, names: Iterable[str], flags: dict[str, Flag] | None = None, **fixed: Any):
    """The config dataclass from parsed flags (lists as tuples); `fixed` sets fields with no flag of their own."""
    return cls(**_values(args, names, flags), **fixed)


def overrides(args, names: Iterable[str], flags: dict[str, Flag] | None = None) -> dict[str, Any]:
    """The flags given (not None), for dataclasses.replace over a base config."""
    return {n: v for n, v in _values(args, names, flags).items() if v is not None}
