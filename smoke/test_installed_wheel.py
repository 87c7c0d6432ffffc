"""The built wheel, installed into a new virtualenv, used the way a user uses it.

``make test-wheel`` copies this file into an empty temporary directory and runs it there
with the new virtualenv's pytest, so the checkout is not importable: every import below
is the installed package. Two things come from outside: ``GRAFLOW_NB_WHEEL`` (the wheel
that was installed, to compare its metadata) and ``GRAFLOW_NB_CHECKOUT`` (for the example
pipeline files, which the package does not ship; their steps live in the package).
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

CHECKOUT = Path(os.environ["GRAFLOW_NB_CHECKOUT"])
WHEEL = Path(os.environ["GRAFLOW_NB_WHEEL"])
SCRIPTS = Path(sysconfig.get_path("scripts"))

# Everything in the installed package that is not Python source.
DATA_FILES = {"py.typed", "pipeline/schema.json", "static/graph_view.js"}


def run(*argv: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=120, check=False, cwd=cwd)


def test_graflow_nb_is_imported_from_the_installed_wheel():
    import graflow_nb

    package = Path(graflow_nb.__file__).resolve().parent
    assert package == Path(sysconfig.get_path("purelib")).resolve() / "graflow_nb"
    assert not any(Path(p or ".").resolve() == CHECKOUT.resolve() for p in sys.path)
    direct = json.loads(importlib.metadata.distribution("graflow_nb").read_text("direct_url.json") or "{}")
    assert direct["url"] == WHEEL.resolve().as_uri()
    assert "dir_info" not in direct  # not an editable install of a directory


def test_one_version_in_the_package_the_command_and_the_wheel():
    import graflow_nb

    wheel_version = WHEEL.name.split("-")[1]
    done = run(SCRIPTS / "graflow-nb", "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"graflow-nb {wheel_version}\n"
    assert graflow_nb.__version__ == wheel_version
    assert importlib.metadata.version("graflow_nb") == wheel_version


def test_metadata_carries_the_licence_and_what_is_tested():
    metadata = importlib.metadata.metadata("graflow_nb")
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert metadata["Requires-Python"] == ">=3.11"
    classifiers = metadata.get_all("Classifier")
    assert [c for c in classifiers if c.startswith("Programming Language :: Python :: 3.")] == [
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
    ]
    assert "Typing :: Typed" in classifiers
    assert metadata.get_all("Provides-Extra") == ["dask", "docs", "dev", "graflow"]
    assert 'distributed>=2024.8; extra == "dask"' in metadata.get_all("Requires-Dist")
    licence = importlib.metadata.distribution("graflow_nb").read_text("licenses/LICENSE")
    assert licence is not None and "Apache License" in licence and "Version 2.0, January 2004" in licence


def test_a_diamond_runs_its_sink_once_in_branch_sessions():
    from graflow_nb import task, workflow

    calls: list[str] = []
    with workflow("diamond") as wf:

        @task
        def fetch():
            calls.append("fetch")
            return {"rows": 3}

        @task
        def transform_a(fetch):
            calls.append("transform_a")
            return fetch["rows"] * 2

        @task
        def transform_b(fetch):
            calls.append("transform_b")
            return fetch["rows"] + 1

        @task
        def store(transform_a, transform_b):
            calls.append("store")
            return transform_a + transform_b

        fetch >> (transform_a | transform_b) >> store
        assert wf.execute("fetch", session_id="4821") == 10

    assert calls[0] == "fetch" and calls[-1] == "store"
    assert sorted(calls[1:3]) == ["transform_a", "transform_b"] and len(calls) == 4
    assert wf.last_run.session_tree() == (
        "4821  closed  enqueued 2 dequeued 2  ran fetch, ParallelGroup_1, store\n"
        "├── 4821_transform_a  merged  enqueued 1 dequeued 1  ran transform_a\n"
        "└── 4821_transform_b  merged  enqueued 1 dequeued 1  ran transform_b"
    )


def test_a_render_is_saved_as_svg_by_the_real_dot(tmp_path):
    from graflow_nb import draw_graph, task, workflow

    with workflow("pair") as wf:

        @task
        def first():
            return 1

        @task
        def second(first):
            return first + 1

        first >> second
        wf.execute("first", session_id="S")

    saved = draw_graph(wf, wf.last_run).save(tmp_path / "pair.svg")
    assert saved == tmp_path / "pair.svg"
    svg = saved.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") and svg.rstrip().endswith("</svg>")
    assert "<title>first</title>" in svg and "<title>second</title>" in svg
    assert "first&#45;&gt;second" in svg  # the edge, as dot writes its title


def test_the_command_validates_and_runs_the_example_pipeline(tmp_path):
    example = CHECKOUT / "examples" / "etl_pipeline.yaml"
    checked = run(SCRIPTS / "graflow-nb", "validate", example)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == f"{example}: ok (pipeline format, 5 steps, 1 parallel blocks)\n"

    svg = tmp_path / "run.svg"
    done = run(SCRIPTS / "graflow-nb", "run", example, "--json", "--input", "region=eu", "--render", svg)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["status"] == "succeeded"
    assert summary["results"]["report"] == {"total": 42.5, "orders": 2, "regions": {"eu": 42.5}, "tax": 8.5}
    assert summary["task_counts"] == {"succeeded": 5, "failed": 0, "cancelled": 0, "skipped": 0}
    assert "<title>report</title>" in svg.read_text(encoding="utf-8")


def test_load_ext_in_a_real_ipython_gives_the_graflow_magics():
    cell = "\n".join(
        [
            "%load_ext graflow_nb",
            "def fetch(): return 3",
            "def double(fetch): return fetch * 2",
            "get_ipython().run_cell_magic('graflow', 'etl --run --session-id 7 --no-render', 'fetch >> double')",
            "print(etl.last_run.session_tree())",
        ]
    )
    done = run(SCRIPTS / "ipython", "--no-banner", "--quick", "--colors=NoColor", "-c", cell)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "etl: succeeded, 2 tasks in 1 sessions, result 6",
        "7  closed  enqueued 2 dequeued 2  ran fetch, double",
    ]


def test_the_graph_views_bundle_is_inside_the_installed_package_and_matches_the_checkout():
    """The wheel carries the GraphView's JavaScript: the browser gets it from the kernel,
    so a machine with no network still draws."""
    from graflow_nb.notebook.graph_view import bundle_bytes

    shipped = (CHECKOUT / "graflow_nb" / "static" / "graph_view.js").read_bytes()
    assert bundle_bytes() == shipped and len(shipped) > 500_000


def test_the_json_schema_and_py_typed_are_inside_the_installed_package():
    import jsonschema

    package = importlib.resources.files("graflow_nb")
    schema = json.loads((package / "pipeline" / "schema.json").read_text(encoding="utf-8"))
    jsonschema.validators.validator_for(schema).check_schema(schema)
    assert (package / "py.typed").read_bytes() == b""

    root = Path(str(package))
    found = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert {f for f in found if not f.endswith((".py", ".pyc"))} == DATA_FILES

    with zipfile.ZipFile(WHEEL) as archive:
        packaged = {n.removeprefix("graflow_nb/") for n in archive.namelist() if n.startswith("graflow_nb/")}
    assert {f for f in packaged if not f.endswith(".py")} == DATA_FILES


USER_CODE = """\
from graflow_nb import draw_graph, task, workflow

with workflow("typed") as wf:

    @task
    def fetch() -> int:
        return 3

    @task("double", max_retries=1)
    def double(fetch: int) -> int:
        return fetch * 2

    reveal_type(fetch)
    reveal_type(double)
    reveal_type(fetch >> double)
    reveal_type(fetch | double)
    reveal_type(draw_graph(wf).save("x.svg"))
    wf.execute("fetch", max_steps="ten")
"""


def test_a_type_checker_reads_the_installed_hints(tmp_path):
    """py.typed: mypy, run on user code, sees the package's own types (not Any) and
    flags a wrong argument; nothing inside the installed package is reported."""
    (tmp_path / "user.py").write_text(USER_CODE, encoding="utf-8")
    done = run(sys.executable, "-m", "mypy", "user.py", cwd=tmp_path)
    assert done.stdout.splitlines() == [
        'user.py:13: note: Revealed type is "graflow_nb.core.model.task.TaskWrapper"',
        'user.py:14: note: Revealed type is "graflow_nb.core.model.task.TaskWrapper"',
        'user.py:15: note: Revealed type is "graflow_nb.core.model.task.SequentialTask"',
        'user.py:16: note: Revealed type is "graflow_nb.core.model.task.ParallelGroup"',
        'user.py:17: note: Revealed type is "pathlib.Path"',
        'user.py:18: error: Argument "max_steps" to "execute" of "WorkflowContext" has incompatible type "str"; '
        'expected "int"  [arg-type]',
        "Found 1 error in 1 file (checked 1 source file)",
    ], done.stderr
