"""Run inside an environment image's build, by the project's own Python, after pip has
installed the project and its dependencies into /opt/project. Standard library only.

It records what the runner needs (``/opt/project/codemend-env.json``): the pytest plugins
the environment declares (``pytest11`` entry points of installed distributions other than
the project itself, loaded with ``-p`` since autoload is off) and the files the install
generated inside the project's tree (a ``_version.py`` written by setuptools-scm or
hatch-vcs), kept under /opt/project/generated and put back into every check's work tree
that lacks them, as ``pip install -e .`` leaves them in a developer's checkout.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import re
import shutil
import sys

ROOT = "/work/repo"
OUT = "/opt/project"
SKIP_DIRS = {"__pycache__", "build", "dist", ".eggs", ".git"}


def _plugins(project: str) -> list[str]:
    site = [p for p in sys.path if p.startswith(OUT)]
    names = set()
    for dist in md.distributions(path=site):
        if re.sub(r"[-_.]+", "-", (dist.metadata["Name"] or "").lower()) == project:
            continue
        names.update(ep.name for ep in dist.entry_points if ep.group == "pytest11")
    return sorted(names)


def _generated(before: set[str]) -> list[str]:
    out = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(
            (".egg-info", ".dist-info"))]
        for name in files:
            rel = os.path.relpath(os.path.join(folder, name), ROOT)
            if rel not in before and not name.endswith((".pyc", ".so")):
                dest = os.path.join(OUT, "generated", rel)
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                shutil.copyfile(os.path.join(ROOT, rel), dest)
                out.append(rel)
    return sorted(out)


def main() -> None:
    with open("/tmp/codemend-env/project.json") as fh:
        spec = json.load(fh)
    doc = {"python": f"{OUT}/bin/python", "workdir": ROOT, "project": spec["name"],
           "plugins": _plugins(spec["name"]),
           "generated": _generated(set(spec["files"])) if spec["install"] else []}
    with open(f"{OUT}/codemend-env.json", "w") as fh:
        json.dump(doc, fh)
    print("codemend-env:", json.dumps(doc))


if __name__ == "__main__":
    main()
