"""The suite's guard works: a test that leaves a QThread or a Python thread running fails."""

import shutil
import subprocess
import sys
from pathlib import Path

LEAKY_TESTS = '''
import threading
from PySide6.QtCore import QThread

stop = threading.Event()
leaked = []


class Waiter(QThread):
    def run(self):
        stop.wait(30)


def test_leaks_a_qthread():
    t = Waiter()
    leaked.append(t)
    t.start()


def test_leaks_a_python_thread():
    threading.Thread(target=stop.wait, args=(30,), daemon=True).start()


def test_clean():
    stop.set()
    for t in leaked:
        t.wait()
'''


def test_a_leaked_thread_fails_the_test(tmp_path):
    shutil.copy(Path(__file__).resolve().parent.parent / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_leaky.py").write_text(LEAKY_TESTS)
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
                           str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    out = done.stdout + done.stderr
    assert "test_leaks_a_qthread" in out and "left threads running: QThreads ['" in out, out
    assert "Python threads ['Thread-" in out, out
    assert "2 errors" in out and "3 passed" in out, out
