"""How a value an analysis is about is shown: on one line (``brief``) and as HTML
(``value_html``) for the debugger's channel inspector, the merge preview, the task
inspector and the run's summary line.

A person reads these to learn what a task produced, so what a cut hides matters:

- a DataFrame (or anything with ``shape``, ``dtypes`` and ``to_html``) is its shape on
  one line (``DataFrame 442x10``) and, as HTML, its first rows as a small table with its
  shape and column dtypes; a Series or an array is its values when they fit on a short
  line, else its shape and dtype;
- a NumPy scalar is its number in full (``0.4528``, not ``np.float64(0.4528)``), inside
  dicts, lists and tuples too;
- any other value is its repr on one line; a long one is cut on its line and, as HTML,
  expands to the whole text (up to ``FULL_TEXT`` characters).

Nothing here imports pandas or NumPy: they are recognised by their module and their
attributes, so showing a value never loads a library the notebook did not.
"""

from __future__ import annotations

import html
from typing import Any

FULL_TEXT = 20_000  # characters of an expanded value (a repr of a huge object stays bounded)
TABLE_ROWS = 5
TABLE_COLUMNS = 12
INLINE = 120  # characters shown as HTML without a fold
SMALL = 60  # a series or array whose one-line repr is this short is shown as its values


def _library(value: Any) -> str:
    return type(value).__module__.split(".", 1)[0]


def _is_frame(value: Any) -> bool:
    return _library(value) == "pandas" and hasattr(value, "dtypes") and hasattr(value, "columns")


def _is_series(value: Any) -> bool:
    return _library(value) == "pandas" and hasattr(value, "dtype") and hasattr(value, "index") and not _is_frame(value)


def _is_array(value: Any) -> bool:
    return _library(value) == "numpy" and getattr(value, "ndim", 0) >= 1 and hasattr(value, "dtype")


def _is_scalar(value: Any) -> bool:
    return _library(value) == "numpy" and getattr(value, "ndim", None) == 0 and hasattr(value, "item")


def _shape(shape: tuple[int, ...]) -> str:
    return "x".join(str(n) for n in shape)


def described(value: Any) -> str | None:
    """``DataFrame 442x10``, ``Series 442 float64``, ``ndarray 3x4 int64``; None for the rest."""
    if _is_frame(value):
        return f"{type(value).__name__} {_shape(value.shape)}"
    if _is_series(value) or _is_array(value):
        return f"{type(value).__name__} {_shape(value.shape)} {value.dtype}"
    return None


def plain_repr(value: Any) -> str:
    """The value's repr on one line, with NumPy scalars as their numbers and frames,
    series and arrays (also inside dicts, lists and tuples) as their shapes."""
    return " ".join(_repr(value, 0).split())


def _repr(value: Any, depth: int) -> str:
    if _is_scalar(value):
        return repr(value.item())
    shape = described(value)
    if shape is not None and _fits(value):  # a short series or array reads best as its values
        return " ".join(_safe_repr(value).split())
    if shape is not None:
        return f"<{shape}>"
    if depth < 3:
        if type(value) is dict:
            return "{" + ", ".join(f"{_repr(k, depth + 1)}: {_repr(v, depth + 1)}" for k, v in value.items()) + "}"
        if type(value) is list:
            return "[" + ", ".join(_repr(v, depth + 1) for v in value) + "]"
        if type(value) is tuple:
            inner = ", ".join(_repr(v, depth + 1) for v in value)
            return f"({inner},)" if len(value) == 1 else f"({inner})"
    return _safe_repr(value)


def _fits(value: Any) -> bool:
    """A series or array whose values fit on a short line (never a frame)."""
    return not _is_frame(value) and len(" ".join(_safe_repr(value).split())) <= SMALL


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as error:  # a value whose repr fails is still shown
        return f"<{type(value).__name__}: repr raised {type(error).__name__}>"


def brief(value: Any, width: int = 60) -> str:
    """One line: a frame's shape, else the repr (a long series or array: its shape and
    dtype), cut to ``width`` characters."""
    shape = described(value)
    text = plain_repr(value) if shape is None or _fits(value) else shape
    return text if len(text) <= width else text[: width - 3] + "..."


def value_html(value: Any) -> str:
    """HTML for one value: a frame as a small table with its shape and dtypes, a short
    value inline, a long one folded (its start shown, the whole text on a click)."""
    if _is_frame(value):
        return _frame_html(value)
    shape = described(value)
    if shape is not None and not _fits(value):  # a long series or array: shape, values folded
        text, summary = _safe_repr(value), shape
    else:
        text = plain_repr(value)
        if len(text) <= INLINE:
            return f"<code>{html.escape(text)}</code>"
        summary = text[:INLINE - 3] + "..."
    whole = text if len(text) <= FULL_TEXT else text[:FULL_TEXT] + f"... ({len(text)} characters)"
    return (
        f"<details class='graflow-value'><summary><code>{html.escape(summary)}</code></summary>"
        f"<pre style='white-space:pre-wrap'>{html.escape(whole)}</pre></details>"
    )


def _frame_html(frame: Any) -> str:
    rows, columns = frame.shape
    dtypes = ", ".join(f"{name} {dtype}" for name, dtype in list(frame.dtypes.items())[:TABLE_COLUMNS])
    if columns > TABLE_COLUMNS:
        dtypes += f", ... ({columns - TABLE_COLUMNS} more)"
    try:
        table = frame.head(TABLE_ROWS).to_html(max_cols=TABLE_COLUMNS, border=0)
    except Exception as error:  # a frame that can't draw itself still shows its shape
        table = f"<i>table not drawn: {html.escape(type(error).__name__)}</i>"
    more = f"first {TABLE_ROWS} of {rows} rows" if rows > TABLE_ROWS else f"{rows} rows"
    return (
        f"<div class='graflow-frame'><code>{html.escape(type(frame).__name__)} {rows} rows x {columns} columns"
        f"</code> ({more})<br><small>dtypes: {html.escape(dtypes)}</small>{table}</div>"
    )
