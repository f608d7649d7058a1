"""Shared test setup: Qt runs offscreen, and no test may leave a thread running (napari's _dangling_qthreads)."""

from __future__ import annotations

import os
import sys
import tempfile
import threading

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before any Qt import: tests never need a display
# Which model files "this user" chose to run (engine/trust.py) lives in a folder of the test run, never in the
# developer's own data folder; subprocesses inherit it.
os.environ.setdefault("GAN_PRUNE_TRUST_DIR", tempfile.mkdtemp(prefix="gan-prune-trust-"))


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Tests run tiny models: on a busy 2-core machine torch's pool spin-waits, and one thread ran them up to ~100x
    faster (measured). Restored after each test."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _python_threads() -> set[threading.Thread]:
    # _DummyThread: a foreign thread (a QThread) that ran Python code; those are checked through Qt below.
    return {t for t in threading.enumerate() if t.is_alive() and not isinstance(t, threading._DummyThread)}


@pytest.fixture(autouse=True)
def _no_dangling_threads(request):
    """Fail a test that leaves a QThread or a threading.Thread running. Qt is only looked at when the test run
    already imported it, so engine tests stay Qt-free."""
    before = _python_threads()
    qtcore = sys.modules.get("PySide6.QtCore")
    started: list = []
    original_start = None
    if qtcore is not None:
        original_start = qtcore.QThread.start

        def tracking_start(self, *args, **kwargs):
            started.append(self)
            return original_start(self, *args, **kwargs)

        qtcore.QThread.start = tracking_start
    try:
        yield
    finally:
        if qtcore is not None:
            qtcore.QThread.start = original_start
    leaked_qt = []
    for t in started:
        try:
            if t.isRunning():
                leaked_qt.append(t.objectName() or repr(t))
        except RuntimeError:  # already deleted by Qt: it had finished
            pass
    leaked_py = [t.name for t in _python_threads() - before]
    if leaked_qt or leaked_py:
        pytest.fail(f"{request.node.nodeid} left threads running: QThreads {leaked_qt}, Python threads {leaked_py}",
                    pytrace=False)


@pytest.fixture(scope="session")
def conditional_export(tmp_path_factory):
    """A workspace with a narrow conditional DCGAN exported as fp32 and int8 ONNX, made once per session
    (tests/conditional_workspace.py)."""
    from tests.conditional_workspace import exported_conditional

    return exported_conditional(tmp_path_factory.mktemp("conditional") / "ws")
