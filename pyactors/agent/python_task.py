"""Python callables as tasks: the call the agent leaves in the sandbox, the
runner the task's process executes, and the outcome the agent reads back.

The agent pickles `(function, args, kwargs)` with Ray's cloudpickle into
`call.pkl` and starts `python -m pyactors.agent.python_task <sandbox>` as the task's
process, its stdout and stderr already the sandbox's files. The runner calls
the function and pickles the return value into `result.pkl`. If loading or
calling raises, it prints the traceback to stderr, writes `error.json`
(`{"type", "message"}`) and exits with status 1, so the task fails with a
message naming the exception.

A callable from a module the runner could not import as the agent does (a
test module, a script, a notebook: anything outside the installed packages
and pyactors) is pickled by value, its whole module registered with
cloudpickle, as `ray_calls.ship_by_value` does for schedulers.

The runner does not import Ray: that would cost 0.4 s of CPU and 55 MB of
resident memory per task, more than a small task's whole memory limit.
Instead it loads the file of Ray's cloudpickle module, which needs only the
standard library, under its real name, and keeps pickle from importing
`ray` to check that name: the pickles it reads and writes are the ones the
agent's `ray.cloudpickle` speaks, and if the function imports Ray, Ray adopts
that same module.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import io
import os
import pickle
import site
import sys
import sysconfig
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import FunctionType, ModuleType
from typing import Any

import orjson

from pyactors.agent import sandbox_files
from pyactors.errors import PyactorsError, UnknownFileError

CALL = "call.pkl"
RESULT = "result.pkl"
ERROR = "error.json"

_CLOUDPICKLE = "ray.cloudpickle.cloudpickle"
# Status messages travel in every update of the task; a huge str(exception)
# stays in stderr.
_MESSAGE_LIMIT = 1000
# More than any error.json the runner writes (its message is cut to the limit above).
_ERROR_LIMIT = 64 * 1024


def describe(function: Any) -> str:
    """The callable's qualified name, e.g. `mymodule.Class.method`."""
    target = function.func if isinstance(function, functools.partial) else function
    module = getattr(target, "__module__", None) or type(target).__module__
    qualname = getattr(target, "__qualname__", None) or type(target).__qualname__
    return f"{module}.{qualname}"


def dump_call(function: Any, args: Sequence[Any], kwargs: Mapping[str, Any]) -> bytes:
    """The call as the runner reads it; ValueError if it cannot be pickled."""
    # Imported here: the runner imports this module and must not import Ray.
    from ray import cloudpickle

    for module in _modules_to_ship([function, *args, *kwargs.values()]):
        cloudpickle.register_pickle_by_value(module)  # type: ignore[no-untyped-call]
    try:
        call: bytes = cloudpickle.dumps((function, tuple(args), dict(kwargs)))  # type: ignore[no-untyped-call]
        return call
    except Exception as error:  # pickling raises whatever the object's reducers raise
        raise ValueError(
            f"cannot pickle {describe(function)}: {_exception_name(error)}: {error}"
        ) from error


def read_result(sandbox: Path) -> Any:
    """The return value of a function task that finished (unpickling may
    import the modules of the value's types). The file is opened as the
    agent opens sandbox files (`pyactors.agent.sandbox_files.open_file`):
    never through a link the task left. Unpickling runs what the pickle
    says, so read only results of tasks you trust (run as a user no one
    else controls)."""
    try:
        fd = sandbox_files.open_file(sandbox, RESULT)
    except UnknownFileError:
        error = read_error(sandbox)
        raise LookupError(
            f"no result in {sandbox}: "
            + (f"the function raised {error}" if error else "the function has not returned")
        ) from None
    with os.fdopen(fd, "rb") as file:
        return pickle.load(file)


def read_error(sandbox: Path) -> str | None:
    """`Type: message` of the exception a function task raised, if it did."""
    try:
        fd = sandbox_files.open_file(sandbox, ERROR)
    except (OSError, PyactorsError):
        return None
    try:
        error = orjson.loads(os.read(fd, _ERROR_LIMIT))
        return f"{error['type']}: {error['message']}" if error["message"] else str(error["type"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None
    finally:
        os.close(fd)


def _modules_to_ship(objects: Iterable[Any]) -> set[ModuleType]:
    found = set()
    for obj in objects:
        target = obj.func if isinstance(obj, functools.partial) else obj
        module = sys.modules.get(getattr(target, "__module__", None) or "")
        if module is not None and not _importable_by_runner(module):
            found.add(module)
    return found


def _importable_by_runner(module: ModuleType) -> bool:
    name = module.__name__
    if name == "__main__":
        return True  # cloudpickle ships __main__ by value by itself
    if name == "pyactors" or name.startswith("pyactors."):
        return True
    file = getattr(module, "__file__", None)
    return file is None or any(Path(file).is_relative_to(root) for root in _installed_roots())


@functools.cache
def _installed_roots() -> tuple[Path, ...]:
    paths = sysconfig.get_paths()
    roots = [paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")]
    roots += [*site.getsitepackages(), site.getusersitepackages()]
    return tuple(Path(root) for root in roots)


def _exception_name(error: BaseException) -> str:
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


class _CallUnpickler(pickle.Unpickler):
    def find_class(self, module_name: str, global_name: str) -> Any:
        # pickle would import the module by name, which imports `ray` first.
        if module_name == _CLOUDPICKLE:
            return getattr(sys.modules[module_name], global_name)
        return super().find_class(module_name, global_name)


def _load_cloudpickle() -> ModuleType:
    spec = importlib.util.find_spec("ray")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("Ray is not installed: cannot read the call")
    path = Path(spec.origin).parent / "cloudpickle" / "cloudpickle.py"
    module_spec = importlib.util.spec_from_file_location(_CLOUDPICKLE, path)
    if module_spec is None or module_spec.loader is None:
        raise ModuleNotFoundError(f"cannot load Ray's cloudpickle from {path}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[_CLOUDPICKLE] = module
    module_spec.loader.exec_module(module)
    return module


def _dump_result(cloudpickle: ModuleType, value: Any) -> bytes:
    class ResultPickler(cloudpickle.Pickler):  # type: ignore[name-defined,misc]
        def reducer_override(self, obj: Any) -> Any:
            # cloudpickle names its own reconstructors (for values of classes
            # shipped by value) by module, and pickle imports a module's
            # top-level package to check the name: here that would be `ray`.
            # Reached through importlib, they read back the same way.
            if obj is cloudpickle:
                return importlib.import_module, (_CLOUDPICKLE,)
            if isinstance(obj, FunctionType | type) and obj.__module__ == _CLOUDPICKLE:
                name = obj.__name__
                if getattr(cloudpickle, name, None) is obj:
                    return getattr, (cloudpickle, name)
            return super().reducer_override(obj)

    buffer = io.BytesIO()
    ResultPickler(buffer, protocol=cloudpickle.DEFAULT_PROTOCOL).dump(value)
    return buffer.getvalue()


def _write_error(sandbox: Path, error: BaseException) -> None:
    (sandbox / ERROR).write_bytes(
        orjson.dumps({"type": _exception_name(error), "message": str(error)[:_MESSAGE_LIMIT]})
    )


def main(argv: Sequence[str]) -> int:
    """Run the call in the sandbox `argv[1]`; the exit status of the task."""
    sandbox = Path(argv[1])
    # The sandbox's stdout is a file: line by line it can be followed while
    # the task runs, and what was printed survives a kill.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        cloudpickle = _load_cloudpickle()
        with open(sandbox / CALL, "rb") as file:
            function, args, kwargs = _CallUnpickler(file).load()
        result = _dump_result(cloudpickle, function(*args, **kwargs))
    except Exception as error:
        traceback.print_exc()
        _write_error(sandbox, error)
        return 1
    # Written whole or not at all: a task killed while writing leaves no
    # half a result to read.
    partial = sandbox / (RESULT + ".partial")
    partial.write_bytes(result)
    os.replace(partial, sandbox / RESULT)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
