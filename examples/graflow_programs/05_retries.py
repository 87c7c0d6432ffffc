"""Retries: a flaky task is tried again; a retry policy sets how many times."""

from graflow import RetryPolicy, TaskExecutionContext, task, workflow
from graflow.exceptions import RetryLimitExceededError

attempts = {"flaky": 0, "broken": 0}

with workflow("retries") as wf:

    @task(inject_context=True, retry_policy=RetryPolicy(max_retries=3, initial_interval=0.01))
    def flaky(ctx: TaskExecutionContext):
        attempts["flaky"] += 1
        print(f"flaky attempt {attempts['flaky']} (retry_count={ctx.retry_count}, max_retries={ctx.max_retries})")
        if attempts["flaky"] < 3:
            raise ConnectionError("service unavailable")
        return "connected"

    @task
    def use(flaky):
        print("using:", flaky)
        return flaky.upper()

    flaky >> use
    print("result:", wf.execute("flaky"))

with workflow("gives_up") as wf2:

    @task(max_retries=2)
    def broken():
        attempts["broken"] += 1
        raise ValueError(f"bad input #{attempts['broken']}")

    try:
        wf2.execute("broken")
    except RetryLimitExceededError as error:
        print("gave up:", type(error).__name__)
        print("task:", error.task_id, "retries:", error.retry_count, "of", error.max_retries)
        print("last error:", type(error.last_error).__name__, error.last_error)
    print("broken ran", attempts["broken"], "times")
