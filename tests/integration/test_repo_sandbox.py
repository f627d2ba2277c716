"""Repository mode in the real sandbox, on real projects from their PyPI sdists
(tests/repo_projects.py): their own pytest settings and layout, their dependencies in
an environment image, no network at check time, and tamper evidence that still works."""

from __future__ import annotations

import subprocess

import pytest
from codemend.agent.repo.deps import read_declarations
from codemend.agent.repo.environment import REPO_DEFAULTS, sandbox_config
from codemend.agent.repo.snapshot import load_repo
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.errors import ImageBuildError
from codemend.sandbox.factory import make_sandbox
from repo_projects import PROJECTS, commit, make_repo

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def cold(docker_client, sandbox_image):
    with make_sandbox("cold", SandboxConfig(**REPO_DEFAULTS), docker_client) as sb:
        yield sb


@pytest.mark.parametrize("name", ["toolz", "inflection"])
def test_flat_projects_run_their_own_suite_as_on_the_host(cold, tmp_path, name):
    project = PROJECTS[name]
    snap = load_repo(make_repo(project, tmp_path))
    assert snap.layout == "flat"
    r = cold.check(snap.workspace())
    assert r.tests.ok and r.tests.failed == r.tests.errors == 0, r.output
    assert r.tests.passed + r.tests.skipped == project.tests
    assert r.lint.error is None and r.tamper == []
    # the project's settings were honoured: toolz collects from its testpaths (toolz/)
    assert all(c.id.startswith(f"{name}/" if name == "toolz" else "test_") for c in r.tests.cases)


def test_a_src_project_with_a_dependency_gets_an_environment_image(docker_client, cold,
                                                                   tmp_path):
    project = PROJECTS["isodate"]
    repo = make_repo(project, tmp_path)
    snap = load_repo(repo)
    assert snap.layout == "src" and snap.python_paths == ["src"]
    assert read_declarations(snap.files).requirements == project.deps
    bare = cold.check(snap.workspace())  # the check image has no six: the suite cannot import
    assert not bare.tests.ok
    assert any("No module named 'six'" in c.traceback + c.message for c in bare.tests.cases)
    cfg = sandbox_config(snap, docker_client)
    assert cfg.image.startswith("codemend-env:") and cfg.network == "none"
    said: list[str] = []
    assert sandbox_config(snap, docker_client, progress=said.append).image == cfg.image
    assert said == []  # cached: nothing built, nothing downloaded
    for kind in ("cold", "pool"):
        with make_sandbox(kind, cfg, docker_client, size=1) as sb:
            r = sb.check(snap.workspace())
        # tests as on the host; the lint verdict is codemend's rule set on unlinted code
        assert r.tests.ok and r.lint.error is None, (kind, r.message, r.output)
        assert r.tests.passed + r.tests.skipped == project.tests and r.tamper == []


def test_an_uninstallable_dependency_is_exit_4_naming_it(docker_client, sandbox_image,
                                                        tmp_path):
    repo = make_repo(PROJECTS["inflection"], tmp_path)
    commit(repo, "pin an impossible version", {"requirements-test.txt": "six==0.0.0.dev999\n"})
    snap = load_repo(repo)
    with pytest.raises(ImageBuildError) as err:
        sandbox_config(snap, docker_client)
    assert err.value.exit_code == 4 and "six==0.0.0.dev999" in str(err.value)


def test_a_forged_pass_from_library_code_is_caught_in_repo_mode(cold, tmp_path):
    repo = make_repo(PROJECTS["inflection"], tmp_path)
    path = repo / "inflection" / "__init__.py"
    forge = (
        "\n\ndef _forge():\n"
        "    import glob, os\n"
        "    for p in glob.glob(os.sep + 're' + 'port' + os.sep + '*' + os.sep + '*.xml'):\n"
        "        open(p, 'w').write('<testsuite tests=\"1\"><testcase classname=\"t\" '\n"
        "                           'name=\"t\" file=\"test_inflection.py\"/></testsuite>')\n"
        "    getattr(os, '_' + 'exit')(0)\n\n\n"
        "__import__('atexit').register(_forge)\n"
        "camelize = None\n")
    commit(repo, "forge", {"inflection/__init__.py": path.read_text() + forge})
    r = cold.check(load_repo(repo).workspace())
    assert r.verdict == "fail"
    assert {t[:4] for t in r.tamper if "[fail]" in t} & {"T204", "T205", "T206"}, r.tamper


def test_binary_files_project_ruff_settings_and_pytest_config(cold, tmp_path):
    repo = tmp_path / "own"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    blob = bytes(range(256)) * 4
    (repo / "data.bin").write_bytes(blob)
    commit(repo, "a small project", {
        "pyproject.toml": '[tool.pytest.ini_options]\naddopts = "--strict-markers"\n'
                          'markers = ["fast: quick ones"]\ntestpaths = ["checks"]\n'
                          '[tool.ruff.lint]\nselect = ["F"]\nignore = ["F401"]\n',
        "src/own/__init__.py": "import os\n\n\ndef blob():\n"
                               "    return open(os.environ.get('X', 'data.bin'), 'rb').read()\n",
        "checks/test_own.py": "import hashlib\n\nimport pytest\nfrom own import blob\n\n\n"
                              f"@pytest.mark.fast\ndef test_blob():\n    assert hashlib.sha256("
                              f"blob()).hexdigest() == {__import__('hashlib').sha256(blob).hexdigest()!r}\n",
        "test_outside_testpaths.py": "def test_never_collected():\n    raise AssertionError\n"})
    snap = load_repo(repo)
    assert snap.binary == {"data.bin": blob} and snap.ruff_settings
    r = cold.check(snap.workspace())
    assert r.verdict == "pass", (r.message, r.output)
    assert [c.id for c in r.tests.cases] == ["checks/test_own.py::test_blob"]
