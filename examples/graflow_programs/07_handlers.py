"""Custom handlers: decide how a task runs (here: log around it)."""

from graflow import task, workflow
from graflow.core.context import ExecutionContext
from graflow.core.engine import WorkflowEngine
from graflow.core.handler import TaskHandler

log = []


class LoggingHandler(TaskHandler):
    def execute_task(self, task, context):
        log.append(f"start {task.task_id}")
        result = task.run()
        context.set_result(task.task_id, result)
        log.append(f"end {task.task_id} -> {result}")


with workflow("handlers") as wf:

    @task(handler="logging")
    def measured():
        print("measured is running")
        return 42

    @task
    def plain(measured):
        print("plain got", measured)
        return measured + 1

    measured >> plain

    engine = WorkflowEngine()
    engine.register_handler("logging", LoggingHandler())
    context = ExecutionContext.create(wf.graph, "measured", max_steps=10)
    engine.execute(context)
    print("plain result:", context.get_result("plain"))
    print("log:", log)
