"""Run every benchmark (or those named): python -m benchmarks [panel compare ...].

Each benchmark runs in a fresh interpreter, so the peak memory it reports (ru_maxrss of the
process and its children) is its own, not that of a benchmark that ran before it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main(names: list[str]) -> int:
    here = Path(__file__).parent
    modules = sorted(p.stem for p in here.glob("bench_*.py"))
    chosen = [m for m in modules if not names or m.removeprefix("bench_") in names]
    failed = []
    start_all = time.perf_counter()
    for module in chosen:
        start = time.perf_counter()
        # One broken benchmark must not hide the others' figures.
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{module}"], cwd=here.parent)
        if code:
            failed.append(module)
            print(f"!! {module} failed (exit status {code})")
        print(f"   ({module}: {time.perf_counter() - start:.1f} s)", flush=True)
    print(f"\n{len(chosen) - len(failed)} benchmarks ran, {len(failed)} failed "
          f"in {time.perf_counter() - start_all:.0f} s; JSON records in benchmarks/results/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
