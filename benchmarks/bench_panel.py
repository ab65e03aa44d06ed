"""Loading and validating the embedded example panels (read_panel from the files, no cache)."""

from benchmarks.common import measure, report
from goodpractice.panel import EXAMPLES_DIR, read_panel


def main() -> None:
    rows = []
    for name in ("forces", "london"):
        panel = read_panel(EXAMPLES_DIR / name)
        stats = measure(lambda name=name: read_panel(EXAMPLES_DIR / name), repeat=5)
        rows.append({"what": f"read_panel({name})", "units": len(panel.units),
                     "outcome_rows": len(panel.outcomes), "resource_rows": len(panel.resources),
                     **stats})
    report("panel", rows)


if __name__ == "__main__":
    main()
