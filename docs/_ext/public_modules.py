"""The public import paths the API reference documents (never internal module paths):
read by the docs build (``graflow_docs.py``) and by ``tests/docs/test_api_reference.py``,
which checks the same contract without Sphinx."""

PUBLIC_MODULES = (
    "graflow_nb",
    "graflow_nb.notebook",
    "graflow_nb.observe",
    "graflow_nb.debug",
    "graflow_nb.pipeline",
    "graflow_nb.distributed",
    "graflow_nb.core.checkpoint",
    "graflow_nb.core.snapshot",
    "graflow_nb.core.cache",
    "graflow_nb.core",
)
