"""Shared fixtures for the pipeline tests: a clean call log, and a pipeline writer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from steps_under_test import LOG

S = "steps_under_test"


@pytest.fixture(autouse=True)
def clean_log():
    LOG.reset()
    yield LOG


@pytest.fixture
def write(tmp_path: Path):
    """``write(name, document)``: the document as a JSON or YAML file (by suffix)."""

    def _write(name: str, document: Any) -> Path:
        path = tmp_path / name
        if isinstance(document, str):
            path.write_text(document, encoding="utf-8")
        elif path.suffix == ".json":
            path.write_text(json.dumps(document, indent=2), encoding="utf-8")
        else:
            path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        return path

    return _write
