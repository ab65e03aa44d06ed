"""Files written whole or not at all: review pages, the manifest, cached results, the Vega bundle."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

#: In the name of a temporary file that `atomic_write` has not yet renamed into place.
PARTIAL = ".partial-"


def atomic_write(path: str | Path, data: str | bytes, *, durable: bool = True) -> None:
    """Write ``data`` (text as UTF-8, or bytes) to ``path`` so that readers see the old file or
    the whole new one, never half of it: a temporary file in the same folder, then
    ``os.replace``.

    ``durable`` flushes the file to disk before the rename, so that a power cut cannot leave an
    empty file where the old one was. A cache, for which a torn file is only a miss, can skip it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{path.name}{PARTIAL}", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data.encode("utf-8") if isinstance(data, str) else data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_partials(folder: Path) -> None:
    """Delete the temporary files of writes that never finished (a process killed between the
    write and the rename)."""
    if folder.is_dir():
        for leftover in folder.glob(f"*{PARTIAL}*"):
            leftover.unlink(missing_ok=True)
