"""Build the frozen apps with PyInstaller, smoke-test them as a user would run them, and pack Linux archives.

    python packaging/build.py --sampler   # torch-free gan-sample (CI runs this: < 2 min on 2 cores)
    python packaging/build.py --studio    # gan-prune-studio (~5 GB with the CUDA build of torch)
    python packaging/build.py --all       # both (make package)

Bundles go to dist/<name>/, archives to dist/<name>-<version>-<os>-<machine>.tar.gz. Exit 0 only if every
build and every smoke check passed; a failed check prints one FAIL line with what was expected.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from smoke import demo_onnx, smoke_sampler, smoke_studio  # noqa: E402

APPS = {
    "sampler": {"spec": "sampler.spec", "name": "gan-sample", "limit_mb": 150, "gzip": 6},
    # gzip level 1: the studio is ~5 GB of mostly incompressible libraries; level 6 costs minutes for ~2 % smaller.
    "studio": {"spec": "studio.spec", "name": "gan-prune-studio", "limit_mb": None, "gzip": 1},
}


def version() -> str:
    from engine import __version__

    return __version__


def exe_path(name: str) -> Path:
    return DIST / name / (name + (".exe" if sys.platform == "win32" else ""))


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def make_icons() -> None:
    """build/icons/studio.ico (Windows) and studio.icns (macOS) from resources/icons/studio.png; the spec uses them."""
    from PIL import Image

    out = ROOT / "build" / "icons"
    out.mkdir(parents=True, exist_ok=True)
    with Image.open(ROOT / "resources" / "icons" / "studio.png") as im:
        im = im.convert("RGBA")
        im.save(out / "studio.ico", sizes=[(16, 16), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)])
        if sys.platform == "darwin":
            im.save(out / "studio.icns")


def start_pyinstaller(spec: str, log: Path) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
           "--distpath", str(DIST), "--workpath", str(WORK), str(HERE / spec)]
    print(f"building {spec} (log: {log.relative_to(ROOT)})", flush=True)
    return subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)


def finish_pyinstaller(proc: subprocess.Popen, log: Path) -> bool:
    if proc.wait() != 0:
        tail = log.read_text(errors="replace").splitlines()[-25:]
        print("\n".join(tail))
        print(f"FAIL PyInstaller exited {proc.returncode}; full log in {log}")
        return False
    return True


def pack_linux(app: dict) -> Path:
    """dist/NAME-VERSION-linux-MACHINE.tar.gz: the bundle folder plus a .desktop file, an icon and an installer."""
    name = app["name"]
    out = DIST / f"{name}-{version()}-{platform.system().lower()}-{platform.machine()}.tar.gz"
    extras = {
        f"{name}.desktop": HERE / "linux" / f"{name}.desktop",
        f"{name}.png": ROOT / "resources" / "icons" / "studio.png",
        "install-desktop-entry.sh": HERE / "linux" / "install-desktop-entry.sh",
    }
    tmp = out.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz", compresslevel=app["gzip"]) as tar:
        tar.add(DIST / name, arcname=name)
        for arcname, src in extras.items():
            tar.add(src, arcname=f"{name}/{arcname}")
    tmp.replace(out)  # never leave a half-written archive under the final name
    return out


def build_one(key: str, smoke_only: bool, pack: bool) -> bool:
    app = APPS[key]
    name = app["name"]
    log = WORK / f"{name}.log"
    t0 = time.perf_counter()
    ok, onnx = True, None
    if not smoke_only:
        shutil.rmtree(DIST / name, ignore_errors=True)
        if key == "studio":
            make_icons()
        proc = start_pyinstaller(app["spec"], log)
        if key == "sampler":  # export the test model with the source engine while PyInstaller works
            onnx = demo_onnx(WORK / "smoke-model")
        ok = finish_pyinstaller(proc, log)
    build_s = time.perf_counter() - t0
    if ok and not exe_path(name).exists():
        print(f"FAIL no program at {exe_path(name)} after the build")
        ok = False
    if not ok:
        return False
    size_mb = folder_bytes(DIST / name) / 1e6
    built = "found" if smoke_only else f"built in {build_s:.0f} s"
    print(f"dist/{name}/ {built}: {size_mb:,.0f} MB", flush=True)
    if app["limit_mb"] and size_mb > app["limit_mb"]:
        print(f"FAIL dist/{name}/ is {size_mb:.0f} MB, over the {app['limit_mb']} MB limit; "
              "check the spec's EXCLUDES against the build log")
        ok = False
    t1 = time.perf_counter()
    if key == "sampler":
        passed = smoke_sampler(exe_path(name), onnx or demo_onnx(WORK / "smoke-model"))
    else:
        passed = smoke_studio(exe_path(name))
    ok = passed and ok
    print(f"smoke test of {name}: {'passed' if passed else 'FAILED'} in {time.perf_counter() - t1:.0f} s", flush=True)
    if ok and pack and sys.platform.startswith("linux"):
        t2 = time.perf_counter()
        archive = pack_linux(app)
        print(f"packed {archive.relative_to(ROOT)}: {archive.stat().st_size / 1e6:,.0f} MB "
              f"in {time.perf_counter() - t2:.0f} s", flush=True)
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--sampler", action="store_true", help="the torch-free gan-sample bundle")
    which.add_argument("--studio", action="store_true", help="the gan-prune-studio bundle")
    which.add_argument("--all", action="store_true", help="both bundles")
    p.add_argument("--smoke-only", action="store_true", help="skip the build; smoke-test the bundles in dist/")
    p.add_argument("--no-pack", action="store_true", help="skip the .tar.gz archives")
    args = p.parse_args(argv)
    keys = ["sampler", "studio"] if args.all else ["sampler"] if args.sampler else ["studio"]
    t0 = time.perf_counter()
    results = {k: build_one(k, args.smoke_only, not args.no_pack) for k in keys}
    for k, ok in results.items():
        print(f"{'ok  ' if ok else 'FAIL'} {APPS[k]['name']}")
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0 if all(results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
