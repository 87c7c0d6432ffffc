"""graflow's ``graflow.hitl.types`` (defined in ``core.feedback``)."""

from ..core.feedback import FeedbackRequest, FeedbackResponse, FeedbackTimeoutError, FeedbackType

__all__ = ["FeedbackRequest", "FeedbackResponse", "FeedbackTimeoutError", "FeedbackType"]
