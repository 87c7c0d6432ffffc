"""``%%graflow`` builds a workflow from a cell; ``%graflow`` shows, runs, inspects or steps one.

    %load_ext graflow_nb

    %%graflow etl --run fetch --session-id 4821
    fetch >> (clean | enrich) >> store       # plain functions defined earlier are fine

    %graflow sessions            # the last workflow's session tree
    %graflow step etl            # the step debugger, as a widget
    %graflow alias               # from now on `import graflow` gives graflow_nb (this kernel)

Errors read like errors in ordinary cells: a bad flag is a one-line ``UsageError``; a
failing task shows the cell line and the task's own lines, with the engine's frames
removed (``tracebacks``).  Runs started here can be interrupted (``running``).
"""

from __future__ import annotations

import ast
import keyword
import re
import sys
from typing import Any

from IPython.core import magic_arguments
from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.display import display

from ..alias import alias_graflow
from ..core.checkpoint import load as load_checkpoint
from ..core.model.decorators import task
from ..core.model.task import chain, parallel
from ..core.runtime.handle import RunHandle
from ..core.snapshot import SnapshotError
from ..core.workflow import WorkflowContext, workflow
from ..debug import Debugger
from ..observe.live import redraw_final
from .recorder import recorder_for
from .running import RunOutcome, run_interruptibly
from .tracebacks import raise_for_cell
from .wiring import WIRE_NAME, rewrite_operators, wire

AUTO_START = object()  # --run without START: the one task nothing leads to
COMMANDS = ("show", "run", "sessions", "tasks", "events", "step", "resume", "alias")
# What a workflow's body is written with; a %%graflow cell needs no import for them.
BODY_NAMES = {"task": task, "parallel": parallel, "chain": chain}


def _step_options(args: Any, options: dict[str, Any]) -> dict[str, Any]:
    """The debugger's options: ``--no-threads`` steps the run on the kernel's thread."""
    return {**options, "threads": False} if args.no_threads else options


def _run_options(args: Any) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.session_id is not None:
        options["session_id"] = args.session_id
    if args.max_workers is not None:
        if args.max_workers < 1:
            raise UsageError(f"--max-workers must be at least 1, got {args.max_workers}")
        options["max_workers"] = args.max_workers
    cache = getattr(args, "cache", None)
    if cache is not None:
        options["cache"] = cache
    if args.policy is not None:
        from ..core.model.policies import resolve_policy

        try:
            resolve_policy(args.policy)
        except Exception as error:
            raise UsageError(f"--policy {args.policy}: {error}")
        options["default_policy"] = args.policy
    return options


@magics_class
class GraflowMagics(Magics):
    """The ``%%graflow`` cell magic and the ``%graflow`` line magic (``%load_ext graflow_nb``)."""

    def __init__(self, shell: Any):
        super().__init__(shell)
        self.last_name: str | None = None
        self.debuggers: dict[str, Debugger] = {}
        # The widget shown for each of those debuggers: a new one for the same workflow
        # closes it (ipywidgets would keep it, its debugger and its run for good).
        self.debugger_widgets: dict[str, Any] = {}

    # -- %%graflow ---------------------------------------------------------------------
    @magic_arguments.magic_arguments(name="%graflow")
    @magic_arguments.argument("name", help="the workflow's name; the cell leaves it in the namespace under this name")
    @magic_arguments.argument(
        "--run", metavar="START", nargs="?", const=AUTO_START, default=None,
        help="execute after building, from START (default: the one task nothing leads to)",
    )
    @magic_arguments.argument("--live", action="store_true", help="redraw the run while it executes")
    @magic_arguments.argument(
        "--background", action="store_true",
        help="with --run: start the run and end the cell at once (wf.start); the handle is bound to NAME_run",
    )
    @magic_arguments.argument(
        "--step", action="store_true", help="open the step debugger instead of running (from --run START if given)"
    )
    @magic_arguments.argument(
        "--no-threads", action="store_true",
        help="with --step: step the run on this thread, starting none (members one after another)",
    )
    @magic_arguments.argument("--session-id", metavar="ID", help="the run's root session id (stable ids, stable outputs)")
    @magic_arguments.argument("--max-workers", metavar="N", type=int, help="the run's thread cap")
    @magic_arguments.argument("--policy", metavar="P", help="policy for groups that set none (strict, best_effort, ...)")
    @magic_arguments.argument("--no-render", action="store_true", help="do not draw the graph below the cell")
    @magic_arguments.argument(
        "--cache", metavar="DIR", nargs="?", const=True, default=None,
        help="replay tasks whose code and inputs are unchanged since a run in this kernel (or kept in DIR)",
    )
    @cell_magic("graflow")
    def graflow_cell(self, line: str, cell: str) -> None:
        """Build a workflow from the cell body and keep it in the namespace.

        The cell is the workflow's body: Python run inside ``with workflow(NAME)``.
        Define tasks with ``@task`` and wire them with ``>>`` and ``|`` (or
        ``parallel(a, b)`` and ``chain(a, b)``); ``task``, ``parallel`` and ``chain``
        need no import (the cell binds them in the namespace unless a name is taken).
        Plain functions (no ``@task``), defined earlier or in the cell, can be wired
        too: ``fetch >> (clean | enrich) >> store``.  The graph is drawn below the
        cell unless --no-render.  With --run, the cell's value is the run's result
        (when it succeeded).
        """
        __tracebackhide__ = True
        args = magic_arguments.parse_argstring(self.graflow_cell, line)
        name = args.name
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(f"%%graflow NAME: {name!r} is not a valid Python name (the cell binds the workflow to it)")
        if args.no_threads and not args.step:
            raise UsageError("--no-threads goes with --step (it steps the run on this thread)")
        options = _run_options(args)
        wf = workflow(name)
        self.shell.user_ns[name] = wf
        self.last_name = name
        recorder_for(wf)
        filename = self._run_body(wf, line, cell)
        if args.step:
            start = None if args.run in (None, AUTO_START) else args.run
            display(self._open_debugger(wf, start, _step_options(args, options), filename))
            return
        if args.background and args.run is None:
            raise UsageError("--background starts a run: add --run [START]")
        if args.run is not None:
            start = None if args.run is AUTO_START else args.run
            if args.background:
                self._start_in_background(wf, start, options, filename, live=args.live)
                return None
            outcome = self._run_and_show(wf, start, options, filename, live=args.live, render=not args.no_render)
            # the cell's value (Out[n], ``_``) is the run's result, as a plain execute's is
            return outcome.result if outcome.status == "succeeded" else None
        if not args.no_render:
            display(self._draw(wf, None))
        return None

    def _run_body(self, wf: WorkflowContext, line: str, cell: str) -> str:
        """Execute the body in the user namespace, inside ``with wf``, with plain
        functions wired as tasks; line numbers are those of the cell.  Returns the
        cached source's file name (line 1 is the magic's line)."""
        __tracebackhide__ = True
        shell = self.shell
        source = f"# %%graflow {line}\n{shell.transform_cell(cell)}"
        filename = self._cache(source)
        try:
            tree = ast.parse(source, filename)
        except SyntaxError as error:  # IPython would print every frame above it
            shown = f"\n    {error.text.rstrip()}" if error.text else ""
            raise UsageError(f"SyntaxError in the cell, line {error.lineno}: {error.msg}{shown}")
        code = compile(rewrite_operators(tree), filename, "exec", dont_inherit=True)
        shell.user_ns[WIRE_NAME] = wire
        for body_name, value in BODY_NAMES.items():
            shell.user_ns.setdefault(body_name, value)
        try:
            with wf:
                exec(code, shell.user_ns)
        except Exception as error:
            raise_for_cell(error, filename)
        return filename

    def _cache(self, source: str) -> str:
        return self.shell.compile.cache(source, self._cell_number())

    def _cell_number(self) -> int:
        """The In[n] of the cell being run, so tracebacks say "Cell In[n], line k"."""
        frame = sys._getframe()
        while frame is not None:
            label = self.shell.compile.format_code_name(frame.f_code.co_filename)
            if label:
                found = re.search(r"\d+", label[1])
                if found:
                    return int(found.group())
            frame = frame.f_back
        return self.shell.execution_count

    # -- %graflow ----------------------------------------------------------------------
    @magic_arguments.magic_arguments(name="graflow")
    @magic_arguments.argument("command", choices=COMMANDS, help="what to do: " + ", ".join(COMMANDS))
    @magic_arguments.argument(
        "name", nargs="?", help="a workflow in the namespace (default: the last one used); resume: the checkpoint's path"
    )
    @magic_arguments.argument("--workflow", metavar="NAME", help="resume: the workflow to continue it with (default: "
                              "the one named as in the checkpoint, else the last one used)")
    @magic_arguments.argument("--checkpoint-dir", metavar="DIR", help="run / resume: save a checkpoint there when the "
                              "run pauses, fails or is cancelled")
    @magic_arguments.argument("--trust", action="store_true", help="resume: load a checkpoint not signed with your "
                              "secret (written elsewhere or by graflow_nb 0.1.0); it can run code: only files you trust")
    @magic_arguments.argument("--start", metavar="START", help="run / step: the task to start from")
    @magic_arguments.argument("--session-id", metavar="ID", help="run / step: the root session id")
    @magic_arguments.argument("--max-workers", metavar="N", type=int, help="run / step: the run's thread cap")
    @magic_arguments.argument("--policy", metavar="P", help="run / step: policy for groups that set none")
    @magic_arguments.argument("--live", action="store_true", help="run: redraw the run while it executes")
    @magic_arguments.argument("--background", action="store_true", help="run: start it and end the cell at once; "
                              "the handle is bound to NAME_run")
    @magic_arguments.argument("--no-render", action="store_true", help="run / sessions: no drawing")
    @magic_arguments.argument("--no-threads", action="store_true", help="step: step the run on this thread, "
                              "starting none (members one after another)")
    @line_magic("graflow")
    def graflow_line(self, line: str) -> Any:
        """Show, run, inspect or step a workflow built earlier.

        show      the graph, coloured by the last run
        run       execute it (Ctrl-C / interrupt cancels the run cleanly)
        sessions  the last run's session tree (without NAME: the run that started last,
                  whichever workflow and however it ran)
        tasks     the last run's task attempts, as a DataFrame (run.frames.tasks()'s columns)
        events    the last run's events, as a DataFrame (run.frames.events()'s columns)
        step      the step debugger for a new run, as a widget
        resume    continue a saved run: %graflow resume PATH (also after a kernel restart,
                  once the cells defining the workflow ran again); finished tasks never
                  run again, waiting questions get a form; a checkpoint not signed with
                  your secret is refused unless you add --trust
        alias     `import graflow` gives graflow_nb in this kernel (graflow_nb.alias)
        """
        __tracebackhide__ = True
        args = magic_arguments.parse_argstring(self.graflow_line, line)
        command = args.command
        if args.no_threads and command != "step":
            raise UsageError(f"--no-threads goes with step, not {command}")
        if command == "alias":
            if args.name is not None:
                raise UsageError("%graflow alias takes no workflow name")
            try:
                print(alias_graflow(announce=False))
            except RuntimeError as refused:
                raise UsageError(str(refused)) from None
            return None
        if command == "resume":
            return self._resume(args, self._cache(f"# %graflow {line}\n"))
        about_last_run = command in ("sessions", "tasks", "events") and args.name is None
        wf = self._latest_run_workflow() if about_last_run else self._workflow(args.name)
        if command == "show":
            return self._draw(wf, wf.last_run)
        if command == "run":
            filename = self._cache(f"# %graflow {line}\n")
            options = _run_options(args)
            if args.checkpoint_dir is not None:
                options["checkpoint_dir"] = args.checkpoint_dir
            if args.background:
                self._start_in_background(wf, args.start, options, filename, live=args.live)
            else:
                self._run_and_show(wf, args.start, options, filename, live=args.live, render=not args.no_render)
            return None
        if args.background:
            raise UsageError(f"--background goes with run, not {command}")
        if command == "step":
            options = _step_options(args, _run_options(args))
            return self._open_debugger(wf, args.start, options, self._cache(f"# %graflow {line}\n"))
        run = wf.last_run
        if run is None:
            raise UsageError(f"workflow {wf.name!r} has not run yet: %graflow run {self.last_name}")
        if command == "sessions":
            if args.no_render:
                print(run.session_tree())
                return None
            return self._draw_sessions(run)
        if command == "tasks":
            return run.frames.tasks()
        events = recorder_for(wf)
        if not events.events:
            raise UsageError(
                f"no events were recorded for {wf.name!r}'s last run: they are kept from the first "
                f"%graflow / %%graflow use of a workflow on; run it again with %graflow run {self.last_name}"
            )
        from ..observe.frames import events_frame

        return events_frame(list(events.events))

    def _latest_run_workflow(self) -> WorkflowContext:
        """The workflow of the run that started last, whether a magic or a plain
        ``wf.execute`` ran it (else the last workflow a magic used)."""
        ran = [
            value for key, value in self.shell.user_ns.items()
            if isinstance(value, WorkflowContext) and value.last_run is not None and not key.startswith("_")
        ]
        if not ran:
            return self._workflow(None)
        latest = max(ran, key=lambda wf: wf.last_run.started)
        self.last_name = next(k for k, v in self.shell.user_ns.items() if v is latest and not k.startswith("_"))
        return latest

    def _resume(self, args: Any, filename: str) -> None:
        __tracebackhide__ = True
        if args.name is None:
            raise UsageError("%graflow resume PATH: name the checkpoint (.pkl) to continue")
        try:
            checkpoint = load_checkpoint(args.name, trust=args.trust)
        except SnapshotError as error:
            raise UsageError(str(error))
        name = args.workflow or self._named_like(checkpoint.metadata.workflow_name)
        wf = self._workflow(name)
        options: dict[str, Any] = {"checkpoint_dir": args.checkpoint_dir}
        self._run_and_show(wf, None, options, filename, live=args.live, render=not args.no_render, resume=checkpoint)

    def _named_like(self, workflow_name: str) -> str | None:
        """The namespace name of the workflow called ``workflow_name`` (else None: the last one used)."""
        for key, value in self.shell.user_ns.items():
            if isinstance(value, WorkflowContext) and value.name == workflow_name and not key.startswith("_"):
                return str(key)
        return None

    def _workflow(self, name: str | None) -> WorkflowContext:
        if name is None:
            name = self.last_name
            if name is None:
                raise UsageError("no workflow yet: build one with %%graflow NAME, or name one: %graflow show NAME")
        value = self.shell.user_ns.get(name)
        if not isinstance(value, WorkflowContext):
            found = "nothing" if value is None else f"a {type(value).__name__}"
            raise UsageError(f"{name!r} is not a workflow (the namespace holds {found} under that name)")
        self.last_name = name
        return value

    # -- running, drawing, stepping ----------------------------------------------------
    def _run_and_show(
        self, wf: WorkflowContext, start: str | None, options: dict[str, Any], filename: str, live: bool, render: bool,
        resume: Any = None,
    ) -> RunOutcome:
        __tracebackhide__ = True
        recorder_for(wf)
        if live:
            options = {**options, "live": True}
        outcome = run_interruptibly(wf, start, resume=resume, **options)
        if outcome.paused:
            self._show_paused(wf, outcome, render=render and not live)
        else:
            print(outcome.summary())
            if render and not live and outcome.run is not None:
                display(self._draw(wf, outcome.run))
        if outcome.error is not None and not outcome.interrupted:
            raise_for_cell(outcome.error, filename)
        return outcome

    def _start_in_background(
        self, wf: WorkflowContext, start: str | None, options: dict[str, Any], filename: str, live: bool
    ) -> RunHandle:
        """``wf.start(...)``: the run's panel shows in this cell (``background``), the
        handle is bound to ``<workflow>_run``, and the cell ends while the run goes on."""
        __tracebackhide__ = True
        recorder_for(wf)
        if live:
            options = {**options, "live": True}
        try:
            handle = wf.start(start, **options)
        except Exception as error:
            raise_for_cell(error, filename)
        variable = f"{self._name_of(wf)}_run"
        self.shell.user_ns[variable] = handle
        print(f"{wf.name}: run {handle.run.root_session_id} started in the background as {variable} "
              f"(`await {variable}` for its result, {variable}.cancel() to stop it)")
        return handle

    def _name_of(self, wf: WorkflowContext) -> str:
        for key, value in self.shell.user_ns.items():
            if value is wf and not key.startswith("_"):
                return str(key)
        return wf.name

    def _show_paused(self, wf: WorkflowContext, outcome: RunOutcome, render: bool) -> None:
        """Summary, picture and the input form of a run waiting for input; the summary
        and the picture (or the live view's final picture) are redrawn after each answer."""
        from .human_input import HumanInputPanel, RunInputs

        run = outcome.run
        summary = display({"text/plain": outcome.summary()}, raw=True, display_id=True)
        # The static picture (not a GraphView): it is redrawn in place after each answer.
        picture = display(self._draw(wf, run)._repr_mimebundle_(), raw=True, display_id=True) if render else None

        def redraw(result: Any, error: BaseException | None) -> None:
            after = RunOutcome(wf, run, result, error)
            summary.update({"text/plain": after.summary()}, raw=True)
            if picture is not None:
                picture.update(self._draw(wf, run)._repr_mimebundle_(), raw=True)
            else:
                redraw_final(run)

        display(HumanInputPanel(RunInputs(run), on_answer=redraw))

    def _open_debugger(self, wf: WorkflowContext, start: str | None, options: dict[str, Any], filename: str) -> Any:
        __tracebackhide__ = True
        from .debugger_widget import DebuggerWidget

        previous = self.debuggers.pop(wf.name, None)
        if previous is not None:
            previous.close()
        previous_widget = self.debugger_widgets.pop(wf.name, None)
        if previous_widget is not None:
            previous_widget.close()
        try:
            debugger = Debugger(wf, start, **options)
        except Exception as error:
            raise_for_cell(error, filename)
        self.debuggers[wf.name] = debugger
        widget = self.debugger_widgets[wf.name] = DebuggerWidget(debugger)
        return widget

    @staticmethod
    def _draw(wf: WorkflowContext, run: Any) -> Any:
        from ..observe import draw_graph

        return draw_graph(wf, run)

    @staticmethod
    def _draw_sessions(run: Any) -> Any:
        from ..observe import draw_sessions

        return draw_sessions(run)


def load_ipython_extension(ip: Any) -> None:
    """``%load_ext graflow_nb``: register the magics and the wiring helper; importing
    the drawing layer also installs the live view ``--live`` uses."""
    from .. import observe  # noqa: F401

    ip.register_magics(GraflowMagics)
    ip.push({WIRE_NAME: wire}, interactive=False)
