"""Declared dependencies as a project's CI reads them, and the environment image's key, from
file texts (no Docker)."""

from __future__ import annotations

import pytest
from codemend.agent.repo.deps import (
    NO_TEST_SET,
    DependencyConflict,
    read_declarations,
    requirement_name,
)
from codemend.sandbox.envimage import _why, env_key
from codemend.sandbox.errors import BadInput

PYPROJECT = """
[project]
dependencies = ["attrs>=22", "tomli; python_version < '3.11'"]
[project.optional-dependencies]
test = ["pytest>=7", "hypothesis"]
docs = ["sphinx"]
[dependency-groups]
cov = ["coverage[toml]"]
dev = [{include-group = "cov"}, "ruff==0.1", "freezegun"]
lint = ["mypy"]
[tool.pytest.ini_options]
addopts = "--cov=pkg -n 2"
required_plugins = "pytest-mock>=3"
asyncio_mode = "auto"
"""

# jinja2 3.1's layout: pip-compiled pins per purpose, tox installs the tests' file only
JINJA_LIKE = {
    "pyproject.toml": '[project]\nname = "j"\ndependencies = ["MarkupSafe>=2.0"]\n'
                      '[project.optional-dependencies]\ni18n = ["Babel>=2.7"]\n',
    "requirements/tests.txt": "attrs==24.2.0\npytest==8.3.3\n",
    "requirements/dev.txt": "-r docs.txt\n-r tests.txt\n-r typing.txt\nattrs==24.3.0\ntox\n",
    "requirements/docs.txt": "sphinx==8.1.3\nattrs==24.3.0\n",
    "requirements/typing.txt": "mypy==1.13.0\n",
    "tox.ini": "[tox]\nenvlist = py3{13,12}\n[testenv]\npackage = wheel\n"
               "deps = -r requirements/tests.txt\ncommands = pytest -v --tb=short {posargs}\n"
               "[testenv:docs]\ndeps = -r requirements/docs.txt\n",
}


def test_one_test_set_is_chosen_never_the_union_of_every_file():
    decl = read_declarations(JINJA_LIKE)
    assert decl.requirements == ("MarkupSafe>=2.0", "attrs==24.2.0")
    # pins that came with the set's own pytest follow the image's pytest instead
    pinned = {**JINJA_LIKE, "requirements/tests.txt": "pytest==8.3.3\npluggy==1.2.0\n"
              "exceptiongroup==1.1.1 ; python_version < '3.11'\npackaging==23.1\n"}
    assert read_declarations(pinned).requirements == (
        "MarkupSafe>=2.0", 'exceptiongroup; python_version < "3.11"', "packaging", "pluggy")
    assert decl.test_source == "tox test env (requirements/tests.txt)"
    assert decl.sources == ("pyproject.toml [project] dependencies", "requirements/tests.txt")
    assert decl.added == ()  # pytest is declared by the test set (the image's pin is used)


def test_the_order_a_ci_reads_them_group_then_extra_then_file():
    files = {"pyproject.toml": PYPROJECT, "requirements-dev.txt": "responses\n"}
    decl = read_declarations(files)
    assert decl.test_source == "dependency group dev (pyproject.toml dependency group cov, " \
                               "pyproject.toml dependency group dev)"
    assert set(decl.requirements) == {
        "attrs>=22", 'tomli; python_version < "3.11"', "coverage[toml]", "freezegun",
        "pytest-cov", "pytest-xdist", "pytest-mock>=3", "pytest-asyncio"}
    # undeclared needs are added and listed; pytest and ruff stay the image's own
    assert decl.added == ("pytest", "pytest-mock>=3", "pytest-cov", "pytest-xdist",
                          "pytest-asyncio")
    no_groups = PYPROJECT.split("[dependency-groups]")[0]
    decl = read_declarations({**files, "pyproject.toml": no_groups})
    assert decl.test_source == "pyproject.toml extra [test]"
    assert "hypothesis" in decl.requirements and "responses" not in decl.requirements
    assert "pytest" not in decl.added  # the extra declares it
    decl = read_declarations({"requirements-dev.txt": "responses\n-e .\n"})
    assert decl.test_source == "requirements-dev.txt" and decl.requirements == ("responses",)
    assert decl.added == ("pytest",)


def test_tox_env_with_extras_and_nox_session():
    files = {"setup.cfg": "[options]\ninstall_requires =\n    six\n"
                          "[options.extras_require]\ntesting = mock\ndocs = sphinx\n",
             "tox.ini": "[testenv]\nextras =\n    testing\n    docs: docs\ndeps =\n"
                        "    freezegun\n    py38: backports.zoneinfo\n"
                        "    tests: -r{toxinidir}/req.txt\n",
             "req.txt": "idna\n", "requirements/tests.txt": "never\n"}
    decl = read_declarations(files)
    assert decl.requirements == ("freezegun", "idna", "mock", "six")
    assert decl.test_source.startswith("tox test env (")
    nox = ("import nox\n@nox.session\ndef lint(session):\n    session.install('ruff', 'x')\n"
           "@nox.session(python=['3.12'])\ndef tests(session):\n"
           "    session.install('-r', 'req.txt', '.[testing]', 'pytest-randomly')\n"
           "    session.run('pytest')\n")
    decl = read_declarations({**files, "tox.ini": "", "noxfile.py": nox})
    assert decl.requirements == ("idna", "mock", "pytest-randomly", "six")
    assert "noxfile.py tests" in decl.test_source


def test_the_project_named_in_its_own_extra_is_its_extras():
    files = {"pyproject.toml": '[project]\nname = "attrs"\n[project.optional-dependencies]\n'
                               'tests-mypy = ["mypy"]\ntests = ["attrs[tests-mypy]", "pympler"]\n',
             "tox.ini": "[testenv]\nextras =\n    tests: tests\n    mypy: tests-mypy\n"}
    decl = read_declarations(files)
    assert decl.requirements == ("mypy", "pympler")


def test_runtime_from_setup_py_and_setup_cfg_and_dynamic_files():
    files = {"setup.py": "from setuptools import setup\nsetup(install_requires=['click'],\n"
                         "      tests_require=['responses'], extras_require={'x': ['never']})\n"}
    decl = read_declarations(files)
    assert decl.requirements == ("click", "responses")
    assert decl.test_source == "setup.py tests_require"
    dyn = {"pyproject.toml": '[project]\nname = "p"\ndynamic = ["dependencies"]\n'
                             '[tool.setuptools.dynamic]\ndependencies = {file = ["reqs.txt"]}\n',
           "reqs.txt": "requests==2.31  # pinned\n--index-url http://mirror.invalid/simple\n"}
    assert read_declarations(dyn).requirements == ("requests==2.31",)


def test_a_real_conflict_is_one_message_naming_both_sources():
    files = {**JINJA_LIKE, "pyproject.toml": '[project]\nname = "j"\n'
                                             'dependencies = ["attrs==24.3.0"]\n'}
    with pytest.raises(DependencyConflict) as err:
        read_declarations(files)
    msg = str(err.value)
    assert isinstance(err.value, BadInput) and "\n" not in msg
    assert "attrs==24.3.0 (pyproject.toml [project] dependencies)" in msg
    assert "attrs==24.2.0 (requirements/tests.txt)" in msg
    # compatible ranges are no conflict; a pin outside a range is
    ok = {"pyproject.toml": '[project]\ndependencies = ["attrs>=22,<25"]\n',
          "requirements-test.txt": "attrs==24.2.0\n"}
    assert read_declarations(ok).requirements == ("attrs<25,>=22", "attrs==24.2.0")
    with pytest.raises(DependencyConflict, match=r"attrs<23"):
        read_declarations({**ok, "pyproject.toml": '[project]\ndependencies = ["attrs<23"]\n'})


def test_nothing_declared_and_broken_files():
    decl = read_declarations({"pkg/__init__.py": ""})
    assert decl.requirements == () and decl.test_source == NO_TEST_SET
    assert decl.added == ("pytest",)
    decl = read_declarations({"pyproject.toml": "[project\n", "setup.py": "setup(",
                              "requirements-dev.txt": "not a requirement ===\n"})
    assert decl.requirements == ("not a requirement ===",)  # kept, so pip names it


def test_the_key_follows_declarations_and_check_image():
    a = env_key("sha256:1", ["six", "attrs"])
    assert a == env_key("sha256:1", ["attrs", "six", "six"])
    assert a != env_key("sha256:2", ["six", "attrs"]) and a != env_key("sha256:1", ["six"])
    assert read_declarations({"requirements.txt": "six\nattrs\n"}).key("sha256:1") == a


def test_pip_failures_name_the_package():
    msg = _why(["ERROR: Could not find a version that satisfies the requirement nopkg==9 "
                "(from versions: none)", "ERROR: No matching distribution found for nopkg==9"],
               ["nopkg==9"])
    assert msg.startswith("dependency nopkg==9 cannot be installed")
    assert "six" in _why(["something else broke"], ["six"])
    assert requirement_name("attrs>=1") == "attrs"
