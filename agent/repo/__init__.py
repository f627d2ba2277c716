"""Repository mode: an existing git work tree as the unit of work (``codemend fix``).

``snapshot`` reads the repository (files, layout, tests, configuration) into a
``RepoSnapshot``; ``layout`` classifies its files; ``deps`` reads its declared
dependencies for the environment image (codemend.sandbox.envimage).
"""
