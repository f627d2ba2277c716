"""The CI bot: ``codemend ci github propose`` (read-only) and ``publish`` (writes).

Two halves because the half that runs model-written code must hold no write token, and the
half that holds the token must never run what the first half produced: it only vets the
artifact (a patch and a few JSON files) and talks to git and the GitHub REST API.
"""
