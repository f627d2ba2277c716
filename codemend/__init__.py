"""codemend. ``agent/`` and ``sandbox/`` live at the repository root; a wheel installs them as
``codemend.agent`` and ``codemend.sandbox``. In a checkout, ``codemend/agent`` and
``codemend/sandbox`` are symbolic links to those folders, so the same names resolve to the
same files for Python, type checkers, import-graph tools and IDEs alike."""
