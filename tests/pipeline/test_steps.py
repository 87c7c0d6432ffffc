"""Step types: python, shell (argv, no interpolation), http (local server), and your own."""

from __future__ import annotations

import json
import sys
import textwrap
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from instruments import wait_until
from steps_under_test import LOG, py

from graflow_nb import RetryLimitExceededError
from graflow_nb.core.errors import TaskTimeoutError
from graflow_nb.pipeline import (
    HttpStatusError,
    PipelineValidationError,
    ShellCommandError,
    StepTimeoutError,
    load_pipeline,
    register_step_type,
    step_type,
    unregister_step_type,
)
from graflow_nb.pipeline import steps as step_registry

PRINT_ARGS = "import json, sys; print(json.dumps(sys.argv[1:]))"


def shell(step_id: str, **params):
    return {"id": step_id, "type": "shell", "params": params}


# -- python ------------------------------------------------------------------------------
def test_python_step_calls_the_function_with_params_as_keywords():
    wf = load_pipeline({"pipeline": [py("sq", "square", x=7)]})
    assert wf.execute() == 49


def test_python_step_accepts_a_module_level_task():
    wf = load_pipeline({"pipeline": [{"id": "f", "type": "python", "function": "steps_under_test:fetch"}]})
    assert wf.execute() == {"rows": 3}


# -- shell -------------------------------------------------------------------------------
def test_shell_argv_gets_each_value_as_one_argument():
    """A value with spaces, quotes and ';' stays one argument; nothing is interpreted."""
    hostile = "x; echo pwned $(id) 'q'"
    wf = load_pipeline(
        {
            "pipeline": [
                py("fetch", "echo", name=hostile),
                shell("run", cmd=[sys.executable, "-c", PRINT_ARGS, "${fetch.name}", "n=${fetch.name}"]),
            ]
        }
    )
    result = wf.execute()
    assert json.loads(result["stdout"]) == [hostile, f"n={hostile}"]
    assert result["exit_code"] == 0 and result["stderr"] == ""


def test_shell_command_string_is_split_before_substitution():
    wf = load_pipeline(
        {
            "pipeline": [
                py("fetch", "echo", name="a b"),
                shell("run", cmd=f"{sys.executable} -c '{PRINT_ARGS}' ${{fetch.name}} plain"),
            ]
        }
    )
    assert json.loads(wf.execute()["stdout"]) == ["a b", "plain"]


def test_shell_true_quotes_substituted_values():
    wf = load_pipeline(
        {
            "pipeline": [
                py("fetch", "echo", name="a; echo injected"),
                shell("run", cmd="echo ${fetch.name} | tr a-z A-Z", shell=True),
            ]
        }
    )
    assert wf.execute()["stdout"] == "A; ECHO INJECTED\n"


def test_shell_non_zero_exit_fails_the_step_with_its_output():
    wf = load_pipeline(
        {
            "pipeline": [
                shell("run", cmd=[sys.executable, "-c", "import sys; sys.stderr.write('bad input'); sys.exit(3)"])
            ]
        }
    )
    with pytest.raises(ShellCommandError, match="exited with 3: bad input") as caught:
        wf.execute()
    assert caught.value.exit_code == 3 and caught.value.stderr == "bad input"
    assert caught.value.task_id == "run"


def test_shell_check_false_returns_the_exit_code():
    wf = load_pipeline(
        {"pipeline": [shell("run", cmd=[sys.executable, "-c", "import sys; print('out'); sys.exit(4)"], check=False)]}
    )
    assert wf.execute() == {"stdout": "out\n", "stderr": "", "exit_code": 4}


def test_shell_env_cwd_and_stdin(tmp_path):
    code = "import os, sys; print(os.getcwd(), os.environ['GREETING'], sys.stdin.read())"
    wf = load_pipeline(
        {
            "pipeline": [
                shell("run", cmd=[sys.executable, "-c", code], cwd=str(tmp_path), env={"GREETING": "hi"}, stdin="there")
            ]
        }
    )
    assert wf.execute()["stdout"].split() == [str(tmp_path), "hi", "there"]


@pytest.mark.timeout(60)
def test_shell_timeout_kills_the_command():
    """The command would sleep 10 minutes: the run ends only because it was killed, and
    afterwards no process with the command's marker argument is left."""
    marker = f"graflow-nb-kill-me-{uuid.uuid4().hex}"
    cmd = [sys.executable, "-c", "import time; time.sleep(600)", marker]
    wf = load_pipeline({"pipeline": [{**shell("run", cmd=cmd), "timeout": 0.2}]})
    with pytest.raises(StepTimeoutError, match=r"ran longer than 0\.2s and was killed"):
        wf.execute()
    assert processes_with_argument(marker) == []


def processes_with_argument(argument: str) -> list[int]:
    """Pids of live processes one of whose arguments is ``argument`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and argument.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:  # the process ended while we looked
            continue
    return found


def test_shell_missing_program_says_so():
    wf = load_pipeline({"pipeline": [shell("run", cmd=["definitely-not-a-program-xyz"])]})
    with pytest.raises(FileNotFoundError, match="command not found: 'definitely-not-a-program-xyz'"):
        wf.execute()


# -- http --------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        return

    def _send(self, status: int, payload: dict) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/slow"):
            self.server.release.wait(30)  # answers only once the test is over
        if self.path.startswith("/broken"):
            self._send(500, {"error": "broken"})
            return
        if self.path.startswith("/flaky"):
            with self.server.lock:
                self.server.flaky_calls += 1
                call = self.server.flaky_calls
            if call <= FLAKY_FAILURES:
                self._send(503, {"error": f"call {call}"})
            else:
                self._send(200, {"call": call})
            return
        self._send(200, {"path": self.path, "token": self.headers.get("X-Token")})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        received = json.loads(self.rfile.read(length) or b"null")
        self._send(201, {"received": received, "type": self.headers.get("Content-Type")})


FLAKY_FAILURES = 2  # /flaky answers 503 this many times, then 200


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.release = threading.Event()
    httpd.lock = threading.Lock()
    httpd.flaky_calls = 0
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.release.set()
    httpd.shutdown()
    httpd.server_close()


def http(step_id: str, **params):
    return {"id": step_id, "type": "http", "params": params}


def test_http_get_with_headers_and_query(server):
    wf = load_pipeline(
        {
            "inputs": {"base": {}},
            "pipeline": [
                py("auth", "echo", token="s3cret"),
                http("get", url="${workflow.base}/items", headers={"X-Token": "${auth.token}"}, query={"page": 2}),
            ],
        }
    )
    answer = wf.execute(initial_channel={"base": server})
    assert answer["status"] == 200
    assert answer["json"] == {"path": "/items?page=2", "token": "s3cret"}
    assert answer["headers"]["Content-Type"] == "application/json"


def test_http_post_sends_a_json_body_built_from_templates(server):
    wf = load_pipeline(
        {
            "pipeline": [
                py("src", "echo", rows=[1, 2]),
                http("post", url=f"{server}/store", method="POST", body={"rows": "${src.rows}"}),
            ]
        }
    )
    answer = wf.execute()
    assert answer["status"] == 201
    assert answer["json"] == {"received": {"rows": [1, 2]}, "type": "application/json"}


def test_http_error_status_fails_the_step(server):
    wf = load_pipeline({"pipeline": [http("get", url=f"{server}/broken")]})
    with pytest.raises(HttpStatusError, match=r"GET http://127\.0\.0\.1:\d+/broken answered 500") as caught:
        wf.execute()
    assert caught.value.status == 500


def test_http_check_false_returns_the_error_answer(server):
    wf = load_pipeline({"pipeline": [http("get", url=f"{server}/broken", check=False)]})
    answer = wf.execute()
    assert answer["status"] == 500 and answer["json"] == {"error": "broken"}


def test_http_timeout(server):
    wf = load_pipeline({"pipeline": [{**http("get", url=f"{server}/slow"), "timeout": 0.2}]})
    with pytest.raises(StepTimeoutError, match=r"took longer than 0\.2s"):
        wf.execute()


def test_http_retries_then_succeeds(server):
    """max_retries on an http step: the server fails twice, the third attempt gets its
    answer, and the failed attempts and the good one are all recorded."""
    wf = load_pipeline({"pipeline": [{**http("get", url=f"{server}/flaky"), "max_retries": 2}]})
    answer = wf.execute(session_id="S")
    assert (answer["status"], answer["json"]) == (200, {"call": 3})
    runs = [(tr.attempt, tr.session_id, tr.status) for tr in wf.last_run.task_runs if tr.task_id == "get"]
    assert runs == [(1, "S", "failed"), (2, "S", "failed"), (3, "S", "succeeded")]
    errors = [tr.error for tr in wf.last_run.task_runs if tr.error is not None]
    assert [(type(e), e.status) for e in errors] == [(HttpStatusError, 503), (HttpStatusError, 503)]


def test_http_retries_exhausted_raise_the_last_status(server):
    wf = load_pipeline({"pipeline": [{**http("get", url=f"{server}/broken"), "max_retries": 1}]})
    with pytest.raises(RetryLimitExceededError, match="answered 500") as caught:
        wf.execute()
    assert type(caught.value.__cause__) is HttpStatusError and caught.value.__cause__.status == 500
    attempts = [(tr.attempt, tr.status) for tr in wf.last_run.task_runs if tr.task_id == "get"]
    assert attempts == [(1, "failed"), (2, "failed")]


# -- user-registered types ---------------------------------------------------------------
def test_a_decorated_function_becomes_a_step_type():
    @step_type("greet", params_schema={"type": "object", "required": ["who"]}, replace=True)
    def greet(params, step):
        return {"text": f"hello {params['who']}", "step": step.step_id, "session": step.session_id}

    try:
        wf = load_pipeline(
            {"pipeline": [py("src", "echo", who="ada"), {"id": "hi", "type": "greet", "params": {"who": "${src.who}"}}]}
        )
        assert wf.execute(session_id="S") == {"text": "hello ada", "step": "hi", "session": "S"}
        with pytest.raises(PipelineValidationError, match=r"\$\.pipeline\[0\]\.params: missing required key 'who'"):
            load_pipeline({"pipeline": [{"id": "hi", "type": "greet"}]})
    finally:
        unregister_step_type("greet")


def test_registering_a_name_twice_needs_replace():
    with pytest.raises(ValueError, match="'python' is already registered; pass replace=True"):
        register_step_type("python", lambda params, step: None)


def test_a_python_step_timeout_is_the_engines_task_timeout():
    """The step is held until the run has raised, so only the timeout can have ended it."""
    wf = load_pipeline({"pipeline": [{**py("slow", "held"), "timeout": 0.2}]})
    with pytest.raises(TaskTimeoutError) as caught:
        wf.execute(session_id="S")
    slow_inside = not LOG.finished("slow")
    LOG.release.set()
    assert slow_inside
    wait_until(lambda: LOG.finished("slow"), "the abandoned step to leave")  # before the next test resets LOG
    assert (caught.value.task_id, caught.value.timeout, caught.value.session_id) == ("slow", 0.2, "S")


def test_a_type_that_does_not_time_itself_is_timed_by_the_engine():
    release = threading.Event()
    register_step_type("nap", lambda params, step: release.wait(params["seconds"]), replace=True)
    try:
        wf = load_pipeline({"pipeline": [{"id": "n", "type": "nap", "params": {"seconds": 30}, "timeout": 0.2}]})
        with pytest.raises(TaskTimeoutError) as caught:
            wf.execute()
        assert (caught.value.task_id, caught.value.timeout) == ("n", 0.2)
    finally:
        release.set()
        unregister_step_type("nap")


def test_step_types_from_an_installed_entry_point(tmp_path, monkeypatch):
    """A plugin distribution declares ``[graflow_nb.step_types] shout = shout_plugin:shout``."""
    (tmp_path / "shout_plugin.py").write_text(
        textwrap.dedent(
            """
            def shout(params, step):
                return params["text"].upper()
            """
        )
    )
    info = tmp_path / "shout_plugin-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shout-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[graflow_nb.step_types]\nshout = shout_plugin:shout\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    step_registry.reload_entry_points()
    try:
        wf = load_pipeline({"pipeline": [{"id": "s", "type": "shout", "params": {"text": "quiet"}}]})
        assert wf.execute() == "QUIET"
    finally:
        unregister_step_type("shout")
