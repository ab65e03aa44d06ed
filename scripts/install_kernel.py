"""Install the `goodpractice` Jupyter kernel into this environment (papermill runs reviews on it).

The kernel logs only CRITICAL messages. Otherwise every review prints ipykernel's warning that it
talks over TCP without encryption (kernels here listen on 127.0.0.1 only and every message is
signed with the connection file's HMAC key), and some print "KeyboardInterrupt caught in kernel":
jupyter_client interrupts every kernel before shutting it down, and the kernel logs that as an
error when it is still answering the last request. Neither says anything a reviewer can act on;
a review's own errors are in its notebook, and a dead kernel fails the review.
"""

import json
import sys
from pathlib import Path

from ipykernel.kernelspec import install

path = Path(install(prefix=sys.prefix, kernel_name="goodpractice", display_name="goodpractice"))
spec_file = path / "kernel.json"
spec = json.loads(spec_file.read_text())
spec["argv"] = [a for a in spec["argv"] if not a.startswith("--IPKernelApp.log_level=")]
spec["argv"].append("--IPKernelApp.log_level=CRITICAL")
spec_file.write_text(json.dumps(spec, indent=1))
print(f"Installed kernelspec goodpractice in {path}")
