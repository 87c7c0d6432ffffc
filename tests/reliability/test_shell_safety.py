"""Shell steps: a substituted value is never shell code, and a stopped command leaves
no process behind.

Every hostile value runs in a real ``/bin/sh`` in a scratch directory holding a canary
directory; a value that executed would create ``pwned`` or delete ``canary``.  The
commands print with ``printf '[%s]\\n'`` so the exact text that reached the program is
checked.  Process checks read ``/proc`` (a zombie left for PID 1 to reap runs nothing,
so it does not count as alive).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

import pytest

from graflow_nb.core.errors import ParallelGroupError
from graflow_nb.pipeline import PipelineValidationError, StepStoppedError, StepTimeoutError, load_pipeline
from graflow_nb.pipeline.errors import TemplateError
from graflow_nb.pipeline.steps import process_group

pytestmark = pytest.mark.timeout(60)

HOSTILE = {
    "command substitution": "$(touch pwned)",
    "backticks": "`touch pwned`",
    "single-quote breakout": "'; rm -rf canary; '",
    "double-quote breakout": '"; rm -rf canary; touch pwned; "',
    "a double quote": '"',
    "a single quote": "'",
    "a backslash": "\\",
    "backslash then quote": "\\'; touch pwned; '",
    "newlines": "a\ntouch pwned\nb",
    "a variable": "$HOME",
    "a braced variable": "${HOME}",
    "arithmetic": "$((6*7))",
    "a glob": "*",
    "an option": "-n",
    "operators": "x && touch pwned || touch pwned; touch pwned | cat > pwned &",
    "redirection": "> pwned",
    "a comment": "# $(touch pwned)",
    "empty": "",
    "spaces": "  two  spaces  ",
    "unicode": "naïve – 日本 \u202e",
    "very long": "$(touch pwned)" * 7000,  # 98,000 characters
}

PLACEMENTS = {  # command -> how the value reaches printf
    "printf '[%s]\\n' ${workflow.p}": "[{}]\n",
    "printf '[%s]\\n' \"${workflow.p}\"": "[{}]\n",
    "printf '[%s]\\n' '${workflow.p}'": "[{}]\n",
    "printf '[%s]\\n' pre-${workflow.p}-post": "[pre-{}-post]\n",
    "printf '[%s]\\n' \"pre ${workflow.p} post\"": "[pre {} post]\n",
    "printf '[%s]\\n' 'pre ${workflow.p} post'": "[pre {} post]\n",
    "printf '[%s]\\n' \"$(printf '%s' ${workflow.p})\"": "[{}]\n",
    "printf '[%s]\\n' \"$(printf '%s' \"<${workflow.p}>\")\"": "[<{}>]\n",
    "printf '[%s]\\n' ${workflow.p} | cat": "[{}]\n",
    "printf '[%s]\\n' x # ${workflow.p} never runs": "[x]\n",
}


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    (tmp_path / "canary").mkdir()
    (tmp_path / "canary" / "keep").write_text("still here")
    return tmp_path


def run_shell(scratch: Path, cmd: str, value: str, **params) -> dict:
    wf = load_pipeline(
        {
            "inputs": {"p": {}},
            "pipeline": [{"id": "run", "type": "shell", "params": {"cmd": cmd, "shell": True, "cwd": str(scratch), **params}}],
        }
    )
    return wf.execute(initial_channel={"p": value})


def assert_nothing_ran(scratch: Path) -> None:
    assert sorted(p.name for p in scratch.iterdir()) == ["canary"]
    assert (scratch / "canary" / "keep").read_text() == "still here"


@pytest.mark.parametrize("cmd", list(PLACEMENTS))
@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_value_is_text_wherever_the_template_sits(scratch, cmd, name):
    value = HOSTILE[name]
    if "$(printf" in cmd and value.endswith("\n"):
        pytest.skip("command substitution drops trailing newlines by definition")
    result = run_shell(scratch, cmd, value)
    assert result == {"stdout": PLACEMENTS[cmd].format(value), "stderr": "", "exit_code": 0}
    assert_nothing_ran(scratch)


def test_echo_gets_the_value_as_one_argument(scratch):
    # echo itself reads a leading -n as its option: that is echo's rule, not the shell's.
    assert run_shell(scratch, 'echo "${workflow.p}"', "-n")["stdout"] == ""
    assert run_shell(scratch, "echo '${workflow.p}'", "$(touch pwned)")["stdout"] == "$(touch pwned)\n"
    assert run_shell(scratch, "echo ${workflow.p}", "'; rm -rf canary; '")["stdout"] == "'; rm -rf canary; '\n"
    assert_nothing_ran(scratch)


def echo_params(**params):
    return params


def test_a_value_that_is_json_reaches_the_command_as_its_json_text(scratch):
    wf = load_pipeline(
        {
            "pipeline": [
                {"id": "src", "type": "python", "function": "test_shell_safety:echo_params", "params": {"v": "$(touch pwned)"}},
                {"id": "run", "type": "shell", "params": {"cmd": "printf '%s' ${src}", "shell": True, "cwd": str(scratch)}},
            ]
        }
    )
    assert json.loads(wf.execute()["stdout"]) == {"v": "$(touch pwned)"}
    assert_nothing_ran(scratch)


@pytest.mark.parametrize("name", list(HOSTILE))
def test_argv_templates_stay_one_exact_argument_each(scratch, name):
    value = HOSTILE[name]
    show = "import json, sys; print(json.dumps(sys.argv[1:]))"
    wf = load_pipeline(
        {
            "inputs": {"p": {}},
            "pipeline": [
                {
                    "id": "run",
                    "type": "shell",
                    "params": {"cmd": [sys.executable, "-c", show, "${workflow.p}", "n=${workflow.p}"], "cwd": str(scratch)},
                }
            ],
        }
    )
    assert json.loads(wf.execute(initial_channel={"p": value})["stdout"]) == [value, f"n={value}"]
    assert_nothing_ran(scratch)


@pytest.mark.parametrize("shell", [True, False])
def test_a_value_with_a_nul_byte_is_refused_naming_the_template(scratch, shell):
    cmd = "printf '%s' \"${workflow.p}\"" if shell else ["printf", "%s", "${workflow.p}"]
    wf = load_pipeline(
        {"inputs": {"p": {}}, "pipeline": [{"id": "run", "type": "shell", "params": {"cmd": cmd, "shell": shell}}]}
    )
    with pytest.raises(TemplateError) as caught:
        wf.execute(initial_channel={"p": "a\0$(touch pwned)"})
    assert str(caught.value).splitlines()[0] == (
        "step 'run' ($.pipeline[0]): ${workflow.p}: the value holds a NUL byte (character 1 of 16), which no "
        "command argument or environment variable can carry; pass binary data in a file"
    )
    assert_nothing_ran(scratch)


def test_a_value_too_large_for_one_command_is_a_clear_error(scratch):
    with pytest.raises(OSError) as caught:
        run_shell(scratch, "printf '%s' ${workflow.p} | wc -c", "x" * 300_000)
    assert str(caught.value).startswith("[Errno 7] step 'run': the command's arguments and environment (")
    assert str(caught.value).endswith("characters) are more than the system lets one command have; pass large values with stdin or a file")


@pytest.mark.parametrize(
    "cmd, where",
    [
        ("echo `echo ${workflow.p}`", "inside backquotes `...`: write $(...) instead"),
        ("echo $((${workflow.p} + 1))", "inside $((...)) arithmetic"),
        ("echo $${MISSING:-${workflow.p}}", "inside a shell ${...} expansion"),
        ("cat <<EOF\n${workflow.p}\nEOF", "after a here-document (<<): pass the value with stdin or env"),
    ],
)
def test_a_template_where_its_quoting_is_not_the_commands_own_is_refused_before_anything_runs(cmd, where):
    with pytest.raises(PipelineValidationError) as caught:
        load_pipeline({"inputs": {"p": {}}, "pipeline": [{"id": "run", "type": "shell", "params": {"cmd": cmd, "shell": True}}]})
    assert f"$.pipeline[0].params.cmd: ${{workflow.p}} in the shell command sits {where}" in str(caught.value)


def test_a_nested_program_gets_the_value_through_env(scratch):
    # The documented way to give a value to code another program runs (sh -c, eval, ssh).
    result = run_shell(scratch, "sh -c 'printf \"[%s]\" \"$VALUE\"'", "unused", env={"VALUE": "$(touch pwned)'\"; rm -rf canary"})
    assert result["stdout"] == "[$(touch pwned)'\"; rm -rf canary]"
    assert_nothing_ran(scratch)


# -- stopping the whole command ----------------------------------------------------------
def pid_of_shell(scratch: Path) -> int:
    return int((scratch / "pid").read_text())


@pytest.mark.parametrize(
    "cmd",
    [
        "echo $$ > pid; sleep 40; echo done",
        "echo $$ > pid; sleep 40 | cat",
        "echo $$ > pid; (sleep 40; echo late > late) & wait",
        "echo $$ > pid; trap '' TERM; sleep 40; echo survived",  # ignores SIGTERM: needs SIGKILL
    ],
)
def test_a_timed_out_command_leaves_no_process_of_its_group(scratch, cmd, monkeypatch):
    monkeypatch.setattr(process_group, "KILL_GRACE_SECONDS", 0.3)
    wf = load_pipeline(
        {"pipeline": [{"id": "run", "type": "shell", "timeout": 1, "params": {"cmd": cmd, "shell": True, "cwd": str(scratch)}}]}
    )
    with pytest.raises(StepTimeoutError) as caught:
        wf.execute()
    assert str(caught.value).splitlines()[0] == (
        f"step 'run': command {cmd!r} ran longer than 1s and was killed, with every process it started"
    )
    pgid = pid_of_shell(scratch)
    assert process_group.group_members(pgid) == []
    assert not (scratch / "late").exists()


def long_command_beside(scratch: Path, step_id: str, function: str):
    """A parallel block: a long shell command, and a python step of this module that
    acts once the command's shell has written its pid."""
    long = {"id": "long", "type": "shell", "params": {"cmd": "echo $$ > pid; sleep 40 | cat", "shell": True, "cwd": str(scratch)}}
    other = {"id": step_id, "type": "python", "function": f"test_shell_safety:{function}", "params": {"pidfile": str(scratch / "pid")}}
    return load_pipeline({"pipeline": [{"parallel": [long, other]}]})


def test_a_cancelled_run_stops_a_running_command_and_its_children(scratch):
    wf = long_command_beside(scratch, "bad", "fail_once_started")
    with pytest.raises(ParallelGroupError) as caught:
        wf.execute(session_id="X")
    assert process_group.group_members(pid_of_shell(scratch)) == []
    run = wf.last_run
    # The stopped command is the sibling's doing: cancelled, not a second failure.
    long_run = [t for t in run.task_runs if t.task_id == "long"][0]
    assert long_run.status == "cancelled" and isinstance(long_run.error, StepStoppedError)
    assert str(long_run.error).startswith("step 'long': the run was cancelled; command ")
    assert {s.session_id: s.state for s in run.sessions.values()} == {"X": "failed", "X_long": "cancelled", "X_bad": "failed"}
    assert [m for m, _ in caught.value.failed_tasks] == ["bad"] and caught.value.cancelled_tasks == ["long"]
    assert run.status == "failed" and run.error is caught.value


def fail_once_started(pidfile: str) -> None:
    """Fail once the sibling's shell is running (its pid file exists)."""
    wait_for_file(Path(pidfile))
    raise RuntimeError("sibling failed")


def wait_for_file(path: Path) -> None:
    pause = threading.Event()
    for _ in range(4000):
        if path.exists() and path.read_text().strip():
            return
        pause.wait(0.005)
    raise AssertionError(f"{path} never appeared")


@pytest.mark.usefixtures("real_ctrl_c")  # a real SIGINT: see conftest
def test_an_interrupt_stops_the_command_and_its_children(scratch):
    wf = load_pipeline(
        {"pipeline": [{"id": "long", "type": "shell", "params": {"cmd": "echo $$ > pid; sleep 40 | cat", "shell": True, "cwd": str(scratch)}}]}
    )

    def interrupt_once_running() -> None:
        wait_for_file(scratch / "pid")
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)

    helper = threading.Thread(target=interrupt_once_running, daemon=True)
    helper.start()
    with pytest.raises(KeyboardInterrupt):
        wf.execute(session_id="I")
    helper.join(10)
    assert process_group.group_members(pid_of_shell(scratch)) == []
    assert wf.last_run.status == "cancelled"
    assert {s.session_id: s.state for s in wf.last_run.sessions.values()} == {"I": "cancelled"}


@pytest.mark.usefixtures("real_ctrl_c")  # a real SIGINT: see conftest
def test_an_interrupt_stops_a_command_running_in_a_branch(scratch):
    wf = long_command_beside(scratch, "trigger", "interrupt_main_once_started")
    with pytest.raises(KeyboardInterrupt):
        wf.execute(session_id="J")
    assert process_group.group_members(pid_of_shell(scratch)) == []
    assert wf.last_run.status == "cancelled"
    assert {s.session_id: s.state for s in wf.last_run.sessions.values()} == {"J": "cancelled", "J_long": "cancelled", "J_trigger": "cancelled"}


def interrupt_main_once_started(pidfile: str) -> None:
    wait_for_file(Path(pidfile))
    signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
    while True:  # until the interrupt delivered into this thread stops it
        pass
