"""Hello, graflow: tasks, >>, a workflow, and calling a task directly."""

from graflow import task, workflow


@task
def hello():
    print("Hello, graflow!")
    return "hello"


# A task is still a function: run it on its own, outside any workflow.
print("direct run:", hello.run())
print("direct call:", hello())

with workflow("greeting") as wf:

    @task
    def extract():
        print("extract")
        return [1, 2, 3]

    @task
    def transform(extract):
        print("transform", extract)
        return [x * 10 for x in extract]

    @task
    def load(transform):
        print("load", transform)
        return sum(transform)

    extract >> transform >> load
    result = wf.execute("extract")
    print("result:", result)
