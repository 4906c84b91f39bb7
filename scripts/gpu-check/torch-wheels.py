#!/usr/bin/env python3
"""Names and versions of what the torch engine needs beyond torch itself: transformers, peft, accelerate and
their hard dependencies, as installed in the Python that runs this (vembed's environment, scripts/python/setup.sh),
minus torch's own closure and numpy (a PyTorch image has them). prepare.sh downloads these as wheels.
Prints `name==version` lines."""

import importlib.metadata as md
import re

from packaging.markers import Marker

ROOTS = ["transformers", "peft", "accelerate", "safetensors"]
SKIP = {"numpy"}


def key(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def closure(names: list[str]) -> dict[str, str]:
    seen: dict[str, str] = {}
    stack = list(names)
    while stack:
        name = stack.pop()
        if key(name) in seen:
            continue
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        seen[key(name)] = dist.version
        for req in dist.requires or []:
            spec, _, marker = req.partition(";")
            if marker and not Marker(marker).evaluate({"extra": ""}):
                continue
            stack.append(re.match(r"[A-Za-z0-9_.-]+", spec.strip()).group(0))
    return seen


torch = closure(["torch"])
for name, version in sorted(closure(ROOTS).items()):
    if name not in torch and name not in SKIP:
        print(f"{name}=={version}")
