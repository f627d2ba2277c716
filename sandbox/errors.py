"""Errors sorted by who is at fault. Sandbox *checks* never raise: they return reports."""

from __future__ import annotations


class CodemendError(Exception):
    """Base of every error codemend reports to a user. ``exit_code`` is the CLI's."""

    exit_code = 1


class BadInput(CodemendError):
    """The user's input (paths, flags, spec) is wrong; what to fix is in the message."""

    exit_code = 2


class InfraError(CodemendError):
    """Infrastructure is broken or unreachable (Docker down, image build failed)."""

    exit_code = 4


class DockerUnavailable(InfraError):
    """The Docker daemon cannot be reached."""


class ImageBuildError(InfraError):
    """The sandbox image could not be built."""
