"""Where the process stands with a person's own model code (an imported model's file): inside it or not, and whether
a stop signal (Ctrl-C, SIGTERM) really arrived. Torch-free, so the command line's signal handler can ask.

Why: user code never checks the stage's cancel flag, so a stop that waits for "the end of this step" waits forever
when the code hangs; while nothing is written yet it can stop at once. And a KeyboardInterrupt that no signal caused
was raised by the model's own code: that is its error, not the user's Ctrl-C.
"""

from __future__ import annotations

import threading

_state = threading.local()
_stop_signals = 0


def depth() -> int:
    return getattr(_state, "depth", 0)


def enter() -> None:
    _state.depth = depth() + 1


def leave() -> None:
    _state.depth = max(0, depth() - 1)


def inside() -> bool:
    """True while this thread runs code from a person's model file (its import, constructor or forward)."""
    return depth() > 0


def note_stop_signal() -> None:
    """Called by the signal handlers: a KeyboardInterrupt from now on is the person's stop, not the code's error."""
    global _stop_signals
    _stop_signals += 1


def stop_signals() -> int:
    return _stop_signals
