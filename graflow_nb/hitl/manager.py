"""graflow's ``graflow.hitl.manager`` (defined in ``core.feedback_manager``)."""

from ..core.feedback_manager import FeedbackManager

__all__ = ["FeedbackManager"]
