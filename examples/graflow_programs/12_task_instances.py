"""Task instances: one function, several configured tasks."""

from graflow import task, workflow
from graflow.core.workflow import current_workflow_context

with workflow("instances") as wf:

    @task
    def fetch_weather(city: str, unit: str = "C"):
        print(f"fetching {city} in {unit}")
        return f"{city}:{unit}"

    tokyo = fetch_weather(task_id="tokyo", city="Tokyo")
    paris = fetch_weather(task_id="paris", city="Paris", unit="F")

    @task
    def summary(tokyo, paris):
        print("summary:", tokyo, paris)
        return [tokyo, paris]

    tokyo >> paris >> summary
    print("same workflow:", current_workflow_context() is wf)
    print("result:", wf.execute("tokyo"))

    try:
        fetch_weather("Rome")
    except TypeError as error:
        print("TypeError:", str(error).split(".")[0])
