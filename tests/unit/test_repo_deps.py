"""Declared dependencies and the environment image's key, from file texts (no Docker)."""

from __future__ import annotations

from codemend.agent.repo.deps import read_declarations, requirement_name
from codemend.sandbox.envimage import _why, env_key

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


def test_every_declaration_source_is_read():
    files = {
        "pyproject.toml": PYPROJECT,
        "requirements.txt": "requests==2.31  # pinned\n-r requirements/base.txt\n"
                            "--index-url http://mirror.invalid/simple\n-e .\n./local\n",
        "requirements/base.txt": "idna\n-r ../requirements.txt\n",
        "setup.cfg": "[options]\ninstall_requires =\n    six\n[options.extras_require]\n"
                     "testing = mock\ndocs = sphinx\n",
        "setup.py": "from setuptools import setup\nsetup(install_requires=['click'],\n"
                    "      extras_require={'tests': ['responses'], 'x': ['never']})\n",
    }
    decl = read_declarations(files)
    assert decl.requirements == tuple(sorted([
        "attrs>=22", 'tomli; python_version < "3.11"', "hypothesis", "coverage[toml]",
        "freezegun", "requests==2.31", "idna", "six", "mock", "click", "responses",
        "pytest-cov", "pytest-xdist", "pytest-mock>=3", "pytest-asyncio"]))
    # requirements/base.txt is read through the -r of requirements.txt
    assert set(decl.sources) == {"pyproject.toml", "requirements.txt",
                                 "setup.cfg", "setup.py", "pytest settings"}
    # pytest and ruff come from the check image; docs/lint extras are not installed
    assert not any(requirement_name(r) in ("pytest", "ruff", "sphinx", "mypy", "never")
                   for r in decl.requirements)


def test_nothing_declared_and_broken_files():
    assert read_declarations({"pkg/__init__.py": ""}).requirements == ()
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
