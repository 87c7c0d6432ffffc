"""graflow's ``graflow.coordination.coordinator``: ``CoordinationBackend`` (see ``core.backends``)."""

from ..core.backends import CoordinationBackend

__all__ = ["CoordinationBackend"]
