"""Downloads real releases from PyPI for the live differential test: each spec's sdist and one
wheel (pure, or CPython 3.11 manylinux x86-64), checked against the index's sha256, each into its
own directory under its own name. Usage: fetch.py OUT_DIR NAME==VERSION ...; prints a JSON list
of {"id", "kind", "path"}."""

import hashlib
import json
import os
import sys
import urllib.request

INDEX = os.environ.get("AIRLOCK_PYPI_INDEX", "https://pypi.org/simple/")


def pick(files, version):
    sdist = wheel = None
    for f in files:
        name = f["filename"]
        if f.get("yanked"):
            continue
        if f"-{version}" not in name and f"_{version}" not in name:
            continue
        if name.endswith(".tar.gz") and sdist is None:
            sdist = f
        elif name.endswith(".whl") and (
            "-none-any" in name or ("cp311" in name and "manylinux" in name and "x86_64" in name)
        ):
            wheel = wheel or f
    return [f for f in (sdist, wheel) if f]


def main():
    out, specs = sys.argv[1], sys.argv[2:]
    cases = []
    for spec in specs:
        name, version = spec.split("==")
        req = urllib.request.Request(
            INDEX + name + "/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        with urllib.request.urlopen(req, timeout=60) as r:
            files = json.load(r)["files"]
        for f in pick(files, version):
            with urllib.request.urlopen(f["url"], timeout=300) as r:
                data = r.read()
            if hashlib.sha256(data).hexdigest() != f["hashes"].get("sha256"):
                raise SystemExit(f"{f['filename']}: sha256 does not match the index")
            kind = "wheel" if f["filename"].endswith(".whl") else "sdist"
            case_id = f"live-{name}-{kind}"
            os.makedirs(os.path.join(out, case_id), exist_ok=True)
            path = os.path.join(out, case_id, f["filename"])
            with open(path, "wb") as w:
                w.write(data)
            cases.append({"id": case_id, "kind": kind, "path": path})
    json.dump(cases, sys.stdout)


if __name__ == "__main__":
    main()
