"""Values, and how branches' changes to them fold: the session channels (a root's
memory channel, a branch's overlay), the isolation that keeps a branch's writes its
own, the merge of branch channels at a group's end, and graflow's typed channel.
Imports only core's ground modules (errors, checks); never the model or the runtime."""
