"""Install the `goodpractice` Jupyter kernel into this environment (papermill runs reviews on it).

The kernel logs at ERROR level: otherwise every review prints ipykernel's warning that it talks
over TCP without encryption. Kernels here listen on 127.0.0.1 only and every message is signed
with the connection file's HMAC key, so the warning says nothing a reviewer can act on.
"""

import json
import sys
from pathlib import Path

from ipykernel.kernelspec import install

path = Path(install(prefix=sys.prefix, kernel_name="goodpractice", display_name="goodpractice"))
spec_file = path / "kernel.json"
spec = json.loads(spec_file.read_text())
if "--IPKernelApp.log_level=ERROR" not in spec["argv"]:
    spec["argv"].append("--IPKernelApp.log_level=ERROR")
spec_file.write_text(json.dumps(spec, indent=1))
print(f"Installed kernelspec goodpractice in {path}")
