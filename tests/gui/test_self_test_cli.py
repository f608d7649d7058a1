"""`python -m desktop_app --self-test` trains (and prunes, exports, samples) through the real window, offscreen."""

import os
import subprocess
import sys


def test_self_test_exits_zero(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "GAN_STUDIO_LOG_DIR": str(tmp_path / "logs")}
    env.pop("DISPLAY", None)
    done = subprocess.run([sys.executable, "-m", "desktop_app", "--self-test"], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "self-test passed" in done.stdout
    assert "ok   train" in done.stdout
    assert (tmp_path / "logs" / "studio.log").exists()
