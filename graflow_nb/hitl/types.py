"""graflow's ``graflow.hitl.types`` (defined in ``core.feedback``)."""

from ..core.runtime.feedback import FeedbackRequest, FeedbackResponse, FeedbackTimeoutError, FeedbackType

__all__ = ["FeedbackRequest", "FeedbackResponse", "FeedbackTimeoutError", "FeedbackType"]
