"""Check that two wheels hold the same files with the same contents.

``make dist`` builds one wheel from the sdist (as pip does when it only finds the sdist)
and one straight from the source tree. A file the sdist forgets (a data file, a
module outside the package finder's view) is missing from the first and shows up here,
by name. Contents are compared through the hashes each wheel's RECORD lists.

    python smoke/same_wheel.py dist/graflow_nb-X-py3-none-any.whl other/graflow_nb-X-py3-none-any.whl
"""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from pathlib import Path


def record(wheel: Path) -> dict[str, str]:
    """Each file the wheel's RECORD lists, with its hash (RECORD itself has none)."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
        rows = csv.reader(io.TextIOWrapper(archive.open(name), encoding="utf-8"))
        listed = {row[0]: row[1] for row in rows if row}
        unlisted = sorted(set(archive.namelist()) - set(listed))
    if unlisted:
        raise SystemExit(f"{wheel}: files missing from its RECORD: {', '.join(unlisted)}")
    return listed


def differences(first: Path, second: Path) -> list[str]:
    """One line per file present in only one wheel or different in the two."""
    a, b = record(first), record(second)
    lines = [f"only in {first.name} from {first.parent}: {n}" for n in sorted(a.keys() - b.keys())]
    lines += [f"only in {second.name} from {second.parent}: {n}" for n in sorted(b.keys() - a.keys())]
    lines += [f"differs: {n}" for n in sorted(a.keys() & b.keys()) if a[n] != b[n]]
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    first, second = map(Path, argv)
    found = differences(first, second)
    for line in found:
        print(line, file=sys.stderr)
    if not found:
        print(f"{first} and {second}: the same {len(record(first))} files")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
