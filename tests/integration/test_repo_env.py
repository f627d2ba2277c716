"""A repository's own environment (sandbox/envimage.py): the project, its dependencies and
its test tools in one environment the check's tools cannot shadow, the project installed
editable as its CI does (metadata, version from its git tag, console scripts), plugins
only by name from that environment, and the Python it asks for. Real projects from their
sdists (tests/repo_projects.py), the real sandbox, both backends."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from codemend.agent.repo.environment import REPO_DEFAULTS, sandbox_config
from codemend.agent.repo.snapshot import load_repo
from codemend.sandbox.config import SandboxConfig
from codemend.sandbox.errors import BadInput, ImageBuildError
from codemend.sandbox.factory import make_sandbox
from repo_identity import differences
from repo_projects import PROJECTS, commit, git, make_repo

pytestmark = pytest.mark.docker

INI = PROJECTS["iniconfig"]
EVIL_PLUGIN = ("def pytest_collection_modifyitems(items):\n"
               "    for item in items:\n"
               "        item.runtest = lambda: None\n")
EVIL_DIST = {"Evil-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: Evil\nVersion: 1.0\n",
             "Evil-1.0.dist-info/entry_points.txt": "[pytest11]\nevil = evil_plugin\n",
             "evil_plugin.py": EVIL_PLUGIN}


@pytest.fixture(scope="module")
def ini(docker_client, sandbox_image, tmp_path_factory):
    """iniconfig as released, tagged as upstream tags it, and its environment."""
    repo = make_repo(INI, tmp_path_factory.mktemp("ini"))
    git(repo, "tag", f"v{INI.version}")
    snap = load_repo(repo)
    return repo, snap, sandbox_config(snap, docker_client)


def _bugged(snap):
    text = snap.files[INI.bug.path]
    return {INI.bug.path: text.replace(INI.bug.old, INI.bug.new)}


def test_a_project_pytest_depends_on_is_checked_from_its_work_tree(docker_client, ini):
    """pytest imports iniconfig: the check's own copy must not stand in for the project's
    (it made a committed bug come out 'clean')."""
    _, snap, cfg = ini
    assert cfg.image.startswith("codemend-env:")
    for kind in ("cold", "pool"):
        with make_sandbox(kind, cfg, docker_client, size=1) as sb:
            released = sb.check(snap.workspace())
            bugged = sb.check(snap.workspace(_bugged(snap)))
        assert released.tests.ok and released.tests.passed == INI.tests, (kind, released.output)
        failed = {c.id for c in bugged.tests.cases if c.outcome == "failed"}
        assert "testing/test_iniconfig.py::test_iter_file_order" in failed, (kind, bugged.output)
        assert released.tamper == bugged.tamper == []


def test_a_plugin_declared_in_the_work_tree_never_loads(docker_client, ini):
    """A ``*.dist-info`` with a ``pytest11`` entry point in the work tree (root and src/,
    which the editable install puts on sys.path) is not a plugin; the honest fix after it
    still passes."""
    _, snap, cfg = ini
    planted = {**_bugged(snap), **EVIL_DIST, **{f"src/{k}": v for k, v in EVIL_DIST.items()}}
    # the environment's own plugin (pytest-xdist, declared) does load: its fixture works
    uses_xdist = {"testing/test_declared_plugin.py": "def test_xdist_is_loaded(worker_id):\n"
                                                     "    assert worker_id == 'master'\n"}
    with make_sandbox("cold", cfg, docker_client) as sb:
        forged = sb.check(snap.workspace(planted))
        honest = sb.check(snap.workspace({INI.bug.path: snap.files[INI.bug.path],
                                          **uses_xdist}))
    assert not forged.tests.ok and forged.tests.failed >= 1, forged.output
    assert honest.tests.ok and honest.tests.passed == INI.tests + 1, honest.output


def test_a_plugin_in_the_work_tree_never_loads_in_the_check_image(cold_repo, tmp_path):
    """A repository that is not an installable project runs in the check image itself:
    plugin autoload is off there too."""
    repo = tmp_path / "plain"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    commit(repo, "a plain folder of modules", {
        "calc.py": "def add(a, b):\n    return a - b\n",
        "test_calc.py": "from calc import add\n\n\ndef test_add():\n    assert add(2, 2) == 4\n",
        **EVIL_DIST})
    snap = load_repo(repo)
    forged = cold_repo.check(snap.workspace())
    honest = cold_repo.check(snap.workspace({"calc.py": "def add(a, b):\n    return a + b\n"}))
    assert forged.tests.failed == 1, forged.output
    assert honest.tests.ok and honest.tests.passed == 1, honest.output


def test_the_project_is_installed_with_its_version_from_its_git_tag(docker_client, tmp_path):
    """toolz takes its version from git (setuptools-git-versioning): without PKG-INFO and
    egg-info, as in its upstream repository, only the tag gives it. Its own ``test_has_version`` needs
    the install; metadata, the editable link, a console script, pip and pytest's output
    capture work as on the host."""
    project = PROJECTS["toolz"]
    repo = make_repo(project, tmp_path)
    (repo / "PKG-INFO").unlink()  # sdist artefacts: the upstream repository has neither
    shutil.rmtree(repo / "toolz.egg-info")
    commit(repo, "as upstream has it: no PKG-INFO, no egg-info")
    if not git(repo, "tag", "--list", project.version):
        git(repo, "tag", project.version)
    pyproject = (repo / "pyproject.toml").read_text()
    commit(repo, "a console script", {
        "pyproject.toml": pyproject + '\n[project.scripts]\ntoolz-probe = "toolz._probe:main"\n',
        "toolz/_probe.py": "import toolz\n\n\ndef main():\n    print(toolz.__version__, "
                           "toolz.__file__)\n",
        "toolz/tests/test_installed.py":
            "import importlib.metadata as md\nimport json\nimport os\nimport subprocess\n\n"
            "import toolz\n\n\ndef test_metadata_and_editable_link():\n"
            f"    assert md.version('toolz') == {project.version!r}\n"
            "    urls = [json.loads(d.read_text('direct_url.json')) for d in\n"
            "            md.distributions(name='toolz') if d.read_text('direct_url.json')]\n"
            "    assert urls == [{'dir_info': {'editable': True}, 'url': 'file://' + os.getcwd()}]\n"
            "    assert toolz.__file__ == os.path.join(os.getcwd(), 'toolz', '__init__.py')\n\n\n"
            "def test_console_script():\n"
            "    out = subprocess.run(['toolz-probe'], capture_output=True, text=True,\n"
            "                         check=True).stdout.split()\n"
            f"    assert out == [{project.version!r}, toolz.__file__]\n\n\n"
            "def test_pip_shows_the_project():\n"
            "    import sys\n"
            "    out = subprocess.run([sys.executable, '-m', 'pip', 'show', 'toolz'],\n"
            "                         capture_output=True, text=True, check=True).stdout\n"
            f"    assert 'Version: {project.version}' in out\n\n\n"
            "def test_output_is_captured_as_pytest_does_by_default():\n"
            "    import sys\n"
            "    assert sys.stdout is not sys.__stdout__\n"})
    snap = load_repo(repo)
    cfg = sandbox_config(snap, docker_client)
    with make_sandbox("cold", cfg, docker_client) as sb:
        r = sb.check(snap.workspace())
    outcomes = {c.id: c.outcome for c in r.tests.cases}
    why = [(c.id, c.message, c.traceback[-500:]) for c in r.tests.cases if c.outcome != "passed"]
    assert outcomes["toolz/tests/test_package.py::test_has_version"] == "passed", why
    assert outcomes["toolz/tests/test_installed.py::test_metadata_and_editable_link"] == \
        "passed", why
    assert outcomes["toolz/tests/test_installed.py::test_console_script"] == "passed", why
    assert outcomes["toolz/tests/test_installed.py::test_pip_shows_the_project"] == \
        "passed", why  # as in any venv (jsonschema's test_license runs `pip show`)
    # pytest's own capture, as its CI runs it (structlog's suite closes sys.stdout: with
    # capture off, pytest itself then fails)
    assert outcomes["toolz/tests/test_installed.py::"
                    "test_output_is_captured_as_pytest_does_by_default"] == "passed", why
    assert r.tests.ok and r.tests.passed + r.tests.skipped == project.tests + 4, r.output


def test_a_candidate_identical_to_the_baseline_is_checked_the_same(docker_client, ini):
    _, snap, cfg = ini
    with make_sandbox("pool", cfg, docker_client, size=1) as sb:
        assert differences(sb, snap, INI.bug.path) == []


def _small_project(tmp_path, files: dict[str, str]):
    repo = tmp_path / "small"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    commit(repo, "a small project", {"tests/test_it.py": "def test_it():\n    pass\n", **files})
    return load_repo(repo)


def test_a_python_the_project_excludes_is_exit_2_naming_it(docker_client, sandbox_image,
                                                          tmp_path):
    snap = _small_project(tmp_path, {"pyproject.toml": '[project]\nname = "future"\n'
                                     'version = "1"\nrequires-python = ">=3.99"\n'})
    with pytest.raises(BadInput) as err:
        sandbox_config(snap, docker_client)
    assert err.value.exit_code == 2
    assert "needs Python >=3.99" in str(err.value) and "\n" not in str(err.value)


def test_a_build_that_needs_a_compiler_is_exit_4_saying_so(docker_client, sandbox_image,
                                                          tmp_path):
    snap = _small_project(tmp_path, {
        "setup.py": "from setuptools import Extension, setup\n\n"
                    "setup(name='speedy', version='1.0', ext_modules=[Extension('speedy', "
                    "['speedy.c'])])\n",
        "speedy.c": "int nothing(void) { return 0; }\n"})
    with pytest.raises(ImageBuildError) as err:
        sandbox_config(snap, docker_client)
    assert err.value.exit_code == 4 and "needs a compiler" in str(err.value), str(err.value)


@pytest.fixture(scope="module")
def cold_repo(docker_client, sandbox_image):
    with make_sandbox("cold", SandboxConfig(**REPO_DEFAULTS), docker_client) as sb:
        yield sb
