"""graflow's ``graflow.hitl.handler``: the callback base class (defined in ``core.feedback``).

graflow's webhook and Slack handlers post to the network; graflow_nb offers only the
base class: subclass it to notify whatever you use."""

from ..core.runtime.feedback import FeedbackHandler

__all__ = ["FeedbackHandler"]
