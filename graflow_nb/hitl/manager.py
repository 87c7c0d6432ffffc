"""graflow's ``graflow.hitl.manager`` (defined in ``core.feedback_manager``)."""

from ..core.runtime.feedback_manager import FeedbackManager

__all__ = ["FeedbackManager"]
