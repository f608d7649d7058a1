"""The command line answers at once: --help and commands refused on their flags load no torch (torch alone takes
about a second to import on these machines, paid by every refused command and every hostile-suite subprocess)."""

import json
import subprocess
import sys

# Each is refused on its flags or its folder before any stage runs.
REFUSED = [
    ["--help"],
    ["prune", "--help"],
    ["compress", "--help"],
    ["finetune", "--help"],
    ["evaluate", "--help"],
    ["export", "--help"],
    ["train", "--help"],
    ["prune", "--workspace", "{tmp}/none", "--method", "nope", "--amount", "0.5"],
    ["prune", "--workspace", "{tmp}/none", "--method", "channel-l1", "--amount", "2"],
    ["compress", "--workspace", "{tmp}/none", "--max-fid-rise", "0.1"],
    ["finetune", "--workspace", "{tmp}/none", "--steps", "2"],
    ["train", "--workspace", "{tmp}/w", "--dataset", "nope", "--arch", "dcgan", "--steps", "1"],
    ["train", "--workspace", "{tmp}/w", "--arch", "nope", "--steps", "1"],
    ["train", "--workspace", "{tmp}/w", "--task", "superres", "--arch", "dcgan", "--steps", "1"],
    ["train", "--workspace", "{tmp}/w", "--task", "conditional", "--arch", "mlp", "--steps", "1"],
    ["evaluate", "--workspace", "{tmp}/none", "--samples", "0"],
    ["export", "--workspace", "{tmp}/none", "--precision", "int3"],
]

PROBE = """
import contextlib, io, json, sys
from engine.cli import main
for argv in json.loads(sys.argv[1]):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            code = main(argv)
        except SystemExit as e:
            code = e.code
    print(json.dumps([argv, code, "torch" in sys.modules, "numpy" in sys.modules]))
"""


def test_refused_or_help_loads_no_torch(tmp_path):
    """All in one process (one interpreter start), in order: the first command that loads torch is named."""
    commands = [[a.replace("{tmp}", str(tmp_path)) for a in argv] for argv in REFUSED]
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(commands)], capture_output=True, text=True,
                         timeout=120)
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(rows) == len(commands), out.stderr[-2000:]
    for argv, code, torch_loaded, numpy_loaded in rows:
        assert code in (0, 2), f"gan-prune {' '.join(argv)} ended with {code}"
        assert not torch_loaded, f"gan-prune {' '.join(argv)} imported torch before refusing"
        if argv[-1] == "--help":  # numpy alone costs 0.1-0.3 s here; help needs none of it
            assert not numpy_loaded, f"gan-prune {' '.join(argv)} imported numpy"
