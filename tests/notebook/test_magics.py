"""``%%graflow`` and ``%graflow`` in a real IPython shell: building, running, errors,
interrupts, and the line-magic commands."""

from __future__ import annotations

import sys
import threading

import pytest
from IPython.core.error import UsageError

import graflow_nb
from graflow_nb.core.workflow import WorkflowContext
from graflow_nb.debug import Debugger
from graflow_nb.notebook import DebuggerWidget, GraflowMagics

WIDGET = "application/vnd.jupyter.widget-view+json"

pytestmark = pytest.mark.timeout(60)

PLAIN = """
calls = []
def fetch():
    calls.append("fetch")
    return {"rows": 3}
def clean(fetch):
    calls.append("clean")
    return fetch["rows"] * 2
def enrich(fetch):
    calls.append("enrich")
    return fetch["rows"] + 1
def store(clean, enrich):
    calls.append("store")
    return clean + enrich
"""


def test_load_ext_registers_both_magics(ip):
    assert ip.find_cell_magic("graflow") is not None
    assert ip.find_line_magic("graflow") is not None
    assert isinstance(ip.magics_manager.registry["GraflowMagics"], GraflowMagics)


def test_load_ext_graflow_nb_itself_registers_the_magics(ip, cell):
    """``%load_ext graflow_nb`` (what the README and binder's postBuild say) must work on
    its own: the fixture's magics are removed first so only the package hook can bring
    them back."""
    assert callable(graflow_nb.load_ipython_extension)
    ip.magics_manager.magics["cell"].pop("graflow")
    ip.magics_manager.magics["line"].pop("graflow")
    ip.magics_manager.registry.pop("GraflowMagics")
    ip.extension_manager.loaded.discard("graflow_nb")
    assert ip.find_cell_magic("graflow") is None
    loaded = cell("%load_ext graflow_nb")
    assert loaded.error is None and loaded.text == ""
    assert ip.find_cell_magic("graflow") is not None and ip.find_line_magic("graflow") is not None
    assert isinstance(ip.magics_manager.registry["GraflowMagics"], GraflowMagics)


def test_help_is_the_docstring_with_the_options(ip, cell):
    doc = ip.find_cell_magic("graflow").__doc__
    for option in ("--run", "--live", "--step", "--session-id", "--max-workers", "--policy", "--no-render"):
        assert option in doc
    assert "Plain functions" in doc
    assert cell("%%graflow?").error is None
    line_doc = ip.find_line_magic("graflow").__doc__
    assert all(c in line_doc for c in ("show", "run", "sessions", "tasks", "events", "step"))


def test_plain_functions_from_earlier_cells_are_wired_and_run(ip, cell):
    cell(PLAIN)
    ran = cell("%%graflow etl --run --session-id 4821 --no-render\nfetch >> (clean | enrich) >> store\n")
    assert ran.error is None
    assert ran.text.splitlines() == ["etl: succeeded, 4 tasks in 3 sessions, result 10", f"Out[{ran.result.execution_count}]: 10"]
    wf = ip.user_ns["etl"]
    assert isinstance(wf, WorkflowContext) and wf.name == "etl"
    assert wf.last_run.root_session_id == "4821"
    assert sorted(ip.user_ns["calls"][1:3]) == ["clean", "enrich"] and ip.user_ns["calls"][0] == "fetch"
    assert wf.last_run.task_counts() == {"fetch": 1, "ParallelGroup_1": 1, "clean": 1, "enrich": 1, "store": 1}
    assert ip.user_ns["fetch"]() == {"rows": 3}  # the name still holds the plain function
    assert ran.outputs == []


def test_functions_defined_in_the_cell_and_ordinary_operators(ip, cell):
    ran = cell(
        "%%graflow inline --no-render\n"
        "def a() -> int | None: return 1\n"
        "def b(a): return a + 1\n"
        "bits = (6 | 1, 1 << 3, 64 >> 2, {1} | {2})\n"
        "a >> b\n"
        "a >> b\n"
    )
    assert ran.error is None, ran.text
    assert ip.user_ns["bits"] == (7, 8, 16, {1, 2})
    wf = ip.user_ns["inline"]
    assert wf.graph.edges == [("a", "b")]
    assert wf.execute() == 2


def test_a_lone_function_is_a_one_task_workflow(ip, cell):
    cell("def only(): return 'x'")
    assert cell("%%graflow solo --run --no-render\nonly\n").text.splitlines()[0].endswith("result 'x'")


def test_decorated_tasks_work_as_in_a_with_block(ip, cell):
    ran = cell(
        "%%graflow deco --run fetch --no-render\n"
        "from graflow_nb import task\n"
        "@task\n"
        "def fetch(): return 2\n"
        "@task\n"
        "def double(fetch): return fetch * 2\n"
        "fetch >> double\n"
    )
    assert ran.error is None and ran.text.splitlines()[0].endswith("result 4") and ran.result.result == 4


def test_the_graph_is_drawn_below_the_cell_unless_no_render(cell):
    cell(PLAIN)
    ran = cell("%%graflow drawn\nfetch >> clean\n")
    assert "image/svg+xml" in ran.mimetypes()
    assert cell("%%graflow quiet --no-render\nfetch >> clean\n").outputs == []
    ran = cell("%%graflow ran_drawn --run\nfetch >> clean\n")
    assert "image/svg+xml" in ran.mimetypes()


@pytest.mark.parametrize(
    "line, message",
    [
        ("%%graflow", "the following arguments are required: name"),
        ("%%graflow 9lives", "'9lives' is not a valid Python name"),
        ("%%graflow w --bogus", "unrecognized arguments: --bogus"),
        ("%%graflow w --max-workers zero", "invalid int value"),
        ("%%graflow w --max-workers 0", "--max-workers must be at least 1"),
        ("%%graflow w --policy sometimes", "--policy sometimes"),
    ],
)
def test_bad_flags_are_one_line_usage_errors(cell, line, message):
    ran = cell(f"{line}\npass\n")
    assert isinstance(ran.error, UsageError)
    assert message in ran.text and len(ran.text.strip().splitlines()) == 1


def test_line_magic_usage_errors(cell):
    assert "invalid choice: 'frobnicate'" in cell("%graflow frobnicate").text
    assert "no workflow yet" in cell("%graflow show").text
    cell("x = 3")
    assert "'x' is not a workflow (the namespace holds a int" in cell("%graflow show x").text
    cell(PLAIN)
    cell("%%graflow never --no-render\nfetch >> clean\n")
    ran = cell("%graflow sessions")
    assert isinstance(ran.error, UsageError) and "has not run yet: %graflow run never" in ran.text


def test_a_failing_task_shows_the_users_frames_only(cell):
    cell(PLAIN)
    ran = cell(
        "%%graflow broken --run --session-id 7 --no-render\n"
        "def explode(fetch):\n"
        "    raise ValueError('no rows today')\n"
        "fetch >> explode\n"
    )
    assert isinstance(ran.error, ValueError)
    text = ran.text
    assert "broken: failed (ValueError) in explode (session 7) after fetch" in text
    assert "----> 3     raise ValueError('no rows today')" in text
    assert "raised by task 'explode' in session '7'" in text
    for engine in ("engine.py", "coordinator.py", "magics.py", "threading.py", "running.py"):
        assert engine not in text
    assert len(text.splitlines()) < 20


def test_a_failing_branch_shows_the_user_frame_then_the_group_error_at_the_cell(cell):
    cell(PLAIN)
    ran = cell("%%graflow branchy --run --no-render\ndef boom(fetch):\n    raise KeyError('k')\nfetch >> (clean | boom)\n")
    text = ran.text
    assert type(ran.error).__name__ == "ParallelGroupError"
    assert "----> 3     raise KeyError('k')" in text
    assert "----> 1 # %%graflow branchy --run --no-render" in text
    assert "coordinator.py" not in text and "magics.py" not in text


def test_an_error_while_wiring_points_at_the_cell_line(cell):
    cell(PLAIN)
    ran = cell("%%graflow typo\nfetch >> clean\nfetch >> claen\n")
    assert isinstance(ran.error, NameError)
    assert "----> 3 fetch >> claen" in ran.text and "wiring.py" not in ran.text


def test_a_syntax_error_in_the_body_names_the_cell_line(cell):
    ran = cell("%%graflow syn\nx = 1\ny = (\n")
    assert isinstance(ran.error, UsageError)
    assert ran.text.strip() == "UsageError: SyntaxError in the cell, line 3: '(' was never closed\n    y = ("


def test_options_reach_the_run(ip, cell):
    cell(PLAIN)
    cell("def boom(fetch): raise ValueError('x')")
    ran = cell("%%graflow opts --run --session-id S1 --max-workers 3 --policy best_effort --no-render\nfetch >> (clean | boom)\n")
    assert ran.error is None, ran.text
    run = ip.user_ns["opts"].last_run
    assert (run.root_session_id, run.max_workers, run.status) == ("S1", 3, "succeeded")


def test_live_passes_through_to_the_live_view(ip, cell, monkeypatch):
    core_workflow = sys.modules["graflow_nb.core.workflow"]  # the package's `workflow` name is the function

    seen = []

    class View:
        def start(self, run):
            seen.append("start")

        def observe(self, event):
            seen.append(str(event.kind))

        def finish(self, run):
            seen.append("finish")

    monkeypatch.setattr(core_workflow, "LIVE_VIEW_FACTORY", lambda wf, options: View())
    cell(PLAIN)
    ran = cell("%%graflow lively --run --live\nfetch >> clean\n")
    assert ran.error is None
    assert "start" in seen and seen[-1] == "finish" and "task_finished" in seen
    assert "image/svg+xml" not in ran.mimetypes()  # the live view is the drawing


def test_line_magic_commands_on_the_last_or_a_named_workflow(ip, cell):
    cell(PLAIN)
    cell("%%graflow etl --no-render\nfetch >> (clean | enrich) >> store\n")
    ran = cell("%graflow show")
    assert ran.result.result.__class__.__name__ == "GraphRender"  # a Render (draw_graph's, see GraphView)
    ran = cell("%graflow run --session-id 4821 --no-render")
    assert ran.text.strip() == "etl: succeeded, 4 tasks in 3 sessions, result 10"
    ran = cell("%graflow sessions etl --no-render")
    assert ran.text.splitlines()[0].startswith("4821  closed  enqueued 2 dequeued 2")
    assert cell("%graflow sessions").result.result.__class__.__name__ == "Render"
    tasks = cell("%graflow tasks").result.result
    assert sorted(tasks["task_id"]) == ["ParallelGroup_1", "clean", "enrich", "fetch", "store"]
    assert list(tasks.columns) == list(ip.user_ns["etl"].last_run.frames.tasks().columns)
    events = cell("%graflow events etl").result.result
    assert list(events.columns) == ["time", "kind", "session_id", "task_id", "thread", "attempt", "state", "data"]
    assert events["kind"].iloc[0] == "run_started" and events["kind"].iloc[-1] == "run_finished"
    assert (events["kind"] == "branch_merged").sum() == 2
    ran = cell("widget = %graflow step --session-id 9")
    widget = ip.user_ns["widget"]
    assert isinstance(widget, DebuggerWidget)
    assert [(s["session_id"], s["next_task"]) for s in widget.debugger.state()] == [("9", "fetch")]


def test_step_flag_opens_the_debugger_instead_of_running(ip, cell):
    cell(PLAIN)
    ran = cell("%%graflow dbg_me --step --session-id 4821\nfetch >> (clean | enrich) >> store\n")
    assert ran.error is None and WIDGET in ran.mimetypes()
    assert ip.user_ns["calls"] == []
    debugger = ip.magics_manager.registry["GraflowMagics"].debuggers["dbg_me"]
    assert isinstance(debugger, Debugger) and debugger.held() == ["4821"]
    debugger.step()
    assert ip.user_ns["calls"] == ["fetch"]
    cell("%graflow step dbg_me --session-id 4821")  # a new debugger replaces (and cancels) the old one
    assert debugger.finished and debugger.status == "cancelled"


def test_a_new_step_closes_the_previous_widget_of_that_workflow(ip, cell):
    """ipywidgets keeps a widget until it is closed, and the old widget's buttons reach
    the old debugger and its run: the magic closes it with its debugger."""
    from ipywidgets.widgets.widget import _instances

    cell(PLAIN)
    cell("%%graflow dbg_me --session-id 4821\nfetch >> (clean | enrich) >> store\n")
    cell("first = %graflow step dbg_me --session-id 4821")
    first = ip.user_ns["first"]
    assert first.model_id in _instances and first.step_button.model_id in _instances
    cell("second = %graflow step dbg_me --session-id 4822")
    second = ip.user_ns["second"]
    assert first.comm is None and first.step_button.comm is None  # closed, every part
    assert first.debugger.finished and first.debugger.status == "cancelled"
    assert second.model_id in _instances and second.debugger.held() == ["4822"]


INTERRUPTING = """
import _thread, time
from graflow_nb import task
from instruments import wait_for_main_thread_in, wait_until
calls = []

def interrupt_and_wait(ctx):
    # what Jupyter's interrupt button does, once the cell waits for the run; then keep
    # working until the run is cancelled
    wait_for_main_thread_in("_wait")
    _thread.interrupt_main()
    wait_until(lambda: ctx.cancelled, "the interrupt to cancel the run")

@task(inject_context=True)
def fetch(ctx):
    calls.append("fetch")
    interrupt_and_wait(ctx)
    return 1
def transform_a(fetch):
    calls.append("transform_a")
    return 2
def transform_b(fetch):
    calls.append("transform_b")
    return 3
def store(transform_a, transform_b):
    calls.append("store")
"""


def _cell_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("graflow-cell")]


@pytest.mark.usefixtures("real_ctrl_c")  # a real SIGINT: see conftest
def test_interrupting_the_kernel_cancels_the_run_cleanly(ip, cell):
    cell(INTERRUPTING)
    ran = cell("%%graflow intr --run --session-id I --no-render\nfetch >> (transform_a | transform_b) >> store\n")
    assert ran.error is None, ran.text
    assert ran.text.strip().splitlines() == [
        "intr: stopping run I; waiting for fetch (I)",  # printed at once, before it stops
        "intr: interrupted; run I cancelled after no task; stopped: fetch; not run: transform_a, transform_b, store",
    ]
    run = ip.user_ns["intr"].last_run
    assert run.status == "cancelled"
    assert [(t.task_id, t.status) for t in run.task_runs] == [("fetch", "cancelled")]  # stopped inside its loop
    assert {s.session_id: s.state for s in run.sessions.values()} == {"I": "cancelled"}
    assert not _cell_threads()
    assert ip.user_ns["calls"] == ["fetch"]  # nothing ran after the interrupt, nor later
    assert cell("1 + 1").result.result == 2  # the next cell works


@pytest.mark.usefixtures("real_ctrl_c")  # a real SIGINT: see conftest
def test_interrupting_inside_a_branch_stops_the_other_branches_and_the_sink(ip, cell):
    cell(INTERRUPTING)
    cell(
        "import threading\n"
        "b_busy = threading.Event()\n"
        "def src(): return 0\n"
        "@task(inject_context=True)\n"
        "def a(ctx, src):\n"
        "    calls.append('a')\n"
        "    b_busy.wait(10)  # interrupt while b is mid-task\n"
        "    interrupt_and_wait(ctx)\n"
        "@task(inject_context=True)\n"
        "def b(ctx, src):\n"
        "    b_busy.set()\n"
        "    while not ctx.cancelled:  # still busy when the interrupt comes\n"
        "        time.sleep(0.005)\n"
        "    calls.append('b')\n"
        "def b2(b): calls.append('b2')\n"
        "def sink(): calls.append('sink')\n"
    )
    ran = cell("%%graflow intr2 --run --session-id J --no-render\nsrc >> (a | (b >> b2)) >> sink\n")
    assert "intr2: interrupted" in ran.text
    run = ip.user_ns["intr2"].last_run
    assert run.status == "cancelled"
    assert not _cell_threads()  # the cell returned after the run's threads ended ...
    # ... b, a Python loop, was stopped inside its task by the interrupt; b2 and sink never ran
    assert ip.user_ns["calls"] == ["a"]
    assert {(tr.task_id, tr.status) for tr in run.task_runs if tr.task_id in ("a", "b")} == {
        ("a", "cancelled"), ("b", "cancelled"),
    }
    assert run.skipped == []  # b never finished, so b2 was never queued, nor the sink
    assert [tr.task_id for tr in run.finished_runs()] == ["src", "ParallelGroup_1", "a", "b"]


def test_a_run_waiting_for_input_shows_a_form(ip, cell):
    ran = cell(
        "%%graflow asking --run --session-id Q --no-render\n"
        "from graflow_nb import task\n"
        "@task(inject_context=True)\n"
        "def ask(ctx):\n"
        "    return ctx.request_approval('Ship it?')\n"
        "@task\n"
        "def after(ask):\n"
        "    return 'shipped' if ask else 'held back'\n"
        "ask >> after\n"
    )
    assert ran.error is None, ran.text
    assert ran.outputs[0] == {"text/plain": "asking: paused, waiting for input in Q"}
    assert WIDGET in ran.mimetypes()
    assert ip.user_ns["asking"].resume("Q", True) == "shipped"


def test_answering_redraws_the_summary_and_the_picture_above_the_form(ip):
    """The cell's summary line and picture are display handles: answering the form
    updates both, in place, to the resumed run's end."""
    from IPython.utils.capture import capture_output
    from ipywidgets.widgets.widget import _instances as widget_instances

    from graflow_nb.notebook import HumanInputPanel

    source = (
        "%%graflow asking2 --run --session-id Q\n"
        "@task(inject_context=True)\n"
        "def ask(ctx):\n"
        "    return ctx.request_approval('Ship it?')\n"
        "@task\n"
        "def after(ask):\n"
        "    return 'shipped' if ask else 'held back'\n"
        "ask >> after\n"
    )
    with capture_output() as shown:
        ip.run_cell(source, store_history=True)
    summary, picture, form = shown.outputs
    assert summary.data == {"text/plain": "asking2: paused, waiting for input in Q"}
    assert picture.data["text/plain"].splitlines()[1] == "asking2: run Q paused, 0/2 tasks done, 1 sessions"
    panel = widget_instances[form.data[WIDGET]["model_id"]]
    assert isinstance(panel, HumanInputPanel)
    with capture_output() as redrawn:
        panel.forms["Q"].approve_button.click()
    new_summary, new_picture = redrawn.outputs
    assert new_summary.update and new_picture.update
    ids = [o.transient["display_id"] for o in (summary, picture)]
    assert [o.transient["display_id"] for o in (new_summary, new_picture)] == ids
    assert new_summary.data == {"text/plain": "asking2: succeeded, 2 tasks in 1 sessions, result 'shipped'"}
    assert new_picture.data["text/plain"].splitlines()[1] == "asking2: run Q succeeded, 2/2 tasks done, 1 sessions"
    assert ip.user_ns["asking2"].last_run.status == "succeeded"


def test_task_parallel_and_chain_need_no_import_in_a_cell(ip, cell):
    assert "task" not in ip.user_ns
    ran = cell(
        "%%graflow bare --run --session-id B --no-render\n"
        "@task\n"
        "def first(): return 1\n"
        "@task\n"
        "def left(first): return first + 1\n"
        "@task\n"
        "def right(first): return first + 2\n"
        "@task\n"
        "def last(left, right): return left * right\n"
        "chain(first, parallel(left, right), last)\n"
    )
    assert ran.error is None, ran.text
    assert ran.text.splitlines() == ["bare: succeeded, 4 tasks in 3 sessions, result 6", f"Out[{ran.result.execution_count}]: 6"]
    assert ip.user_ns["bare"].last_run.task_counts() == {"first": 1, "ParallelGroup_1": 1, "left": 1, "right": 1, "last": 1}
    from graflow_nb import chain, parallel, task

    assert (ip.user_ns["task"], ip.user_ns["parallel"], ip.user_ns["chain"]) == (task, parallel, chain)


def test_a_name_the_user_bound_is_not_replaced(ip, cell):
    ip.user_ns["chain"] = "my own chain"
    ran = cell("%%graflow keep --no-render\n@task\ndef only(): return 1\n")
    assert ran.error is None, ran.text
    assert ip.user_ns["chain"] == "my own chain"
    assert list(ip.user_ns["keep"].graph.nodes) == ["only"]


def test_the_help_says_the_cell_is_the_body_and_needs_no_import(ip):
    doc = " ".join(ip.magics_manager.magics["cell"]["graflow"].__doc__.split())
    assert "The cell is the workflow's body: Python run inside ``with workflow(NAME)``." in doc
    assert "``task``, ``parallel`` and ``chain`` need no import" in doc


RESUMABLE = """
from graflow_nb import task, workflow
ran = []
with workflow("orders") as orders:
    @task
    def load():
        ran.append("load")
        return 2
    @task(inject_context=True)
    def approve(ctx, load):
        ran.append("approve")
        return ctx.request_approval(f"ship {load} orders?")
    @task
    def ship(approve):
        ran.append("ship")
        return "shipped" if approve else "held"
    load >> approve >> ship
"""


def summary_of(ran) -> str:
    return " ".join(o.get("text/plain", "") for o in ran.outputs)


def test_resume_continues_a_saved_run_in_a_fresh_namespace(ip, cell, tmp_path):
    assert cell(RESUMABLE).error is None
    ran = cell(f"%graflow run orders --session-id O --checkpoint-dir {tmp_path} --no-render")
    assert ran.error is None and "orders: paused, waiting for input in O" in summary_of(ran)
    ip.run_line_magic("reset", "-f")  # as good as a new kernel: nothing of the run is left
    assert cell(RESUMABLE).error is None

    ran = cell(f"%graflow resume {tmp_path / 'O.pkl'} --no-render")
    assert ran.error is None and "orders: paused, waiting for input in O" in summary_of(ran)  # and the form again
    assert WIDGET in ran.mimetypes()
    assert ip.user_ns["ran"] == []  # nothing runs again: load finished, approve has no answer yet
    run = ip.user_ns["orders"].last_run
    assert run.resumed_at() is not None and [p.session_id for p in run.pending_inputs()] == ["O"]
    assert run.resume("O", True) == "shipped"
    assert ip.user_ns["ran"] == ["approve", "ship"]
    assert run.task_counts() == {"load": 1, "approve": 1, "ship": 1}


def test_resume_without_a_readable_checkpoint_is_a_usage_error(cell, tmp_path):
    ran = cell(f"%graflow resume {tmp_path / 'none.pkl'}")
    assert isinstance(ran.error, UsageError) and "cannot read checkpoint" in ran.text
    ran = cell("%graflow resume")
    assert isinstance(ran.error, UsageError) and "name the checkpoint" in ran.text


def test_tasks_and_events_without_a_name_are_about_the_run_that_started_last(ip, cell):
    cell(PLAIN)
    cell("%%graflow etl --run --session-id E --no-render\nfetch >> clean\n")
    cell(
        "from graflow_nb import task, workflow\n"
        "with workflow('plain') as later:\n"
        "    @task\n"
        "    def first(): return 1\n"
        "    @task\n"
        "    def second(first): return first + 1\n"
        "    first >> second\n"
        "later.execute('first', session_id='P')\n"
    )
    tasks = cell("%graflow tasks").result.result
    assert list(tasks["task_id"]) == ["first", "second"] and set(tasks["session_id"]) == {"P"}
    ran = cell("%graflow sessions --no-render")
    assert ran.text.splitlines()[0].startswith("P  closed")
    named = cell("%graflow tasks etl").result.result
    assert list(named["task_id"]) == ["fetch", "clean"]
