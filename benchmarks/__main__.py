"""Run every benchmark (or those named): python -m benchmarks [panel compare ...]."""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    modules = sorted(p.stem for p in here.glob("bench_*.py"))
    chosen = [m for m in modules if not names or m.removeprefix("bench_") in names]
    failed = []
    for module in chosen:
        start = time.perf_counter()
        try:
            importlib.import_module(f"benchmarks.{module}").main()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed.append(module)
            print(f"!! {module} failed: {exc!r}")
        print(f"   ({module}: {time.perf_counter() - start:.1f} s)")
    print(f"\n{len(chosen) - len(failed)} benchmarks ran, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
