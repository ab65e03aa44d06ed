"""The demo end to end (what `make demo` runs before serving), in a fresh folder: one timed run."""

import resource
import tempfile
import time
from pathlib import Path

from benchmarks.common import report
from goodpractice.demo import run_demo


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "demo"
        start = time.perf_counter()
        result = run_demo(out, progress=False, echo=lambda *_: None)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = run_demo(out, progress=False, echo=lambda *_: None)
        second = time.perf_counter() - start
    reviews = result["reviews"]
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    rows = [
        {"what": "demo, fresh folder", "reviews": len(reviews),
         "failed": int((reviews["status"] == "failed").sum()), "seconds": first,
         "per_review_s": first / max(len(reviews), 1), "peak_child_rss_mib": children},
        {"what": "demo again (all reviews skipped)", "reviews": len(again["reviews"]),
         "skipped": int(again["reviews"]["skipped"].sum()), "seconds": second,
         "same_rows": again["counts"] == result["counts"]},
    ]
    report("demo", rows)


if __name__ == "__main__":
    main()
