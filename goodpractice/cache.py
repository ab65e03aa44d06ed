"""Shared results of whole-panel analyses, so that a batch of reviews computes each one once.

Forty-three unit reviews of one period all need the same ``classify``, ``compare``,
``candidate_findings`` ... over every unit, and each then keeps its own unit's rows. With a cache
folder set, :func:`cached` remembers such results on disk, one pickle file a call, named by a
SHA-256 of

* the function's module and name,
* the panel's ``name``, ``vintage`` (a hash of its data) and ``frequency``,
* every other argument, by value (DataFrames with their ``attrs``, lists, dicts ...: their
  pickle),
* the code: a hash of the package's source files and the versions of the numerical libraries
  the results depend on, so that a changed analysis never serves an old result.

Equal pickles mean equal arguments, so a hit is always the right result; two equal arguments
that pickle differently (a frame with another memory layout) only cost a second computation.
Why not ``joblib.Memory``, which this module used first: in a review kernel, where a hit must
cost next to nothing, importing joblib took 36 ms and its pure-Python argument hashing 45 ms
(sixteen calls, under cProfile), about 8% of a whole trivial notebook; the standard C pickler hashes the same
arguments in about a millisecond. What joblib added beyond that was the file layout.

The cache is OFF unless a folder is given or ``$GOODPRACTICE_CACHE`` names one: the library's
functions stay pure, and :func:`cached` then returns the function itself. The review runner sets
the variable to ``OUT/.cache`` for the kernels of a batch.

    >>> from goodpractice.classify import classify
    >>> fast_classify = cached(classify, "output/.cache")  # doctest: +SKIP
    >>> fast_classify(panel, ["burglary"], "2024-01")       # doctest: +SKIP

Warnings the function issues while computing are stored with the result and issued again on
every call, hit or miss, so a review shows the same notes whether or not it computed them.

Concurrency: two processes computing the same key both compute and both write, each to a
temporary name renamed into place (``os.replace``), so a reader sees a complete result or none,
never half of one (tests/test_cache.py runs such a race). A file that cannot be read back (a
crash mid-write on a file system that reorders, a disk error) is a miss: computed and written
again.

The cache assumes the panel it is given is the one its vintage describes: results of a panel
whose frames were modified in memory after it was read must not be cached (call the function
itself).
"""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import shutil
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

from goodpractice.files import atomic_write

#: Environment variable naming the cache folder (unset or empty: no cache).
ENV = "GOODPRACTICE_CACHE"
#: Libraries whose version changes numerical results.
_LIBRARIES = ("numpy", "pandas", "scipy", "scikit-learn", "statsmodels", "pyfixest")

F = TypeVar("F", bound=Callable[..., Any])


def cache_location(location: str | os.PathLike | None = None) -> Path | None:
    """The cache folder: ``location`` if given, else ``$GOODPRACTICE_CACHE``, else None (off).

    >>> cache_location("/tmp/c")
    PosixPath('/tmp/c')
    """
    value = location if location is not None else os.environ.get(ENV, "")
    return Path(value) if str(value) else None


@functools.cache
def code_version() -> str:
    """A hash of the package's source files and the numerical libraries' versions.

    >>> len(code_version())
    16
    """
    h = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    for lib in _LIBRARIES:
        try:
            version = metadata.version(lib)
        except metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{lib}={version}\0".encode())
    return h.hexdigest()[:16]


def _stored_call(func: Callable[..., Any], panel: Any, args: tuple, kwargs: dict) -> bytes:
    # The result and the warnings it issued, pickled together.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = func(*args, **kwargs) if panel is None else func(panel, *args, **kwargs)
    notes = [(str(w.message), w.category, w.filename, w.lineno) for w in caught]
    return pickle.dumps((result, notes), protocol=pickle.HIGHEST_PROTOCOL)


def _through(folder: Path, name: str, key_parts: tuple, compute: Callable[[], bytes]) -> tuple:
    """(result, warnings) of the call ``key_parts`` names, read from ``folder/name/`` or
    computed and stored there."""
    try:
        digest = hashlib.sha256(
            pickle.dumps((code_version(), key_parts), protocol=pickle.HIGHEST_PROTOCOL)
        ).hexdigest()
    except (pickle.PicklingError, TypeError, AttributeError):  # an argument pickle cannot key
        return pickle.loads(compute())
    path = folder / name / f"{digest}.pkl"
    try:
        return pickle.loads(path.read_bytes())
    except Exception:  # noqa: BLE001 - absent, truncated or unreadable: a miss, rewritten below
        pass
    stored = compute()
    try:  # no fsync: a file torn by a crash fails to unpickle, which is a miss
        atomic_write(path, stored, durable=False)
    except OSError:  # a cache folder that cannot be written only costs the computation
        pass
    return pickle.loads(stored)  # a fresh copy, as a hit returns


def _replayed(stored: tuple) -> Any:
    """The result of a stored call, its warnings issued again (hit or miss alike)."""
    result, notes = stored
    for message, category, filename, lineno in notes:
        if filename == __file__:  # meant for the caller of the cached function (stacklevel=2)
            warnings.warn(message, category, stacklevel=3)
        else:
            warnings.warn_explicit(message, category, filename, lineno)
    return result


def _panel_key(panel: Any) -> tuple | None:
    vintage = getattr(panel, "vintage", "")
    if not vintage:
        return None
    return (str(panel.name), str(vintage), str(panel.frequency))


def cached(func: F, location: str | os.PathLike | None = None) -> F:
    """``func`` remembering its results in the cache folder (see the module's docstring).

    ``func`` takes a panel first (``classify(panel, ...)``) or any hashable-by-value arguments
    (``funnel(rates, ...)``). Without a cache folder, or for a panel without a vintage, the
    call goes straight to ``func``. The result of a hit is a fresh copy (unpickled), so callers
    may modify it. ``cached(f).uncached`` is ``f``.

        >>> compare_all = cached(compare)          # doctest: +SKIP
        >>> compare_all(panel, ["arrests"], "2017-18", k=7)  # doctest: +SKIP
    """
    folder = cache_location(location)
    if folder is None:
        return func
    name = f"{func.__module__}.{func.__qualname__}"

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from goodpractice.panel import Panel

        panel, rest, key = None, args, None
        if args and isinstance(args[0], Panel):
            key = _panel_key(args[0])
            if key is None:
                return func(*args, **kwargs)
            panel, rest = args[0], args[1:]
        return _replayed(_through(folder, name, (key, rest, sorted(kwargs.items())),
                                  lambda: _stored_call(func, panel, rest, kwargs)))

    wrapper.uncached = func  # type: ignore[attr-defined]
    return wrapper  # type: ignore[return-value]


def _folder_digest(folder: Path) -> str:
    """A hash of every file under `folder` (names and bytes), extras included."""
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def read_panel_cached(path: str | os.PathLike, frequency: str | None = None,
                      location: str | os.PathLike | None = None) -> Any:
    """:func:`goodpractice.panel.read_panel` through the cache folder.

    Every review of a batch opens the same panel; parsing and validating it again costs 0.1-0.25
    s a review, unpickling the result of the first about 3 ms. The key is the folder, the bytes of
    every file in it and the code, so an edited file is read afresh. Without a cache folder this
    is ``read_panel`` itself; a folder that is not one goes to ``read_panel`` for its error.
    """
    from goodpractice.panel import read_panel

    folder = cache_location(location)
    source = Path(path)
    if folder is None or not source.is_dir():
        return read_panel(source, frequency)
    key = (str(source.resolve()), _folder_digest(source), frequency)
    return _replayed(_through(folder, "goodpractice.panel.read_panel", key,
                              lambda: _stored_call(read_panel, None, (source, frequency), {})))


def clear(location: str | os.PathLike | None = None) -> None:
    """Forget every cached result in the folder (``location`` or ``$GOODPRACTICE_CACHE``)."""
    folder = cache_location(location)
    if folder is not None and folder.exists():
        shutil.rmtree(folder)
