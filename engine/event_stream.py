"""Stage events as JSON lines and back: how rank 0 of a multi-process run tells the studio what happens.

One object per line: {"type": "Progress"|"Metrics"|"Samples"|"Artifact"|"Log", ...the event's fields}; a sample
grid travels as base64 of its raw uint8 pixels with its shape.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from typing import IO

import numpy as np

from engine.events import Artifact, Event, Log, Metrics, Progress, Samples

_TYPES = {cls.__name__: cls for cls in (Progress, Metrics, Samples, Artifact, Log)}


def to_json(event: Event) -> str:
    fields = {f.name: getattr(event, f.name) for f in dataclasses.fields(event)}
    if isinstance(event, Samples):
        image = np.ascontiguousarray(event.image, dtype=np.uint8)
        fields["image"] = {"shape": list(image.shape), "data": base64.b64encode(image.tobytes()).decode("ascii")}
    return json.dumps({"type": type(event).__name__, **fields}, allow_nan=True)


def from_json(line: str) -> Event | None:
    """The event of one line, or None for a line that is not one (other output on the same stream)."""
    try:
        raw = json.loads(line)
        cls = _TYPES[raw.pop("type")]
        if cls is Samples:
            img = raw["image"]
            raw["image"] = np.frombuffer(base64.b64decode(img["data"]), dtype=np.uint8).reshape(img["shape"])
        return cls(**raw)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class JsonLinesSink:
    """Writes each event as one flushed line (the reader acts on progress as it happens)."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def __call__(self, event: Event) -> None:
        self.stream.write(to_json(event) + "\n")
        self.stream.flush()
