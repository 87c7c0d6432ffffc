"""Visualisation: the graph as text and as Mermaid, without running it."""

from graflow import task, workflow
from graflow.utils.graph import draw_mermaid, show_graph_info, visualize_dependencies

with workflow("etl") as wf:

    @task
    def extract():
        return 1

    @task
    def transform():
        return 2

    @task
    def load():
        return 3

    extract >> transform >> load
    graph = wf.graph.nx_graph()
    show_graph_info(graph)
    visualize_dependencies(graph)
    print(draw_mermaid(graph, with_styles=False))
    print(draw_mermaid(graph, title="ETL"))
