"""Rank 0's line of JSON messages with the CLI: commands arrive on stdin, replies leave on the process's original
stdout. Everything else that writes to stdout (libraries' prints) is sent to stderr, so the line stays clean."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, TextIO


class Channel:
    def __init__(self) -> None:
        self._out: TextIO = os.fdopen(os.dup(1), "w", encoding="utf-8")
        os.dup2(2, 1)
        sys.stdout = sys.stderr

    def send(self, message: dict[str, Any]) -> None:
        self._out.write(json.dumps(message) + "\n")
        self._out.flush()

    def receive(self) -> dict[str, Any]:
        line = sys.stdin.readline()
        if not line:
            # The CLI is gone (killed, or closed the pipe): nothing will ever ask for a checkpoint again.
            raise SystemExit("vembed_torch: the CLI closed the command channel; stopping")
        message: dict[str, Any] = json.loads(line)
        return message
