"""Warm pytest up in the zygote, once per pooled container, before any workspace exists.

Importing pytest (the zygote's preload) saves only part of a check's pytest start-up. A
fresh ``pytest.main`` also registers its ~37 built-in plugins, compiles the regular
expressions its reporters use and fills lookup caches on the way: ~40 ms of a ~90 ms run
of a small task at 1 CPU. So the zygote, which holds no check's data, does two things
ahead of need, both with trusted input only:

- ``warm_up``: one ``pytest.main`` on a tiny fixed suite of its own (a pass, an assertion
  failure, a parametrized test, a JUnit report), output to /dev/null, then it puts back
  what that run changed (sys.path, modules of the suite, cwd, the environment) and
  deletes the suite. Forked workers inherit the warm caches.
- ``prebuild``: the object ``_pytest.config.get_config`` returns (plugin manager, default
  plugins imported and registered), built for the runner's own pytest arguments. A forked
  pytest takes it through ``prebuilt(args)`` instead of building its own; everything
  after that step (ini files, conftests, collection, the run) is ``pytest.main`` as usual.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys

WARM_DIR = "/tmp/codemend-warm"
WARM_SUITE = {
    "warm_solution.py": "def double(x):\n    return 2 * x\n",
    "test_warm.py": (
        "import pytest\n"
        "from warm_solution import double\n\n\n"
        "def test_pass():\n    assert double(2) == 4\n\n\n"
        "def test_fail():\n    assert double(2) == {'a': [1, 2]}\n\n\n"
        "@pytest.mark.parametrize('x', [0, 1])\n"
        "def test_param(x):\n    with pytest.raises(TypeError):\n        double(None)\n"
    ),
}
_PREBUILT: dict = {}


def _plugin_flags(args: list[str]) -> list[str]:
    """The ``-p`` options of ``args``: the only ones ``get_config`` looks at."""
    return [a for i, a in enumerate(args) if a == "-p" or (i and args[i - 1] == "-p")]


def warm_up(args_for) -> None:
    """Run pytest once on the fixed suite; ``args_for(workdir, junit, paths)`` gives the
    runner's pytest arguments. Leaves no file and no trace of the suite behind."""
    import pytest

    saved_path, saved_cwd = list(sys.path), os.getcwd()
    saved_env, saved_modules = dict(os.environ), set(sys.modules)
    saved_fds = [os.dup(fd) for fd in (0, 1, 2)]
    null = os.open(os.devnull, os.O_RDWR)
    try:
        os.makedirs(WARM_DIR, mode=0o700)
        for name, text in WARM_SUITE.items():
            with open(os.path.join(WARM_DIR, name), "w") as fh:
                fh.write(text)
        for fd in (0, 1, 2):  # the channel is on 0-2: pytest must not write to it
            os.dup2(null, fd)
        os.chdir(WARM_DIR)
        sys.path.insert(0, WARM_DIR)
        with contextlib.suppress(Exception):
            pytest.main(args_for(WARM_DIR, os.path.join(WARM_DIR, "junit.xml"), ["."]))
    finally:
        for stream in (sys.stdout, sys.stderr):  # what pytest buffered goes to /dev/null
            with contextlib.suppress(Exception):
                stream.flush()
        for fd, saved in enumerate(saved_fds):
            os.dup2(saved, fd)
            os.close(saved)
        os.close(null)
        os.chdir(saved_cwd)
        sys.path[:] = saved_path
        os.environ.clear()
        os.environ.update(saved_env)
        for name in set(sys.modules) - saved_modules:
            if _from_warm_dir(sys.modules[name]):
                del sys.modules[name]
        for key in [k for k in sys.path_importer_cache if str(k).startswith(WARM_DIR)]:
            del sys.path_importer_cache[key]
        import linecache
        for key in [k for k in linecache.cache if str(k).startswith(WARM_DIR)]:
            del linecache.cache[key]
        shutil.rmtree(WARM_DIR, ignore_errors=True)


def _from_warm_dir(module) -> bool:
    return str(getattr(module, "__file__", None) or "").startswith(WARM_DIR)


def prebuild(args: list[str]) -> None:
    """Build what ``get_config(args)`` returns for arguments with these ``-p`` options."""
    from _pytest.config import get_config
    _PREBUILT["flags"] = _plugin_flags(args)
    _PREBUILT["config"] = get_config(args, None, prog="pytest.main()")


@contextlib.contextmanager
def prebuilt(args: list[str]):
    """Within: the next ``get_config`` call (the one ``pytest.main(args)`` makes) returns
    the prebuilt config, given this call's arguments and cwd. Falls back to a fresh one
    when the ``-p`` options differ or nothing was prebuilt."""
    import pathlib

    import _pytest.config as config_module
    real = config_module.get_config
    config = _PREBUILT.pop("config", None)

    def get_config(args=None, plugins=None, *, prog=None):
        config_module.get_config = real  # one use only
        if config is None or _plugin_flags(list(args or ())) != _PREBUILT.get("flags"):
            return real(args, plugins, prog=prog)
        config.invocation_params = config_module.Config.InvocationParams(
            args=args or (), plugins=plugins, dir=pathlib.Path.cwd())
        return config

    config_module.get_config = get_config
    try:
        yield
    finally:
        config_module.get_config = real
