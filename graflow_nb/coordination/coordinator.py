"""graflow's ``graflow.coordination.coordinator``: ``CoordinationBackend`` (see ``core.backends``)."""

from ..core.model.backends import CoordinationBackend

__all__ = ["CoordinationBackend"]
