"""A task's code key: everything about its code that decides what calling it does.

The key of a function task covers, each as a named part (so ``why()`` can say which
one changed):

    source           its source, parsed and dumped without comments, docstrings or
                     positions (the bytecode when there is no source)
    helper NAME      a notebook-defined (or local-file) function or class it uses by
                     name, keyed the same way, recursively; a class by its name,
                     bases, methods and attributes, taken by name (``_class_parts``):
                     what ``@dataclass`` wrote by the decorator's arguments and the
                     fields, ``__slots__``' descriptors by ``__slots__``
    global NAME      any other global it reads, by content (``fingerprint``)
    module NAME      a module it uses, by its distribution's version (a local module
                     without one by its file's bytes)
    closure NAME     a value it closes over (functions keyed as helpers)
    defaults, bound, data, settings: default arguments, values bound with
                     ``t(task_id=..., x=...)``, an iteration's data, how it is called

Names are what the code objects list (``co_names`` of the function and every code
object nested in it), looked up in the function's globals: attribute names that are
no global simply find nothing.  Installed functions and classes are keyed by module,
qualified name and version.  A value (a global, a class attribute, a default) that
holds a notebook class, or an instance of one, is fingerprinted with that class's
digest from here (``function_digest``).  Anything that can't be keyed raises ``Unfingerprintable``
(the task then runs, uncached, with that reason).

What is kept, and for how long.  A ``KeyMaker`` keys each function, global value and
module once per run: a value a run reads may have been changed in place since the last
one (a global list appended to, a frame edited), so every run reads them again.  Two
things are kept for the process, because nothing can change them without making a new
object: the source digest of a code object, or that it has no source (a code object
is immutable; redefining a function, or ``f.__code__ = ...``, makes or sets a new
one), and a task's assembled ``CodeKey``, reused only while its function's digest
(recomputed each run), its id and how it is called are what they were and it has no
bound values or iteration data.  Both are held weakly: a task or function that is gone takes its memo with it.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.metadata
import inspect
import sys
import textwrap
import types
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

from ..model.task import Executable, IterationTask, TaskWrapper
from .fingerprint import DIGEST_SIZE, Unfingerprintable, fingerprint

_PYTHON = f"python{sys.version_info.major}.{sys.version_info.minor}"
_DOC_HOLDERS = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

# A class's own attributes that say nothing about what it does: Python's bookkeeping,
# and copyreg's ``__slotnames__``, set once an instance is pickled.
_NOT_DEFINITION = frozenset({"__dict__", "__weakref__", "__module__", "__doc__", "__qualname__", "__firstlineno__",
                             "__static_attributes__", "__slotnames__"})
# The descriptors ``__slots__`` makes, one per name: keyed by ``__slots__`` itself.
_SLOT_DESCRIPTORS = (types.MemberDescriptorType, types.GetSetDescriptorType)
# What ``@dataclass`` records on the class: keyed by what it is made from (``_dataclass_part``).
_DATACLASS_RECORDS = frozenset({"__dataclass_fields__", "__dataclass_params__"})
# The methods ``@dataclass`` may write (``_made_by_dataclass``).
_DATACLASS_METHODS = frozenset({"__init__", "__repr__", "__eq__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__",
                                "__setattr__", "__delattr__", "__getstate__", "__setstate__", "__replace__"})
_DEFINITIONS = (types.FunctionType, type, functools.partial, types.MethodType, types.BuiltinFunctionType,
                types.ModuleType)


@dataclass(frozen=True)
class CodeKey:
    """A task's code key: ``digest`` over all ``parts`` ({part name: digest})."""

    task_id: str
    digest: bytes
    parts: dict[str, bytes]

    def changed_part(self, before: CodeKey) -> str:
        """The first part that differs from ``before``, in words, for ``why()``."""
        for name, digest in self.parts.items():
            if before.parts.get(name) != digest:
                return _part_words(name)
        gone = [name for name in before.parts if name not in self.parts]
        return _part_words(gone[0]) if gone else "its code"


def _part_words(name: str) -> str:
    kind, _, label = name.partition(" ")
    return {
        "source": "its source",
        "helper": f"helper `{label}`",
        "global": f"global `{label}`",
        "module": f"module `{label}`",
        "closure": f"closure value `{label}`",
        "defaults": "its default arguments",
        "bound": "its bound values",
        "data": "its iteration data",
        "settings": "how it is called",
        "kind": "its kind",
    }.get(kind, name)


# Kept for the process (module docstring), by the id of an object still alive (each
# entry holds a weak reference to it, and is dropped when it goes):
# a task's last code key, with its id, its function's digest and how it is called;
_TASK_KEYS: dict[int, tuple[weakref.ref[Any], str, bytes, tuple[Any, ...], CodeKey]] = {}
# a code object's source digest;
_SOURCES: dict[int, tuple[weakref.ref[Any], bytes]] = {}
# whether a code object has no source to read (``_made_by_dataclass``).
_SOURCELESS: dict[int, tuple[weakref.ref[Any], bool]] = {}


def _forget(memo: dict[int, Any], key: int, gone: weakref.ref[Any]) -> None:
    """A memo's object is gone: its entry goes too (unless a new object has its id by now)."""
    known = memo.get(key)
    if known is not None and known[0] is gone:
        memo.pop(key, None)  # a collection on another thread may have got here first


def _blake(*chunks: bytes) -> bytes:
    h = hashlib.blake2b(digest_size=DIGEST_SIZE)
    for chunk in chunks:
        h.update(chunk)
        h.update(b"\x00")
    return h.digest()


class KeyMaker:
    """Code keys for one run: what it keyed once (a helper two tasks call, a module's
    version) is kept for the rest of the run."""

    def __init__(self) -> None:
        self._functions: dict[int, tuple[Any, bytes]] = {}
        self._parts: dict[int, tuple[Any, dict[str, bytes], bytes]] = {}
        self._values: dict[int, tuple[Any, bytes]] = {}
        self._modules: dict[str, bytes] = {}
        self._active: set[int] = set()

    def task_key(self, task: Executable) -> CodeKey:
        """``task``'s code key; ``Unfingerprintable`` says what can't be keyed."""
        kind = type(task)
        if kind is not TaskWrapper and not isinstance(task, TaskWrapper):  # an ABC's isinstance: slower
            raise Unfingerprintable(f"{type(task).__name__} is no function task")
        task = cast(TaskWrapper, task)
        func_parts, func_digest = self._task_function_parts(task.func)
        task_id = task.task_id
        how = (kind, task.inject_context, task.inject_llm_client, task.inject_llm_agent, task.resolve_keyword_args)
        plain = not task.bound_kwargs and (kind is TaskWrapper or not isinstance(task, IterationTask))
        if plain:
            known = _TASK_KEYS.get(id(task))
            if known is not None and known[0]() is task and known[1] == task_id and known[2] == func_digest \
                    and known[3] == how:
                return known[4]
        settings = repr((how[0].__qualname__, *how[1:])).encode()
        parts = {**func_parts, "settings": settings}
        chunks = [task_id.encode(), func_digest, settings]
        if task.bound_kwargs:
            parts["bound"] = self._value(dict(task.bound_kwargs), "its bound values")
            chunks.append(parts["bound"])
        if isinstance(task, IterationTask):
            parts["data"] = self._value(task.data, "its iteration data")
            chunks.append(parts["data"])
        key = CodeKey(task_id, _blake(*chunks), parts)
        if plain:
            _TASK_KEYS[id(task)] = (weakref.ref(task, functools.partial(_forget, _TASK_KEYS, id(task))), task_id,
                                    func_digest, how, key)
        return key

    # -- functions ------------------------------------------------------------------
    def _task_function_parts(self, func: Any) -> tuple[dict[str, bytes], bytes]:
        """``_function_parts`` and their digest, once per function and run: a thousand
        tasks of one function (a fan-out) read its source once."""
        known = self._parts.get(id(func))
        if known is None or known[0] is not func:
            parts = self._function_parts(func)
            known = self._parts[id(func)] = (func, parts, _blake(*(n.encode() + b"=" + d for n, d in parts.items())))
        return known[1], known[2]

    def _function_parts(self, func: Any) -> dict[str, bytes]:
        parts: dict[str, bytes]
        if isinstance(func, functools.partial):  # a map's item task: one per item, over one function
            parts = dict(self._task_function_parts(func.func)[0])
            parts["bound"] = self._value((func.args, func.keywords), "its partial's arguments")
            return parts
        if isinstance(func, types.MethodType):
            parts = dict(self._task_function_parts(func.__func__)[0])
            parts["bound"] = self._value(func.__self__, "the object its method is bound to")
            return parts
        if not isinstance(func, types.FunctionType):
            call = vars(type(func)).get("__call__")
            own = self._function_parts(call) if isinstance(call, types.FunctionType) else {}
            # The function it calls: ``keyed_function`` (a pipeline step's), or as functools.wraps says.
            wrapped = getattr(func, "keyed_function", None) or getattr(func, "__wrapped__", None)
            if wrapped is not None:
                own[f"helper {getattr(wrapped, '__qualname__', 'wrapped')}"] = self._dependency("wrapped", wrapped)[1]
            own["bound"] = self._value(func, "its callable object")
            return own
        code = func.__code__
        parts = {"source": _kept_source_digest(func)}
        if func.__defaults__ or func.__kwdefaults__:
            parts["defaults"] = self._value((func.__defaults__, func.__kwdefaults__), "its default arguments")
        namespace = func.__globals__
        for name in _global_names(code):
            if name not in namespace:
                continue  # a builtin, an attribute name, or a global not defined yet
            value = namespace[name]
            label, digest = self._dependency(name, value)
            parts[f"{label} {name}"] = digest
        for name, cell in zip(code.co_freevars, func.__closure__ or (), strict=False):
            try:
                value = cell.cell_contents
            except ValueError:
                parts[f"closure {name}"] = b"empty"
                continue
            parts[f"closure {name}"] = self._dependency(name, value)[1]
        return parts

    def _dependency(self, name: str, value: Any) -> tuple[str, bytes]:
        """``(label, digest)`` of a name a function uses."""
        if isinstance(value, types.ModuleType):
            return "module", self._module(value)
        if isinstance(value, Executable):
            func = value.func if isinstance(value, TaskWrapper) else None
            digest = b"" if func is None else self.function_digest(func)
            return "helper", _blake(b"task", value.task_id.encode(), digest)
        if isinstance(value, (types.FunctionType, type, functools.partial, types.MethodType)):
            if _is_local(value):
                return "helper", self.function_digest(value)
            return "module", self._installed(value)
        if isinstance(value, types.BuiltinFunctionType):
            return "module", self._installed(value)
        return "global", self._value(value, f"global `{name}`")

    def function_digest(self, func: Any) -> bytes:
        """One digest for a helper (function or class), its own uses included."""
        cached = self._functions.get(id(func))
        if cached is not None and cached[0] is func:
            return cached[1]
        if id(func) in self._active:  # recursion between helpers: named, not followed
            return _blake(b"recursive", getattr(func, "__qualname__", "?").encode())
        self._active.add(id(func))
        try:
            if isinstance(func, type):
                # By name: the order of a class's attributes is no part of what it does,
                # and cloudpickle rebuilds a notebook class on a Dask worker in another.
                parts = dict(sorted(self._class_parts(func).items()))
            else:
                parts = self._function_parts(func)
        finally:
            self._active.discard(id(func))
        digest = _blake(*(name.encode() + b"=" + d for name, d in parts.items()))
        self._functions[id(func)] = (func, digest)
        return digest

    def _class_parts(self, cls: type) -> dict[str, bytes]:
        parts: dict[str, bytes] = {"kind": cls.__qualname__.encode()}
        for base in cls.__bases__:
            if base is not object:
                parts[f"base {base.__qualname__}"] = self._dependency(base.__name__, base)[1]
        own = vars(cls)
        fields = own.get("__dataclass_fields__")
        if isinstance(fields, dict):  # this class's own @dataclass (a subclass's is its own part)
            parts["dataclass"] = self._dataclass_part(cls, fields)
        for name, member in own.items():
            if name in _NOT_DEFINITION or type(member) in _SLOT_DESCRIPTORS:
                continue
            if fields is not None and (name in _DATACLASS_RECORDS or _made_by_dataclass(member)):
                continue
            target = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
            if isinstance(target, property):
                target = target.fget
            if isinstance(target, types.FunctionType):
                parts[f"method {name}"] = self.function_digest(target)
            else:
                parts[f"attr {name}"] = self._member(target, f"class attribute `{cls.__qualname__}.{name}`")
        return parts

    def _dataclass_part(self, cls: type, fields: dict[str, Any]) -> bytes:
        """What ``@dataclass`` made of the class (its records, and the methods it wrote
        without source), by what it made them from: the decorator's arguments and each
        field's name, kind, type, default, factory, flags and metadata."""
        chunks = [repr(vars(cls).get("__dataclass_params__")).encode()]  # its arguments
        for name, spec in fields.items():
            where = f"field `{cls.__qualname__}.{name}`"
            flags = (name, getattr(spec._field_type, "name", "?"), spec.init, spec.repr, spec.hash, spec.compare,
                     spec.kw_only if isinstance(spec.kw_only, bool) else None)
            chunks.append(repr(flags).encode())
            chunks.append(self._member(spec.type, f"{where}'s type"))
            chunks.append(self._member(spec.default, f"{where}'s default"))
            chunks.append(self._member(spec.default_factory, f"{where}'s default_factory"))
            chunks.append(self._value(dict(spec.metadata), f"{where}'s metadata"))
        return _blake(*chunks)

    def _member(self, value: Any, where: str) -> bytes:
        """A class attribute, field type or default: a function or class it names as a
        helper (keyed by definition when local), anything else by content."""
        if isinstance(value, _DEFINITIONS):
            return self._dependency(where, value)[1]
        return self._value(value, where)

    # -- values and modules -----------------------------------------------------------
    def _value(self, value: Any, where: str) -> bytes:
        cached = self._values.get(id(value))
        if cached is not None and cached[0] is value:
            return cached[1]
        try:
            digest = fingerprint(value, self.function_digest)
        except Unfingerprintable as error:
            raise Unfingerprintable(f"{where}: {error}") from None
        except RecursionError:
            raise Unfingerprintable(f"{where}: nested too deeply to read") from None
        self._values[id(value)] = (value, digest)
        return digest

    def _module(self, module: types.ModuleType) -> bytes:
        name = module.__name__
        known = self._modules.get(name)
        if known is None:
            known = self._modules[name] = _module_identity(module)
        return known

    def _installed(self, obj: Any) -> bytes:
        module_name = getattr(obj, "__module__", None) or "builtins"
        module = sys.modules.get(module_name)
        identity = self._module(module) if module is not None else module_name.encode()
        return _blake(identity, str(getattr(obj, "__qualname__", obj)).encode())


def _made_by_dataclass(member: Any) -> bool:
    """A method ``@dataclass`` wrote (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
    a frozen class's ``__setattr__``...), made from the fields and the decorator's
    arguments: one of the names it writes, with no source of its own (it never
    replaces a method the class defines, which has one), or one of ``dataclasses``'
    own helpers.  A Dask worker tells them apart the same way: cloudpickle brings
    both kinds without a file name, and only the class's own methods have a source
    digest learnt from where the class was defined (``learn_sources``)."""
    if not isinstance(member, types.FunctionType) or member.__name__ not in _DATACLASS_METHODS:
        return False
    made = inspect.unwrap(member)
    if not isinstance(made, types.FunctionType) or made.__module__ == "dataclasses":
        return True
    if _LEARNED_SOURCES and code_identity(made.__code__) in _LEARNED_SOURCES:
        return False
    code = made.__code__
    known = _SOURCELESS.get(id(code))
    if known is not None and known[0]() is code:
        return known[1]
    try:
        inspect.getsource(made)
        sourceless = False
    except (OSError, TypeError):
        sourceless = True
    _SOURCELESS[id(code)] = (weakref.ref(code, functools.partial(_forget, _SOURCELESS, id(code))), sourceless)
    return sourceless


def _is_local(obj: Any) -> bool:
    """Defined in the notebook, or in a module of the user's own (no installed version)."""
    target = obj.func if isinstance(obj, functools.partial) else getattr(obj, "__func__", obj)
    module_name = getattr(target, "__module__", None)
    if not isinstance(module_name, str) or module_name == "__main__" or module_name not in sys.modules:
        return True
    return module_name.split(".")[0] not in sys.stdlib_module_names and _version_of(module_name) is None


def _version_of(module_name: str) -> str | None:
    top = module_name.split(".")[0]
    module = sys.modules.get(top)
    version = getattr(module, "__version__", None)
    if isinstance(version, str):
        return version
    try:
        return importlib.metadata.version(top)
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


def _module_identity(module: types.ModuleType) -> bytes:
    """A module by its distribution's version; the standard library by Python's; a
    local module without a version by its file's bytes."""
    name = module.__name__
    if name.split(".")[0] in sys.stdlib_module_names or name in sys.builtin_module_names:
        return _blake(name.encode(), _PYTHON.encode())
    version = _version_of(name)
    if version is not None:
        return _blake(name.encode(), version.encode())
    path = getattr(module, "__file__", None)
    if isinstance(path, str):
        try:
            with open(path, "rb") as file:
                return _blake(name.encode(), file.read())
        except OSError:
            pass
    raise Unfingerprintable(f"module `{name}` has neither a version nor a readable file")


def _global_names(code: types.CodeType) -> Iterator[str]:
    """Every name the code object, or one nested in it, looks up as a global."""
    stack = [code]
    seen: set[str] = set()
    while stack:
        current = stack.pop()
        for name in current.co_names:
            if name not in seen:
                seen.add(name)
                yield name
        stack.extend(const for const in current.co_consts if isinstance(const, types.CodeType))


def _kept_source_digest(func: types.FunctionType) -> bytes:
    """``_source_digest``, once per code object for the process (module docstring).
    A function that wraps another (``__wrapped__``) is read each time: its source is
    the wrapped function's, which its code object doesn't decide."""
    code = func.__code__
    if getattr(func, "__wrapped__", None) is not None:
        return _source_digest(func)
    known = _SOURCES.get(id(code))
    if known is not None and known[0]() is code:
        return known[1]
    digest = _source_digest(func)
    _SOURCES[id(code)] = (weakref.ref(code, functools.partial(_forget, _SOURCES, id(code))), digest)
    return digest


def _source_digest(func: types.FunctionType) -> bytes:
    """The function's source without comments, docstrings or positions; its bytecode
    when it has no source to read."""
    try:
        source = inspect.getsource(func)
        tree = ast.parse(textwrap.dedent(source))
    except (OSError, TypeError, SyntaxError):
        code = func.__code__
        digest = _code_digest(code)
        return _LEARNED_SOURCES.get(_blake(digest, code.co_qualname.encode()), digest) if _LEARNED_SOURCES else digest
    for node in ast.walk(tree):
        if isinstance(node, _DOC_HOLDERS) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                node.body = node.body[1:] or [ast.Pass()]
    return _blake(b"ast", ast.dump(tree, include_attributes=False).encode())


def code_identity(code: types.CodeType) -> bytes:
    """A code object's bytecode, names, constants and qualified name, the same in every
    process of this Python (a set's elements in sorted order, whatever the process's
    string hashes): what ``learn_sources`` goes by."""
    return _blake(_code_digest(code), code.co_qualname.encode())


def _code_digest(code: types.CodeType) -> bytes:
    parts = [b"code", _PYTHON.encode(), code.co_code, repr(code.co_names).encode(), repr(code.co_varnames).encode()]
    for const in code.co_consts:
        parts.append(_code_digest(const) if isinstance(const, types.CodeType) else _const_repr(const).encode())
    return _blake(*parts)


def _const_repr(const: Any) -> str:
    """``repr(const)``, but a set's elements sorted: in ``x in {"a", "b"}`` the
    constant is a frozenset, whose repr's order follows the process's string hashes."""
    if isinstance(const, frozenset):
        return "frozenset({" + ", ".join(sorted(map(_const_repr, const))) + "})" if const else "frozenset()"
    if isinstance(const, tuple):
        return "(" + ", ".join(map(_const_repr, const)) + ("," if len(const) == 1 else "") + ")"
    return repr(const)


# Source digests of functions defined in another process, by their ``code_identity``: a
# function cloudpickle brings here by value (to a Dask worker) has no file name left to
# read its source from, so it is keyed by the digest its source had where it was
# defined, when that process sent it (``learn_sources``), as it would be there.
_LEARNED_SOURCES: dict[bytes, bytes] = {}


def learn_sources(digests: dict[bytes, bytes]) -> None:
    """Source digests (by ``code_identity``) of functions sent here from another process."""
    _LEARNED_SOURCES.update(digests)
