"""``graflow-nb``: run, check and draw pipeline files from a terminal or CI.

    graflow-nb run FILE [--input k=v ...] [--render out.svg] [--json] [--checkpoint-dir DIR]
    graflow-nb resume FILE CHECKPOINT [--answer SESSION=VALUE ...] [--render out.svg] [--json] [--trust]
    graflow-nb trust CHECKPOINT ...
    graflow-nb validate FILE
    graflow-nb render FILE -o out.svg
    graflow-nb run-script PROG.py [ARGS ...]
    graflow-nb --version

``run-script`` runs a Python program written for graflow, unchanged: ``import
graflow`` gives graflow_nb (``graflow_nb.alias``; one line on stderr says so), the
program sees ``sys.argv == [PROG.py, ARGS...]`` and runs as ``__main__``; the exit code
is the program's (1 if it raised).

``run`` prints one line per finished task on stderr while the run goes on, then a
summary on stdout (``--json``: one JSON object with status, results, counts and
errors).  Exit codes: 0 the run succeeded (also when degraded by ``on_error:
continue``) or waits for input (status ``paused``), 1 it failed, 2 the command
line, the file or the checkpoint is wrong (nothing ran).  With ``--checkpoint-dir``
a run that pauses, fails or is cancelled leaves ``DIR/<session id>.pkl``;
``resume`` continues it from there without running finished steps again, with the
pipeline file as it is now (fixed steps take effect; a changed graph is refused).
A checkpoint must be signed with your secret (graflow_nb signs what it writes): one
written elsewhere, changed since, or by graflow_nb 0.1.0 is refused in one line (exit
2) unless ``--trust`` says you trust it; ``trust`` signs such files as yours, once.
An ``--input`` value is read as JSON when it parses (``n=3``, ``flag=true``,
``ids=[1,2]``) and as a plain string otherwise (``region=eu``).
"""

from __future__ import annotations

import argparse
import json
import runpy
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from ._version import __version__
from .alias import alias_graflow
from .core.events import EventKind
from .core.model.task import ParallelGroup

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _input(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--input expects name=value, got {text!r}")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return name, value


def _answer(text: str) -> tuple[str, Any]:
    try:
        return _input(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"--answer expects SESSION=VALUE, got {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graflow-nb", description="Run, check and draw graflow_nb pipeline files.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="{run,resume,trust,validate,render,run-script}"
    )
    run = commands.add_parser("run", help="run a pipeline file")
    run.add_argument("file", help="pipeline file (.json, .yaml or .yml)")
    run.add_argument(
        "--input", action="append", type=_input, default=[], metavar="k=v", help="a workflow input (repeatable)"
    )
    run.add_argument(
        "--render", metavar="OUT", help="after the run, draw the graph coloured by it (.svg, .png or .dot)"
    )
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument("--session-id", help="root session id (default: random)")
    run.add_argument("--max-workers", type=int, help="thread cap for the run (default 256)")
    run.add_argument(
        "--ready-parallel",
        action="store_true",
        help="also run plain edges by readiness (edge-format parts that are not nested fan-out/fan-in)",
    )
    run.add_argument("--checkpoint-dir", metavar="DIR", help="save a checkpoint there if the run pauses, fails or is cancelled")
    run.add_argument(
        "--cache", metavar="DIR",
        help="replay steps whose code and inputs are unchanged since a run that kept its entries in DIR (signed)",
    )
    resume = commands.add_parser("resume", help="continue a run from its checkpoint")
    resume.add_argument("file", help="the pipeline file the run was started from")
    resume.add_argument("checkpoint", help="the checkpoint (.pkl) to continue")
    resume.add_argument(
        "--answer", action="append", type=_answer, default=[], metavar="SESSION=VALUE",
        help="the answer to a waiting question (repeatable; VALUE read as JSON when it parses)",
    )
    resume.add_argument("--render", metavar="OUT", help="after the run, draw the graph coloured by it")
    resume.add_argument("--json", action="store_true", help="print the summary as JSON")
    resume.add_argument("--checkpoint-dir", metavar="DIR", help="save again there if it pauses, fails or is cancelled")
    resume.add_argument(
        "--trust", action="store_true",
        help="load a checkpoint not signed with your secret (written elsewhere or by graflow_nb 0.1.0): it can run code",
    )
    trust = commands.add_parser("trust", help="sign checkpoints you trust as yours, so they resume without --trust")
    trust.add_argument("checkpoints", nargs="+", metavar="CHECKPOINT", help="a checkpoint (.pkl) you trust")
    check = commands.add_parser("validate", help="check a pipeline file without running it")
    check.add_argument("file")
    script = commands.add_parser("run-script", help="run a graflow program unchanged (import graflow gives graflow_nb)")
    script.add_argument("program", help="the Python file to run")
    script.add_argument("arguments", nargs=argparse.REMAINDER, help="its command-line arguments")
    draw = commands.add_parser("render", help="draw a pipeline file's graph")
    draw.add_argument("file")
    draw.add_argument("-o", "--output", required=True, help="output file (.svg, .png or .dot)")
    return parser


class Progress:
    """An observer printing one line per finished or failed task (groups marked)."""

    def __init__(self, wf: Any, out: TextIO):
        self.out = out
        self.nodes = wf.graph.nodes
        self.total = sum(not isinstance(n, ParallelGroup) for n in self.nodes.values())
        self.done = 0
        self.started: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        key = (event.session_id, event.task_id)
        if event.kind == EventKind.TASK_STARTED:
            self.started[key] = event.time
        elif event.kind == EventKind.TASK_FINISHED:
            self._line(event, "ok", "")
        elif event.kind == EventKind.TASK_FAILED:
            error = event.data.get("error")
            what = f"  {type(error).__name__}: {error}".splitlines()[0] if error is not None else ""
            self._line(event, "retry" if event.data.get("will_retry") else "FAILED", what)

    def _line(self, event: Any, status: str, detail: str) -> None:
        seconds = event.time - self.started.get((event.session_id, event.task_id), event.time)
        group = isinstance(self.nodes.get(event.task_id), ParallelGroup)
        with self._lock:
            if not group and status != "retry":
                self.done += 1
            count = "" if group else f"[{self.done}/{self.total}]"
            label = f"{event.task_id} (parallel block)" if group else event.task_id
            print(
                f"{count:<9} {status:<6} {label:<32} {seconds:7.3f}s  {event.session_id}{detail}",
                file=self.out,
                flush=True,
            )


def _load(path: str, err: TextIO) -> Any:
    """The workflow, or None after printing why the file cannot be used."""
    from .pipeline import PipelineValidationError, load_pipeline

    try:
        return load_pipeline(path)
    except PipelineValidationError as error:
        print(error, file=err)
    except (FileNotFoundError, IsADirectoryError) as error:
        print(f"graflow-nb: {error}", file=err)
    return None


def _missing_inputs(wf: Any, given: dict[str, Any]) -> list[str]:
    return [i.name for i in wf.pipeline.inputs.values() if i.required and i.name not in given]


def _render(wf: Any, run: Any, path: str, err: TextIO) -> bool:
    from .observe import draw_graph

    try:
        draw_graph(wf, run).save(path)
    except (RuntimeError, ValueError, OSError) as error:
        print(f"graflow-nb: cannot render to {path}: {error}", file=err)
        return False
    return True


def cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    wf = _load(args.file, err)
    if wf is None:
        return EXIT_USAGE
    inputs = dict(args.input)
    missing = _missing_inputs(wf, inputs)
    if missing:
        print(f"{args.file}: missing required input(s): {', '.join(missing)}; pass --input NAME=VALUE", file=err)
        return EXIT_USAGE
    progress = Progress(wf, err)
    started = time.time()
    failed = False
    try:
        wf.execute(
            session_id=args.session_id,
            max_workers=args.max_workers,
            initial_channel=inputs,
            observers=[progress],
            ready_parallel=args.ready_parallel,
            checkpoint_dir=args.checkpoint_dir,
            cache=args.cache or False,
        )
    except Exception:
        failed = True
    return _report(wf, args, started, failed, out, err)


def cmd_resume(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .core.snapshot import SnapshotError

    wf = _load(args.file, err)
    if wf is None:
        return EXIT_USAGE
    started = time.time()
    failed = False
    try:
        wf.resume(
            args.checkpoint, answers=dict(args.answer), observers=[Progress(wf, err)], checkpoint_dir=args.checkpoint_dir,
            trust=args.trust,
        )
    except Exception as error:
        if wf.last_run is None or not wf.last_run.resumes:  # nothing resumed: the checkpoint or an answer is wrong
            said = str(error).strip(chr(34) + chr(39))
            print(f"graflow-nb: {said if isinstance(error, (SnapshotError, KeyError, ValueError)) else _named(error)}"
                  .replace("\n", " "), file=err)
            return EXIT_USAGE
        failed = True
    return _report(wf, args, started, failed, out, err)


def _named(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def cmd_trust(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Sign each checkpoint with this user's secret, as it is (nothing is loaded)."""
    from .core.checkpoint import trust_checkpoint
    from .core.snapshot import SnapshotError

    for path in args.checkpoints:
        try:
            checkpoint_id = trust_checkpoint(path)
        except SnapshotError as error:
            print(f"graflow-nb: {error}".replace("\n", " "), file=err)
            return EXIT_USAGE
        print(f"{path}: signed as yours (checkpoint {checkpoint_id}); it now resumes without --trust", file=out)
    return EXIT_OK


def _report(wf: Any, args: argparse.Namespace, started: float, failed: bool, out: TextIO, err: TextIO) -> int:
    """Print the run's summary (and render it); the exit code."""
    from .pipeline import run_summary

    summary = run_summary(wf)
    if args.render and not _render(wf, wf.last_run, args.render, err):
        failed = True
    if args.json:
        print(json.dumps(summary, indent=2), file=out)
    else:
        counts = summary["task_counts"]
        print(
            f"{wf.name}: {summary['status']} in {time.time() - started:.2f}s "
            f"({counts['succeeded']} succeeded, {counts['failed']} failed, {counts['skipped']} skipped)",
            file=out,
        )
        if summary["error"]:
            print(f"error: {summary['error']}", file=out)
        for question in wf.last_run.pending_inputs():
            print(f"waiting: {question.session_id} asks {question.prompt!r} ({question.kind})", file=out)
        for path in wf.last_run.checkpoints:
            print(f"checkpoint: {path}", file=out)
    return EXIT_FAILED if failed else EXIT_OK


def cmd_validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .pipeline import PipelineValidationError, validate_pipeline
    from .pipeline.model import Parallel, steps_of

    try:
        pipeline = validate_pipeline(args.file)
    except PipelineValidationError as error:
        print(error, file=err)
        return EXIT_USAGE
    except (FileNotFoundError, IsADirectoryError) as error:
        print(f"graflow-nb: {error}", file=err)
        return EXIT_USAGE

    def blocks(node: Any) -> int:
        inner = getattr(node, "branches", None) or getattr(node, "items", None) or []
        return int(isinstance(node, Parallel)) + sum(blocks(n) for n in inner)

    kind = "pipeline format" if pipeline.format == "pipeline" else "edge format"
    print(
        f"{args.file}: ok ({kind}, {len(steps_of(pipeline.root))} steps, {blocks(pipeline.root)} parallel blocks)",
        file=out,
    )
    return EXIT_OK


def cmd_render(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    wf = _load(args.file, err)
    if wf is None:
        return EXIT_USAGE
    if not _render(wf, None, args.output, err):
        return EXIT_FAILED
    print(f"wrote {args.output}", file=out)
    return EXIT_OK


def cmd_run_script(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Run ``args.program`` as ``__main__`` with the graflow alias on."""
    path = Path(args.program)
    if not path.is_file():
        print(f"graflow-nb run-script: no such file: {args.program}", file=err)
        return EXIT_USAGE
    try:
        alias_graflow(announce=err)
    except RuntimeError as refused:
        print(f"graflow-nb run-script: {refused}", file=err)
        return EXIT_USAGE
    saved_argv, saved_path = sys.argv, list(sys.path)
    sys.argv = [str(path), *args.arguments]
    sys.path.insert(0, str(path.resolve().parent))  # as `python prog.py` does
    try:
        runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=err)
        return EXIT_FAILED
    except BaseException:
        traceback.print_exc(file=err)
        return EXIT_FAILED
    finally:
        sys.argv, sys.path[:] = saved_argv, saved_path
    return EXIT_OK


def main(argv: list[str] | None = None, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Entry point of the ``graflow-nb`` script; returns the exit code."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0)
    command = {
        "run": cmd_run, "resume": cmd_resume, "trust": cmd_trust, "validate": cmd_validate, "render": cmd_render,
        "run-script": cmd_run_script,
    }[args.command]
    return command(args, out, err)


if __name__ == "__main__":
    sys.exit(main())
