"""What the PyTorch engine would find in this Python environment, as one JSON object on stdout.

Run by vembed (src/engine/torch/pythonEnv.ts) as ``python -m vembed_torch.probe`` with this
package's parent folder on PYTHONPATH. It never fails on a missing library: the point is to
say what is missing. Only the Python standard library is imported at the top, so an
interpreter without torch still answers.

Output keys (the TypeScript side checks them; bump PROBE_VERSION when they change):
  probe, python {version, executable, implementation}, packages {name: version|null},
  broken {name: error}, torch {cuda, hip, mps, cpu_threads, devices[], distributed{}},
  missing [names], message (one line, null when nothing is missing).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import os
import platform
import sys
from typing import Any

PROBE_VERSION = 1

# Distribution name -> import name, and the lowest major.minor the engine accepts
# (keep in step with python/pyproject.toml's dependencies; a test compares them).
PACKAGES: dict[str, tuple[str, tuple[int, int] | None]] = {
    "torch": ("torch", None),
    "transformers": ("transformers", (5, 0)),
    "peft": ("peft", None),
    "accelerate": ("accelerate", None),
    "safetensors": ("safetensors", None),
    "numpy": ("numpy", None),
    "pillow": ("PIL", None),
}
MIN_PYTHON = (3, 10)
INSTALL_HINT = "in vembed's repository: bash scripts/python/setup.sh"


def installed_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def major_minor(version: str) -> tuple[int, int]:
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    while len(parts) < 2:
        parts.append(0)
    return parts[0], parts[1]


def check_packages(import_all: bool) -> tuple[dict[str, str | None], dict[str, str]]:
    """Installed versions (by metadata), and the packages that are installed but fail to import or are too old.

    With import_all False only torch is imported (the others by version only): importing transformers,
    peft and accelerate costs seconds, which `vembed train`'s engine choice need not pay at every start.
    """
    versions: dict[str, str | None] = {}
    broken: dict[str, str] = {}
    for dist, (module, minimum) in PACKAGES.items():
        version = installed_version(dist)
        versions[dist] = version
        if version is None:
            continue
        if minimum is not None and major_minor(version) < minimum:
            broken[dist] = f"version {version} is older than {minimum[0]}.{minimum[1]}"
            continue
        if not import_all and dist != "torch":
            continue
        try:
            importlib.import_module(module)
        except Exception as error:  # noqa: BLE001 - any import failure is reported, not raised
            broken[dist] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}".strip()
    return versions, broken


def cuda_devices(torch: Any) -> list[dict[str, Any]]:  # noqa: ANN401 - torch is imported lazily
    devices = []
    hip = getattr(torch.version, "hip", None)
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        capability = f"{props.major}.{props.minor}"
        # CUDA: bf16 matrix units from Ampere (8.0) on. ROCm reports its own support.
        if hip:
            bf16 = bool(torch.cuda.is_bf16_supported())
        else:
            bf16 = props.major >= 8
        devices.append(
            {
                "type": "rocm" if hip else "cuda",
                "index": index,
                "name": props.name,
                "capability": None if hip else capability,
                "memory_bytes": int(props.total_memory),
                "bf16": bf16,
            }
        )
    return devices


def mps_device(torch: Any) -> dict[str, Any] | None:  # noqa: ANN401
    mps = getattr(torch.backends, "mps", None)
    if mps is None or not mps.is_available():
        return None
    try:
        torch.ones(1, dtype=torch.bfloat16, device="mps")
        bf16 = True
    except Exception:  # noqa: BLE001 - older macOS: no bf16 on MPS
        bf16 = False
    return {"type": "mps", "index": 0, "name": "Apple GPU", "capability": None, "memory_bytes": None, "bf16": bf16}


def torch_facts() -> dict[str, Any] | None:
    try:
        import torch
    except Exception:  # noqa: BLE001 - reported under `broken` by check_packages
        return None
    devices: list[dict[str, Any]] = []
    cuda_error = None
    try:
        if torch.cuda.is_available():
            devices = cuda_devices(torch)
    except Exception as error:  # noqa: BLE001 - a driver problem is a fact to report
        cuda_error = f"{type(error).__name__}: {error}"
    mps = mps_device(torch)
    if mps is not None:
        devices.append(mps)
    dist = getattr(torch, "distributed", None)
    dist_ok = bool(dist is not None and dist.is_available())
    return {
        "version": torch.__version__,
        "cuda": torch.version.cuda,
        "hip": getattr(torch.version, "hip", None),
        "cuda_error": cuda_error,
        "cpu_threads": torch.get_num_threads(),
        "devices": devices,
        "distributed": {
            "available": dist_ok,
            "nccl": bool(dist_ok and dist.is_nccl_available()),
            "gloo": bool(dist_ok and dist.is_gloo_available()),
            "mpi": bool(dist_ok and dist.is_mpi_available()),
        },
    }


def summary(python_ok: bool, versions: dict[str, str | None], broken: dict[str, str]) -> tuple[list[str], str | None]:
    missing = [name for name, version in versions.items() if version is None]
    problems = []
    if not python_ok:
        problems.append(f"Python {platform.python_version()} is too old (3.{MIN_PYTHON[1]}+ needed)")
    if missing:
        problems.append(f"missing {', '.join(missing)}")
    problems.extend(f"{name}: {error}" for name, error in broken.items())
    if not problems:
        return missing, None
    fix = [name for name in PACKAGES if name in missing or name in broken]
    install = f"{sys.executable} -m pip install --upgrade {' '.join(fix)}" if fix else "use Python 3.10 or newer"
    return missing, f"PyTorch engine: {'; '.join(problems)}. Install: {install}, or {INSTALL_HINT}"


def probe(import_all: bool = True) -> dict[str, Any]:
    python_ok = sys.version_info[:2] >= MIN_PYTHON
    versions, broken = check_packages(import_all)
    torch = torch_facts() if versions.get("torch") and "torch" not in broken else None
    missing, message = summary(python_ok, versions, broken)
    return {
        "probe": PROBE_VERSION,
        "python": {
            "version": platform.python_version(),
            "executable": sys.executable,
            "implementation": platform.python_implementation(),
            "ok": python_ok,
        },
        "packages": versions,
        "broken": broken,
        "torch": torch,
        "missing": missing,
        "message": message,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="What vembed's PyTorch engine finds here, as JSON.")
    parser.add_argument("--imports", choices=["all", "torch"], default="all", help="which libraries to import")
    args = parser.parse_args()
    # Quiet imports: transformers and torch may print warnings on stderr; stdout holds the JSON alone.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    json.dump(probe(args.imports == "all"), sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
