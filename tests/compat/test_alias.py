"""The opt-in graflow alias, always tried in a process of its own so it never leaks
into the rest of the suite: from a script, from the command line, in a real IPython
shell after ``%load_ext graflow_nb``."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import graflow_nb
from graflow_nb.graflow_names import MODULES, NOT_OFFERED


def python(code: str, cwd: Path, *, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    env_path = [str(path)] if path is not None else []
    prelude = f"import sys; sys.path[:0] = {env_path!r}\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )


def test_off_by_default_import_graflow_is_not_graflow_nb(tmp_path):
    done = python(
        """
        import graflow_nb, importlib.util
        print(importlib.util.find_spec("graflow") is None, graflow_nb.alias.alias_active())
        """,
        tmp_path,
    )
    assert done.stdout.split() == ["True", "False"], done.stderr


def test_alias_graflow_maps_graflows_module_names_to_the_same_objects(tmp_path):
    done = python(
        """
        import json, importlib, graflow_nb
        line = graflow_nb.alias_graflow()
        import graflow
        from graflow import task, workflow, TaskExecutionContext, RetryPolicy, chain, parallel
        from graflow.core.task import TaskWrapper, ParallelGroup
        from graflow.coordination.coordinator import CoordinationBackend
        import graflow_nb.core.task
        report = {
            "line": line,
            "same_package": graflow is graflow_nb,
            "same_module": importlib.import_module("graflow.core.task") is graflow_nb.core.task,
            "same_class": TaskWrapper is graflow_nb.TaskWrapper,
            "spec_kept": graflow_nb.core.task.__spec__.name,
            "enum": CoordinationBackend.DIRECT.value,
            "again": graflow_nb.alias_graflow(announce=False),
        }
        print(json.dumps(report))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["line"] == (
        f"graflow_nb: `import graflow` now gives graflow_nb {graflow_nb.__version__} for graflow 0.2.0's "
        f"{len(MODULES)} public modules, in this process only"
    )
    assert done.stderr.strip() == report["line"]  # said once, on stderr, one line
    assert report["same_package"] and report["same_module"] and report["same_class"]
    assert report["spec_kept"] == "graflow_nb.core.task"
    assert report["enum"] == "direct"
    assert report["again"] == "graflow_nb: the graflow alias is already on (import graflow gives graflow_nb)"


def test_every_graflow_module_name_resolves_or_says_what_is_missing(tmp_path):
    done = python(
        f"""
        import importlib, json, graflow_nb
        graflow_nb.alias_graflow(announce=False)
        out = {{}}
        for name in {sorted(MODULES)!r}:
            full = "graflow" + ("." + name if name else "")
            try:
                out[full] = importlib.import_module(full).__name__
            except ImportError as error:
                out[full] = "ImportError: " + str(error)
        print(json.dumps(out))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)
    assert resolved == {full: "graflow_nb" + full[len("graflow"):] for full in resolved}
    assert len(resolved) == len(MODULES)


def test_left_out_modules_and_unknown_names_are_clear_import_errors(tmp_path):
    done = python(
        """
        import json, graflow_nb
        graflow_nb.alias_graflow(announce=False)
        out = []
        for name in ["graflow.llm.client", "graflow.core.handlers.docker", "graflow.worker.worker",
                     "graflow.api", "graflow.trace.langfuse", "graflow.channels.redis_channel",
                     "graflow.core.serialization", "graflow_nb.prompts.yaml_manager"]:
            try:
                __import__(name)
                out.append([name, "imported"])
            except ImportError as error:
                out.append([name, type(error).__name__, error.name, str(error)])
        print(json.dumps(out))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    got = {row[0]: row[1:] for row in json.loads(done.stdout)}
    assert got["graflow.llm.client"] == [
        "ImportError", "graflow.llm", "graflow.llm is not offered under the graflow alias: " + NOT_OFFERED["llm"]
    ]
    assert got["graflow.core.handlers.docker"][2].endswith("register it with WorkflowEngine().register_handler(name, handler)")
    assert "Redis workers" in got["graflow.worker.worker"][2]
    assert "feedback_manager.provide_feedback" in got["graflow.api"][2]
    assert got["graflow.trace.langfuse"][1:] == [
        "graflow.trace", "graflow.trace is not offered under the graflow alias: " + NOT_OFFERED["trace"]
    ]
    assert "LangFuseTracer" in NOT_OFFERED["trace"]
    assert 'backend="dask"' in got["graflow.channels.redis_channel"][2]
    assert got["graflow.core.serialization"][:2] == ["ModuleNotFoundError", "graflow.core.serialization"]
    assert "graflow 0.2.0's public modules only" in got["graflow.core.serialization"][2]
    # without the alias, graflow_nb's own left-out names say the same
    assert got["graflow_nb.prompts.yaml_manager"][1:] == [
        "graflow_nb.prompts", "graflow_nb.prompts is not part of graflow_nb: " + NOT_OFFERED["prompts"]
    ]


def test_refuses_when_the_real_graflow_is_already_imported(tmp_path):
    fake = tmp_path / "site" / "graflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("REAL = True\n")
    done = python(
        """
        import graflow
        import graflow_nb
        try:
            graflow_nb.alias_graflow()
        except RuntimeError as error:
            print("refused:", error)
        import graflow as again
        print("still the real one:", getattr(again, "REAL", False), graflow_nb.alias.alias_active())
        """,
        tmp_path,
        path=tmp_path / "site",
    )
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert first.startswith("refused: cannot alias graflow to graflow_nb: the real graflow is already imported")
    assert str(fake / "__init__.py") in first and "Restart the kernel or process" in first
    assert second == "still the real one: True False"
    assert done.stderr == ""


def test_an_installed_graflow_not_yet_imported_is_shadowed_and_the_line_says_so(tmp_path):
    fake = tmp_path / "site" / "graflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("REAL = True\n")
    done = python(
        """
        import graflow_nb
        graflow_nb.alias_graflow()
        import graflow
        print(graflow is graflow_nb)
        """,
        tmp_path,
        path=tmp_path / "site",
    )
    assert done.stdout.strip() == "True", done.stderr
    assert done.stderr.strip().endswith("in this process only; the installed graflow is shadowed")


def test_run_script_runs_a_program_as_main_with_its_arguments(tmp_path):
    program = tmp_path / "prog.py"
    program.write_text(textwrap.dedent(
        """
        import sys
        from graflow import task, workflow
        from helper import GREETING

        with workflow("args") as wf:
            @task
            def greet():
                return f"{GREETING} {' '.join(sys.argv[1:])}"
            if __name__ == "__main__":
                print(wf.execute("greet"), sys.argv[0].endswith("prog.py"))
        """
    ))
    (tmp_path / "helper.py").write_text("GREETING = 'hello'\n")
    done = subprocess.run(
        [sys.executable, "-m", "graflow_nb.cli", "run-script", str(program), "big", "--world"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )
    assert (done.returncode, done.stdout) == (0, "hello big --world True\n"), done.stderr


def test_run_script_exit_codes_follow_the_program(tmp_path):
    failing = tmp_path / "fails.py"
    failing.write_text("from graflow import task\nraise LookupError('no such row')\n")
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(3)\n")
    runs = {
        name: subprocess.run(
            [sys.executable, "-m", "graflow_nb.cli", "run-script", str(path)],
            cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        )
        for name, path in (("fails", failing), ("exits", exits), ("missing", tmp_path / "nope.py"))
    }
    assert runs["fails"].returncode == 1
    assert runs["fails"].stderr.rstrip().endswith("LookupError: no such row")
    assert runs["exits"].returncode == 3
    assert runs["missing"].returncode == 2
    assert runs["missing"].stderr.strip() == f"graflow-nb run-script: no such file: {tmp_path / 'nope.py'}"


IPYTHON_SESSION = """
from IPython.testing.globalipapp import start_ipython
from IPython.utils.capture import capture_output
ip = start_ipython()
cells = [
    "%load_ext graflow_nb",
    "%graflow alias",
    "from graflow import task, workflow\\nwith workflow('w') as wf:\\n    @task\\n    def a(): return 20\\n    @task\\n    def b(a): return a + 1\\n    _ = a >> b\\nprint(wf.execute('a'), type(wf).__module__)",
    "%graflow alias",
    "%graflow alias etl",
]
for source in cells:
    with capture_output() as captured:
        result = ip.run_cell(source)
    error = result.error_in_exec or result.error_before_exec
    print(repr((captured.stdout.strip(), type(error).__name__ if error else None, str(error) if error else None)))
"""


def test_graflow_alias_magic_in_a_real_ipython_shell(tmp_path):
    done = python(IPYTHON_SESSION, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = [ast.literal_eval(line) for line in done.stdout.splitlines()]
    assert lines == [
        ("", None, None),
        (f"graflow_nb: `import graflow` now gives graflow_nb {graflow_nb.__version__} for graflow 0.2.0's "
         f"{len(MODULES)} public modules, in this process only", None, None),
        ("21 graflow_nb.core.workflow", None, None),
        ("graflow_nb: the graflow alias is already on (import graflow gives graflow_nb)", None, None),
        ("", "UsageError", "%graflow alias takes no workflow name"),
    ]


def test_the_magic_refuses_in_a_shell_that_imported_the_real_graflow(tmp_path):
    fake = tmp_path / "site" / "graflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    session = IPYTHON_SESSION.replace('"%load_ext graflow_nb",', '"import graflow", "%load_ext graflow_nb",')
    done = python(session, tmp_path, path=tmp_path / "site")
    assert done.returncode == 0, done.stderr
    printed, kind, message = ast.literal_eval(done.stdout.splitlines()[2])
    assert (printed, kind) == ("", "UsageError")
    assert message.startswith("cannot alias graflow to graflow_nb: the real graflow is already imported")
    assert str(fake / "__init__.py") in message
