"""Checks of one network's spec (the JSON a checkpoint stores): every field a hand edit could break, named.

Each arch registers a check built from these helpers, so a spec with a negative width, a missing key or a string
where a number belongs is refused with one sentence before any layer is built.
"""

from __future__ import annotations

from typing import Any

from engine.errors import ConfigError

MAX_WIDTH = 16384  # far above any GAN this app trains; stops a typo from allocating terabytes
MAX_LATENT = 4096
MAX_SIDE = 1024


class SpecError(ConfigError):
    """A spec field that does not fit; the message names it as `where.key`."""


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def field(spec: dict, key: str, where: str) -> Any:
    if key not in spec:
        raise SpecError(f"{where} has no '{key}'")
    return spec[key]


def need_int(spec: dict, key: str, where: str, lo: int, hi: int) -> int:
    v = field(spec, key, where)
    if not _is_int(v) or not lo <= v <= hi:
        raise SpecError(f"{where}.{key} must be a whole number between {lo} and {hi} (got {v!r})")
    return v


def need_int_list(spec: dict, key: str, where: str, lo: int = 1, hi: int = MAX_WIDTH,
                  length: int | None = None) -> list[int]:
    v = field(spec, key, where)
    words = f"a list of {length if length is not None else ''} whole numbers between {lo} and {hi}".replace("  ", " ")
    if not isinstance(v, (list, tuple)) or (length is not None and len(v) != length):
        raise SpecError(f"{where}.{key} must be {words} (got {v!r})")
    for i, x in enumerate(v):
        if not _is_int(x) or not lo <= x <= hi:
            raise SpecError(f"{where}.{key}[{i}] must be a whole number between {lo} and {hi} (got {x!r})")
    return list(v)


def need_image_shape(spec: dict, where: str) -> tuple[int, int, int]:
    c, h, w = need_int_list(spec, "image_shape", where, 1, MAX_SIDE, length=3)
    if c not in (1, 3):
        raise SpecError(f"{where}.image_shape must start with 1 (gray) or 3 (RGB) channels (got {c})")
    return c, h, w


def need_number(spec: dict, key: str, where: str, lo: float, below: float) -> float:
    v = field(spec, key, where)
    if not (_is_int(v) or isinstance(v, float)) or not lo <= v < below:
        raise SpecError(f"{where}.{key} must be a number from {lo:g} to below {below:g} (got {v!r})")
    return v


def conv_plan(image_shape: tuple[int, int, int], where: str) -> int:
    """The number of 2x upsamplings a conv model needs for this image shape (refusing sizes it cannot make)."""
    from engine.models.dcgan import size_plan

    try:
        return size_plan(image_shape)[1]
    except ConfigError as e:
        raise SpecError(f"{where}.image_shape {list(image_shape)} does not fit: {str(e).rstrip('.')}") from None
