"""``shell: true`` commands whose substituted values the shell never reads as code.

Pasting a value into a shell command is only as safe as the quoting around it, and a
template can sit anywhere: bare, inside ``"..."``, inside ``'...'``.  So values are
not pasted.  Each template becomes a reference to an environment variable that holds
the value (``GRAFLOW_NB_VALUE_1``, ``_2``, ...), written to suit where the template
sits, so it expands to exactly the value, as one word, with no globbing:

    bare             ${workflow.p}       ->  "${GRAFLOW_NB_VALUE_1}"
    double quotes    "a ${workflow.p}"   ->  "a ${GRAFLOW_NB_VALUE_1}"
    single quotes    'a ${workflow.p}'   ->  'a '"${GRAFLOW_NB_VALUE_1}"''

The shell expands a variable once and never parses the result as shell syntax, so
``$(touch x)``, backticks, quotes, ``;``, newlines or ``*`` in a value stay text.

Refused (a ``TemplateError`` before anything runs), because the quoting there is not
the command's own: a template inside backquotes (use ``$(...)``), inside ``$((...))``
arithmetic, inside a shell ``$${...}`` expansion, or after a here-document ``<<``.

Not covered, and cannot be: text that another program runs as code, such as
``sh -c '... ${x} ...'``, ``eval``, ``ssh host '...'`` or ``python -c '...'``: the
value becomes that program's source.  Give such a program the value through ``env``
(``env: {NAME: "${x}"}``) and let it read ``$NAME``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import TemplateError
from ..templates import Ref, format_embedded, parse, walk

VALUE_PREFIX = "GRAFLOW_NB_VALUE_"

_WORD_START = frozenset(" \t\n;&|()<>")
_CLOSERS = {"single": "'", "comment": "\n", "backtick": "`"}  # contexts one character ends
_REFUSED = {
    "backtick": "inside backquotes `...`: write $(...) instead",
    "brace": "inside a shell ${...} expansion",
    "arith": "inside $((...)) arithmetic",
    "heredoc": "after a here-document (<<): pass the value with stdin or env",
}


def shell_script(command: str) -> tuple[str, list[Ref]]:
    r"""``command`` with each template replaced by a quoted variable reference, and the
    templates in order (the n-th is ``GRAFLOW_NB_VALUE_n``).

    >>> script, refs = shell_script("grep -c '${fetch.word}' \"${workflow.dir}/log\" | tee ${workflow.out}")
    >>> print(script)
    grep -c ''"${GRAFLOW_NB_VALUE_1}"'' "${GRAFLOW_NB_VALUE_2}/log" | tee "${GRAFLOW_NB_VALUE_3}"
    >>> [str(ref) for ref in refs]
    ['${fetch.word}', '${workflow.dir}', '${workflow.out}']
    """
    scanner = _Quoting()
    script: list[str] = []
    refs: list[Ref] = []
    for part in parse(command):
        if isinstance(part, str):
            scanner.feed(part)
            script.append(part)
            continue
        refused = "heredoc" if scanner.heredoc else scanner.context
        if refused in _REFUSED:
            raise TemplateError(f"{part} in the shell command sits {_REFUSED[refused]}")
        refs.append(part)
        name = "${" + f"{VALUE_PREFIX}{len(refs)}" + "}"
        script.append({"double": name, "single": f"'\"{name}\"'"}.get(scanner.context, f'"{name}"'))
    return "".join(script), refs


def script_values(refs: list[Ref], lookup: Callable[[str], Any]) -> dict[str, str]:
    """The environment variables ``shell_script``'s references read."""
    return {f"{VALUE_PREFIX}{n}": checked_text(ref, walk(lookup(ref.root), ref)) for n, ref in enumerate(refs, 1)}


def checked_text(ref: Ref | str, value: Any) -> str:
    """``value`` as command text; a NUL byte can't be in any argument or variable."""
    text = value if isinstance(value, str) else format_embedded(value)
    if "\0" in text:
        at = text.index("\0")
        raise TemplateError(
            f"{ref}: the value holds a NUL byte (character {at} of {len(text)}), which no command argument or "
            f"environment variable can carry; pass binary data in a file"
        )
    return text


class _Quoting:
    """Where the end of the text fed so far sits in POSIX sh syntax: a stack of
    contexts (plain, double, single, backtick, paren for ``$(``, brace for ``${``,
    arith for ``$((``, comment) and whether a here-document has started."""

    def __init__(self) -> None:
        self.stack: list[list[Any]] = [["plain", 0]]
        self.heredoc = False
        self._previous = "\n"

    @property
    def context(self) -> str:
        return self.stack[-1][0]

    def feed(self, text: str) -> None:
        i = 0
        while i < len(text):
            i = self._step(text, i)

    def _step(self, text: str, i: int) -> int:
        c = text[i]
        top = self.stack[-1]
        kind = top[0]
        ahead = text[i : i + 3]
        word_start = self._previous in _WORD_START
        self._previous = c
        closer = _CLOSERS.get(kind)
        if closer is not None and (kind != "backtick" or c != "\\"):  # only backquotes honour \
            if c == closer:
                self.stack.pop()
            return i + 1
        if c == "\\":
            self._previous = "\\"
            return i + 2
        if kind == "brace":
            if c == "}":
                self.stack.pop()
            elif ahead.startswith("${"):
                self.stack.append(["brace", 0])
                return i + 2
            return i + 1
        if kind == "arith":
            top[1] += {"(": 1, ")": -1}.get(c, 0)
            if top[1] == 0:
                self.stack.pop()
            return i + 1
        if ahead.startswith("$(("):
            self.stack.append(["arith", 2])
            return i + 3
        if ahead.startswith("$("):
            self.stack.append(["paren", 1])
            return i + 2
        if ahead.startswith("${"):
            self.stack.append(["brace", 0])
            return i + 2
        if c == "`":
            self.stack.append(["backtick", 0])
            return i + 1
        if c == '"':
            if kind == "double":
                self.stack.pop()
            else:
                self.stack.append(["double", 0])
            return i + 1
        if kind == "double":
            return i + 1
        # plain or paren: unquoted text
        if c == "'":
            self.stack.append(["single", 0])
        elif c == "#" and word_start:
            self.stack.append(["comment", 0])
        elif ahead.startswith("<<"):
            self.heredoc = True
            self._previous = "<"
            return i + 2
        elif kind == "paren" and c in "()":
            top[1] += 1 if c == "(" else -1
            if top[1] == 0:
                self.stack.pop()
        return i + 1
