"""``graflow_nb.core.task`` is both graflow's module path and the package's ``task``
decorator (as before the floors, when the module loaded first too): importing the
module must never replace the decorator on the package."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_task_module_leaves_the_decorator_on_the_package():
    code = (
        "import sys\n"
        "from graflow_nb.core.task import TaskWrapper\n"
        "import graflow_nb.core.task\n"
        "import graflow_nb.core as core\n"
        "module = sys.modules['graflow_nb.core.task']\n"
        "from graflow_nb.core import task\n"
        "from graflow_nb.core.model.decorators import task as decorator\n"
        "assert core.task is decorator and task is decorator, core.task\n"
        "assert module.TaskWrapper is core.TaskWrapper is TaskWrapper\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"
