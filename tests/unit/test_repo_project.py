"""Reading what installing a repository needs (agent/repo/project.py) and refusing a
Python the project excludes (agent/repo/environment.check_python), from file texts."""

from __future__ import annotations

from pathlib import Path

import pytest
from codemend.agent.repo import project
from codemend.agent.repo.environment import check_python
from codemend.agent.repo.snapshot import from_files
from codemend.sandbox.errors import BadInput

TESTS = {"tests/test_x.py": "def test_x():\n    pass\n"}


def _snap(files: dict[str, str]):
    return from_files(Path("/r"), {**TESTS, **files}, {})


@pytest.mark.parametrize(("files", "expected"), [
    ({"pyproject.toml": '[project]\nname = "Foo_Bar.baz"\n'}, "foo-bar-baz"),
    ({"setup.cfg": "[metadata]\nname = old-style\n", "setup.py": "import setuptools\n"
      "setuptools.setup()\n"}, "old-style"),
    ({"setup.py": "from setuptools import setup\nsetup(name='lit', version='1')\n"}, "lit"),
    ({"setup.py": "from setuptools import setup\nsetup(name=NAME)\n"}, ""),
])
def test_an_installable_project_and_its_name(files, expected):
    assert project.installable(files)
    assert project.name(files) == expected


def test_a_folder_of_modules_is_not_installed():
    files = {"pyproject.toml": "[tool.pytest.ini_options]\ntestpaths = ['tests']\n",
             "calc.py": "x = 1\n"}
    assert not project.installable(files)
    assert project.project_build(_snap(files), "v1.0") is None


@pytest.mark.parametrize(("tag", "version"), [
    ("v1.2.0", "1.2.0"), ("1.2.0", "1.2.0"), ("release-2.0rc1", "2.0rc1"), ("4.17.0", "4.17.0"),
    ("latest", None), (None, None)])
def test_the_version_a_tag_gives(tag, version):
    assert project.version_from_tag(tag) == version


def test_an_untagged_version_from_git_is_what_the_tool_gives_a_checkout_without_tags():
    scm = {"pyproject.toml": '[build-system]\nrequires = ["setuptools>=64", "setuptools-scm>=8"]\n'
           'build-backend = "setuptools.build_meta"\n[project]\nname = "p"\n'
           'dynamic = ["version"]\n'}
    assert project.build_version(scm, None) == project.UNTAGGED
    assert project.build_version(scm, "v2.0") == "2.0"
    assert project.build_version({**scm, "PKG-INFO": "Version: 1.0\n"}, None) is None
    plain = {"pyproject.toml": '[project]\nname = "p"\nversion = "3"\n'}
    assert project.build_version(plain, None) is None


def test_the_image_key_follows_the_build_inputs_not_the_code():
    base = {"pyproject.toml": '[build-system]\nrequires = ["hatchling"]\n'
            'build-backend = "hatchling.build"\n[project]\nname = "p"\n',
            "p/__init__.py": "x = 1\n"}
    one = project.project_build(_snap(base), "v1.0")
    assert one is not None and one.build_requires == ("hatchling",) and one.version == "1.0"
    edited = project.project_build(_snap({**base, "p/__init__.py": "x = 2\n"}), "v1.0")
    assert edited.key == one.key  # a fix of the code reuses the image
    assert project.project_build(_snap(base), "v1.1").key != one.key
    assert project.project_build(_snap({**base, "q/__init__.py": ""}), "v1.0").key != one.key
    assert one.files["p/__init__.py"] == b"x = 1\n"


@pytest.mark.parametrize(("files", "spec"), [
    ({"pyproject.toml": '[project]\nname = "p"\nrequires-python = ">=3.12"\n'}, ">=3.12"),
    ({"setup.cfg": "[options]\npython_requires = >=3.8, <4\n"}, ">=3.8, <4"),
    ({"setup.py": "setup(name='p', python_requires='>=3.7')\n"}, ">=3.7"),
    ({"setup.py": "setup(name='p')\n"}, ""),
])
def test_requires_python_is_read_where_each_build_declares_it(files, spec):
    assert project.requires_python(files) == spec


def test_a_python_the_project_excludes_is_bad_input_in_one_line():
    snap = _snap({"pyproject.toml": '[project]\nname = "p"\nrequires-python = ">=3.12"\n'})
    check_python(snap, "3.12.1")
    with pytest.raises(BadInput) as err:
        check_python(snap, "3.11.2")
    assert err.value.exit_code == 2
    assert "needs Python >=3.12" in str(err.value) and "3.11.2" in str(err.value)
    check_python(_snap({"pyproject.toml": '[project]\nname = "p"\nrequires-python = "~~3"\n'}),
                 "3.11.2")  # not a specifier: pip's own message, later, says so
