"""Repository mode: an existing git work tree as the unit of work (``codemend fix``).

``snapshot`` reads the repository (files, layout, tests, configuration) into a
``RepoSnapshot``; ``layout`` classifies its files; ``deps`` reads its declared
dependencies for the environment image (codemend.sandbox.envimage). The loop's half:
``baseline`` (targets, flaky tests), ``context`` and ``repomap`` (what the model sees),
``edits`` (whole files, SEARCH/REPLACE and unified diffs; ``edit_*`` modules), ``verify``
(what counts as fixed), ``kind`` (the repository kind of task, agent/kinds.py), ``store``
(base snapshots and baselines), ``output`` and ``git`` (patch, report, --apply, --branch).
"""
