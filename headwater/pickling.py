"""Find what makes an object unpicklable, for messages that name the culprit.

Design note
-----------
Executors that cross a process boundary (processes, dask.distributed) pickle tasks and
results with cloudpickle. A bare ``PicklingError`` says *what type* failed but not *where* it
hides (a lock in a closure, a connection in a result's attribute). :func:`pickle_problem`
tries the object whole and, only when that fails, walks into its parts (closure cells,
referenced globals, defaults, attributes, items) to name the deepest part that still fails,
as a path such as ``task.fn.<closure lock>``. The walk is bounded in depth and breadth: it
runs on the error path only, never per task. This module imports nothing of headwater's.
"""

from __future__ import annotations

import functools
import pickle
import types
from collections.abc import Iterator, Mapping
from typing import Any

import cloudpickle

_MAX_DEPTH = 8
_MAX_CHILDREN = 200


def dumps(obj: Any) -> bytes:
    """Pickle as dask.distributed does: the standard pickler, else (or when the object refers
    to ``__main__``, which other processes lack) cloudpickle.

    Raises:
        Exception: whatever cloudpickle raises for an unpicklable object.
    """
    try:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception:
        pass
    else:
        if b"__main__" not in data:
            return data
    return cloudpickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def check(obj: Any) -> None:
    """Check that ``obj`` pickles as :func:`dumps` would, without copying its large buffers.

    Pickle protocol 5 hands buffers that support it (numpy arrays, ``bytearray``,
    ``PickleBuffer``) out of band, as dask.distributed sends them, so checking a 10 MB array
    costs microseconds, not a 10 MB copy; everything else is pickled as it would be.

    Raises:
        Exception: whatever cloudpickle raises for an unpicklable object.
    """
    pickled_size(obj)


def pickled_size(obj: Any) -> int:
    """The size in bytes of ``obj`` pickled as :func:`dumps` would, its large buffers (numpy
    arrays, ``bytearray``: pickle protocol 5's out-of-band buffers) counted, not copied.

    Raises:
        Exception: whatever cloudpickle raises for an unpicklable object.
    """
    sizes: list[int] = []

    def count(buffer: pickle.PickleBuffer) -> None:
        sizes.append(memoryview(buffer).nbytes)

    try:
        data = pickle.dumps(obj, protocol=5, buffer_callback=count)
        if b"__main__" not in data:
            return len(data) + sum(sizes)
    except Exception:
        pass
    sizes.clear()
    data = cloudpickle.dumps(obj, protocol=5, buffer_callback=count)
    return len(data) + sum(sizes)


def _error(obj: Any) -> BaseException | None:
    try:
        dumps(obj)
    except Exception as exc:  # any pickling failure: PicklingError, TypeError, ...
        return exc
    except RecursionError as exc:
        return exc
    return None


def _parts(obj: Any) -> Iterator[tuple[str, Any]]:
    """The named parts cloudpickle would pickle along with ``obj``."""
    if isinstance(obj, functools.partial):
        yield ".func", obj.func
        for i, a in enumerate(obj.args):
            yield f".args[{i}]", a
        for k, v in obj.keywords.items():
            yield f".keywords[{k!r}]", v
        return
    if isinstance(obj, types.MethodType):
        yield ".__self__", obj.__self__
        yield ".__func__", obj.__func__
        return
    if isinstance(obj, types.FunctionType):
        names = obj.__code__.co_freevars
        for name, cell in zip(names, obj.__closure__ or (), strict=False):
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            yield f".<closure {name}>", value
        for name in obj.__code__.co_names:
            if name in obj.__globals__:
                value = obj.__globals__[name]
                if not isinstance(value, types.ModuleType):
                    yield f".<global {name}>", value
        for i, d in enumerate(obj.__defaults__ or ()):
            yield f".<default {i}>", d
        for k, v in (obj.__kwdefaults__ or {}).items():
            yield f".<default {k}>", v
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            yield f"[{k!r}]", v
        return
    if isinstance(obj, list | tuple | set | frozenset):
        for i, v in enumerate(obj):
            yield f"[{i}]", v
        return
    seen: set[str] = set()
    for klass in type(obj).__mro__:
        for name in getattr(klass, "__slots__", ()):
            if name not in seen and hasattr(obj, name):
                seen.add(name)
                yield f".{name}", getattr(obj, name)
    for name, value in getattr(obj, "__dict__", {}).items():
        if name not in seen:
            yield f".{name}", value


def pickle_problem(obj: Any, name: str = "value") -> str | None:
    """Return None when ``obj`` pickles, else where and why it does not.

    >>> import threading
    >>> pickle_problem([1, 2]) is None
    True
    >>> lock = threading.Lock()
    >>> print(pickle_problem({"a": 1, "b": [lock]}, "result"))
    result['b'][0] (a lock): cannot pickle '_thread.lock' object

    Args:
        obj: the object to check.
        name: how to call ``obj`` in the path.
    """
    error = _error(obj)
    if error is None:
        return None
    path, culprit = name, obj
    for _ in range(_MAX_DEPTH):
        for i, (suffix, part) in enumerate(_parts(culprit)):
            if i >= _MAX_CHILDREN:
                break
            part_error = _error(part)
            if part_error is not None:
                path, culprit, error = path + suffix, part, part_error
                break
        else:
            break
    kind = type(culprit).__name__
    if kind == "lock":
        kind = "a lock"
    elif not kind.startswith(("a ", "an ")):
        kind = f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"
    return f"{path} ({kind}): {error}"


__all__ = ["check", "dumps", "pickle_problem", "pickled_size"]
