"""The installers' own extraction, as an oracle for airlock's archive readers.

Reads a JSON list of cases ({"id", "path", "kind"}) on stdin and prints, for each case and each
extractor that installs that kind, what the extractor wrote: {"status": "ok", "files": {path:
sha256 | "symlink-to-dir" | "dangling:TARGET"}} with paths relative to the extraction directory (an
escape shows as "../..."), or {"status": "refused", "error": ...}.

Extractors:
  sdist: pip's own unpack_file (what `pip install`/`pip download` of an sdist runs), tarfile with
         the "data" filter, tarfile with no filter (older Pythons, and what pip did before
         PEP 706), zipfile.extractall for zip sdists.
  wheel: pip's wheel installer's reading (every infolist() name, content through
         zipfile.getinfo(name), as pip's ZipBackedFile does), and zipfile.extractall.

Each extraction runs in a forked child inside its own sandbox directory; as root the child
chroots into it first, so absolute paths and escapes land in the sandbox, never on the machine.
Without root the unfiltered extractor is skipped (it could write anywhere).
"""

import hashlib
import json
import os
import shutil
import signal
import sys
import tarfile
import tempfile
import zipfile

# Imported before any chroot: nothing may need the real filesystem afterwards.
import bz2  # noqa: F401
import encodings.cp437  # noqa: F401
import gzip  # noqa: F401
import lzma  # noqa: F401
import zlib  # noqa: F401

from pip._internal.utils.unpacking import unpack_file

ROOT = os.geteuid() == 0
DEST = "/w/x/y/z/dest"


def pip_unpack(archive, dest):
    unpack_file(archive, dest, None)


def tar_data(archive, dest):
    with tarfile.open(archive) as t:
        t.extractall(dest, filter="data")


def tar_trusted(archive, dest):
    with tarfile.open(archive) as t:
        t.extractall(dest, filter="fully_trusted")


def zip_extractall(archive, dest):
    with zipfile.ZipFile(archive) as z:
        z.extractall(dest)


def pip_wheel(archive, dest):
    # pip's _install_wheel: every non-directory name of infolist(), normalised, its content read
    # through getinfo(name) (so the last entry of a name wins), with a traversal check.
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            name = info.filename
            if name.endswith("/"):
                continue
            target = os.path.join(dest, os.path.normpath(name))
            if not os.path.abspath(target).startswith(os.path.abspath(dest) + os.sep):
                raise ValueError(f"path traversal: {name}")
            data = z.read(z.getinfo(name))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)


UV = os.path.join(os.path.dirname(sys.executable), "uv")
# What uv writes of its own into an installed wheel's dist-info (and its lock in the target).
UV_OWN = {".lock", "INSTALLER", "REQUESTED", "RECORD", "direct_url.json", "uv_cache.json"}


def uv_wheel(archive, dest):
    # uv is a separate binary (not chrooted); it refuses absolute and climbing names itself.
    # Its temporary unpacking goes into the sandbox.
    import subprocess

    sandbox = dest.split(DEST)[0] if DEST in dest else os.path.dirname(dest)
    env = dict(os.environ, TMPDIR=os.path.join(sandbox, "uvtmp"))
    os.makedirs(env["TMPDIR"], exist_ok=True)
    done = subprocess.run(
        [UV, "pip", "install", "--offline", "--no-deps", "--no-cache", "--quiet",
         "--target", dest, "--python", sys.executable, archive],
        env=env, capture_output=True, text=True, timeout=60,
    )
    shutil.rmtree(env["TMPDIR"], ignore_errors=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip()[-300:])
    # Launchers uv generates for the wheel's entry points are the installer's, not the archive's.
    import configparser

    launchers = set()
    for d in os.listdir(dest):
        eps = os.path.join(dest, d, "entry_points.txt")
        if d.endswith(".dist-info") and os.path.exists(eps):
            cp = configparser.ConfigParser(delimiters=("=",))
            cp.optionxform = str
            cp.read(eps)
            for section in ("console_scripts", "gui_scripts"):
                if cp.has_section(section):
                    launchers.update(k.strip() for k in cp.options(section))
    for root, _, names in os.walk(dest):
        for n in names:
            rel = os.path.relpath(os.path.join(root, n), dest)
            own = n in UV_OWN and (rel == n or rel.split("/")[0].endswith(".dist-info"))
            if own or (rel.startswith("bin/") and n in launchers):
                os.remove(os.path.join(root, n))


EXTRACTORS = {
    "sdist": [("pip.unpack_file", pip_unpack), ("tarfile.data", tar_data), ("tarfile.trusted", tar_trusted)],
    "sdist-zip": [("pip.unpack_file", pip_unpack), ("zipfile.extractall", zip_extractall)],
    "wheel": [("pip.wheel", pip_wheel), ("zipfile.extractall", zip_extractall), ("uv.pip-install", uv_wheel)],
}


def text(s):
    """A name as JSON can carry it: bytes that are not UTF-8 (tarfile keeps them as surrogate
    escapes) are written as \\xNN, so they never equal a name airlock delivered."""
    return s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def walk(top, dest):
    files = {}
    for root, dirs, names in os.walk(top):
        if root == top:
            dirs[:] = [d for d in dirs if d != "input"]
        for d in list(dirs):
            full = os.path.join(root, d)
            if os.path.islink(full):
                files[text(os.path.relpath(full, dest))] = "symlink-to-dir"
                dirs.remove(d)
        for n in names:
            full = os.path.join(root, n)
            try:
                with open(full, "rb") as f:
                    files[text(os.path.relpath(full, dest))] = hashlib.sha256(f.read()).hexdigest()
            except OSError:
                target = os.readlink(full) if os.path.islink(full) else ""
                files[text(os.path.relpath(full, dest))] = "dangling:" + text(target)
    return files


def run_one(archive, fn):
    sandbox = tempfile.mkdtemp(prefix="airlock-oracle-")
    try:
        os.makedirs(os.path.join(sandbox, "input"))
        name = os.path.basename(archive)
        shutil.copy(archive, os.path.join(sandbox, "input", name))
        os.makedirs(sandbox + DEST)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            signal.alarm(30)
            try:
                if ROOT and fn is not uv_wheel:
                    os.chroot(sandbox)
                    base, inp = "/", "/input/" + name
                else:
                    base, inp = sandbox, os.path.join(sandbox, "input", name)
                dest = os.path.join(base, DEST.lstrip("/"))
                os.chdir(dest)
                try:
                    fn(inp, dest)
                    out = {"status": "ok", "files": walk(base, dest)}
                except BaseException as e:  # the installer refused it
                    out = {"status": "refused", "error": text(f"{type(e).__name__}: {e}"[:300])}
                os.write(write_fd, json.dumps(out).encode())
            finally:
                os._exit(0)
        os.close(write_fd)
        chunks = []
        while True:
            b = os.read(read_fd, 1 << 16)
            if not b:
                break
            chunks.append(b)
        os.close(read_fd)
        os.waitpid(pid, 0)
        if not chunks:
            return {"status": "refused", "error": "the extractor crashed or timed out"}
        return json.loads(b"".join(chunks))
    finally:
        shutil.rmtree(sandbox, ignore_errors=True)


def make(out_dir):
    """Honest archives as the real tools write them: an sdist as setuptools writes it (tarfile,
    PAX format, gzip), with a long name, a non-ASCII name and a symlink; a wheel as zipfile
    writes it."""
    import io

    sdist = os.path.join(out_dir, "tool-sdist.tar.gz")
    with tarfile.open(sdist, "w:gz", format=tarfile.PAX_FORMAT) as t:
        def add(name, data, **kw):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            for k, v in kw.items():
                setattr(info, k, v)
            t.addfile(info, io.BytesIO(data))

        root = tarfile.TarInfo("demo-1.0")
        root.type = tarfile.DIRTYPE
        root.mode = 0o755
        t.addfile(root)
        add("demo-1.0/PKG-INFO", b"Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
        add("demo-1.0/setup.py", b"from setuptools import setup\nsetup()\n")
        add("demo-1.0/demo/" + "long_" * 30 + ".py", b"x = 1\n")
        add("demo-1.0/demo/caf\u00e9.py", b"y = 2\n")
        link = tarfile.TarInfo("demo-1.0/demo/alias.py")
        link.type = tarfile.SYMTYPE
        link.linkname = "caf\u00e9.py"
        t.addfile(link)
    wheel = os.path.join(out_dir, "demo-1.0-py3-none-any.whl")
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("demo/__init__.py", "x = 1\n")
        z.writestr("demo/caf\u00e9.py", "y = 2\n")
        z.writestr("demo-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\n")
        z.writestr("demo-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: zipfile\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr("demo-1.0.dist-info/RECORD", "")
    print(json.dumps({"sdist": sdist, "wheel": wheel}))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(sys.argv[2])
        return
    cases = json.load(sys.stdin)
    results = {}
    for case in cases:
        per = {}
        for label, fn in EXTRACTORS.get(case["kind"], []):
            if fn is tar_trusted and not ROOT:
                continue
            per[label] = run_one(case["path"], fn)
        results[case["id"]] = per
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
