"""codemend, run from a checkout: ``agent/`` and ``sandbox/`` live at the repository root
and are installed as ``codemend.agent`` and ``codemend.sandbox``. In a checkout (an editable
install puts the root on ``sys.path``) this package's path also covers the root, so the same
names resolve to the same files. An installed wheel has no such file: there, ``codemend`` is
a plain namespace holding ``agent`` and ``sandbox``."""

import os as _os

_root = _os.path.dirname(_os.path.dirname(_os.path.abspath(__file__)))
if _os.path.isfile(_os.path.join(_root, "pyproject.toml")) and _os.path.isdir(_os.path.join(_root, "agent")):
    __path__.append(_root)  # noqa: F821 - a package's own __path__
