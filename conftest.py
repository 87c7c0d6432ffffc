"""Suite-wide, for every test folder, the package's doctests and the notebooks: a
checkpoint is signed with a secret made for this test session, never with the user's
own (``~/.local/share/graflow_nb/secret``).  ``GRAFLOW_NB_SECRET_FILE`` points into a
temporary folder for this process and every process it starts (fresh interpreters,
kernels, Dask workers), and the folder goes when the session ends.  The default place
is tested once, with ``HOME`` and ``XDG_DATA_HOME`` pointed at temporary folders
(tests/checkpoint/test_signing.py)."""

from __future__ import annotations

import os
import shutil
import tempfile

from graflow_nb.core.signing import ENV_VAR

_FOLDER = tempfile.mkdtemp(prefix="graflow_nb-test-secret-")


def pytest_configure(config):
    os.environ[ENV_VAR] = os.path.join(_FOLDER, "secret")


def pytest_unconfigure(config):
    shutil.rmtree(_FOLDER, ignore_errors=True)
