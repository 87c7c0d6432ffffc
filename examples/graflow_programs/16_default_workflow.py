"""Tasks defined outside any `with workflow(...)` join the default workflow;
current_workflow_context() runs them."""

from graflow.core.decorators import task
from graflow.core.workflow import current_workflow_context, workflow


def define_pipeline():
    @task
    def fetch_prices():
        print("fetching prices")
        return [3, 1, 2]

    @task
    def rank_prices(fetch_prices):
        ranked = sorted(fetch_prices)
        print("ranked:", ranked)
        return ranked

    fetch_prices >> rank_prices


def define_lonely():
    @task
    def housekeeping():
        print("housekeeping in the default workflow:", current_workflow_context() is default)
        return "clean"


define_pipeline()
default = current_workflow_context()
print("result:", default.execute())  # no start node: the root, fetch_prices

with workflow("explicit") as explicit:

    @task
    def inside():
        print("inside runs in:", current_workflow_context().name)
        return "inside"

    print("explicit result:", explicit.execute("inside"))

define_lonely()
print("housekeeping result:", current_workflow_context().execute("housekeeping"))
print("same default after the block:", current_workflow_context() is default)
