"""The builder: compose by clicks, see the graph, get a %%graflow cell that rebuilds it."""

from __future__ import annotations

import pytest

from graflow_nb.notebook import BuilderWidget
from graflow_nb.notebook.builder import candidate_names

pytestmark = pytest.mark.timeout(60)


def namespace():
    def fetch():
        return {"rows": 3}

    def clean(fetch):
        return fetch["rows"] * 2

    def enrich(fetch):
        return fetch["rows"] + 1

    def store(clean, enrich):
        return clean + enrich

    return {"fetch": fetch, "clean": clean, "enrich": enrich, "store": store, "_private": fetch, "n": 3}


def test_candidates_are_public_functions_and_tasks():
    assert candidate_names(namespace()) == ["fetch", "clean", "enrich", "store"]  # as defined


def test_compose_by_clicking_and_build():
    builder = BuilderWidget(namespace(), name="etl")
    builder.picker.value = ("fetch",)
    builder.then_button.click()
    builder.picker.value = ("clean",)
    builder.then_button.click()
    builder.picker.value = ("enrich",)
    builder.alongside_button.click()
    builder.picker.value = ("store",)
    builder.then_button.click()
    assert builder.expression == "fetch >> (clean | enrich) >> store"
    assert builder.code == "%%graflow etl\nfetch >> (clean | enrich) >> store\n"
    assert "<svg" in builder.picture.value and builder.status.value == ""
    wf = builder.build()
    assert wf.name == "etl" and wf.execute("fetch") == 10
    builder.undo_button.click()
    assert builder.expression == "fetch >> (clean | enrich)"
    builder.clear_button.click()
    assert builder.expression == "" and builder.code == "" and builder.picture.value == ""


def test_a_single_stage_and_a_parallel_first_stage():
    builder = BuilderWidget(namespace(), pictures=False)
    builder.then("fetch")
    assert builder.build().graph.describe() == "TaskGraph: 1 nodes, 0 edges\n  fetch -> -"
    builder.clear()
    builder.alongside("clean", "enrich")
    assert builder.expression == "clean | enrich"
    assert sorted(builder.build().graph.nodes) == ["ParallelGroup_1", "clean", "enrich"]


def test_a_mistake_shows_in_the_status_line():
    builder = BuilderWidget(namespace(), pictures=False)
    builder.then("fetch")
    builder.then("fetch")
    assert "color:#b00" in builder.status.value


def test_the_code_is_shown_once_and_rebuilds_the_same_graph(ip, cell, capsys):
    ip.user_ns.update(namespace())
    builder = BuilderWidget(pictures=False)  # the shell's namespace
    builder.name.value = "rebuilt"
    builder.then("fetch")
    builder.then("clean", "enrich")
    builder.then("store")
    shown = [child for child in builder.children if "%%graflow rebuilt" in getattr(child, "value", "")]
    assert [c.value for c in shown] == ["<pre>%%graflow rebuilt\nfetch &gt;&gt; (clean | enrich) &gt;&gt; store\n</pre>"]
    assert not hasattr(builder, "print_button")  # no second copy of the same code
    ran = cell(builder.code.replace("%%graflow rebuilt", "%%graflow rebuilt --no-render"))
    assert ran.error is None
    assert ip.user_ns["rebuilt"].graph.describe() == builder.build().graph.describe()


def notebook_namespace():
    """What a kernel's namespace holds: the user's own functions (``__module__`` is
    ``__main__``), IPython's ``open``, graflow's helpers and imported functions."""
    import posixpath

    import graflow_nb
    from graflow_nb import task

    namespace = {"__name__": "__main__", "open": open, "task": task, "workflow": graflow_nb.workflow,
                 "join": posixpath.join, "n": 3}
    exec(
        "def fetch(): return 1\n"
        "def fetch_more(fetch): return fetch + 1\n"
        "def store(fetch_more): return fetch_more\n"
        "@task\n"
        "def report(store): return store\n",
        namespace,
    )
    return namespace


def test_only_the_notebooks_own_functions_and_tasks_are_offered():
    from IPython.core.interactiveshell import InteractiveShell

    namespace = notebook_namespace()
    namespace["ipython_open"] = InteractiveShell._showtraceback  # a function IPython defines
    assert candidate_names(namespace) == ["fetch", "fetch_more", "store", "report"]


def test_the_filter_narrows_the_list_and_the_box_fits_it():
    builder = BuilderWidget(notebook_namespace(), pictures=False)
    assert builder.picker.options == ("fetch", "fetch_more", "store", "report")
    assert builder.picker.rows == 4
    builder.picker.value = ("fetch",)
    builder.filter.value = "FETCH"
    assert builder.picker.options == ("fetch", "fetch_more")
    assert builder.picker.rows == 2
    assert builder.picker.value == ("fetch",)
    builder.filter.value = "st"
    assert builder.picker.options == ("store",) and builder.picker.value == ()
    builder.filter.value = "nothing like it"
    assert builder.picker.options == () and builder.picker.rows == 1
    builder.filter.value = ""
    assert len(builder.picker.options) == 4


def test_a_long_list_stops_growing_at_max_rows():
    from graflow_nb.notebook.builder import MAX_ROWS

    namespace = {"__name__": "__main__"}
    exec("".join(f"def step_{i:02}(): return {i}\n" for i in range(40)), namespace)
    builder = BuilderWidget(namespace, pictures=False)
    assert len(builder.picker.options) == 40 and builder.picker.rows == MAX_ROWS


def test_helpers_and_other_workflows_tasks_are_not_offered_and_members_keep_their_order():
    """A first analysis's namespace: a helper the tasks call, a workflow built earlier
    with its own tasks, and models defined ridge before forest before boost."""
    namespace = {"__name__": "__main__"}
    exec(
        "from graflow_nb import task, workflow\n"
        "def score(values): return sum(values) / len(values)\n"
        "with workflow('earlier') as earlier:\n"
        "    @task\n"
        "    def old_load(): return 1\n"
        "def load(): return [1, 2]\n"
        "def ridge(load): return score(load)\n"
        "def forest(load): return score(load) + 1\n"
        "def boost(load): return score(load) + 2\n"
        "def compare(ridge, forest, boost): return ridge, forest, boost\n",
        namespace,
    )
    assert candidate_names(namespace) == ["load", "ridge", "forest", "boost", "compare"]
    builder = BuilderWidget(namespace, name="models", pictures=False)
    builder.picker.value = ("load",)
    builder.then_button.click()
    builder.picker.value = ("boost", "ridge", "forest")  # picked in any order: they join as defined
    builder.then_button.click()
    builder.picker.value = ("compare",)
    builder.then_button.click()
    assert builder.expression == "load >> (ridge | forest | boost) >> compare"
    assert builder.build().execute("load") == (1.5, 2.5, 3.5)
