"""Entry point of every rank: `python -m vembed_torch.train --spec FILE` (the CLI starts the ranks, or
`accelerate launch` does with an accelerate config). Rank 0 takes the CLI's commands (channel.py) and hands each
to every rank; all ranks compute, rank 0 answers.

Commands: `step` (one optimizer step; its loss gradient is asked of the CLI mid-step), `embed` (embed the CLI's
evaluation pixels in eval mode: embed.py), `export` (write the trainable state in vembed's names for a
checkpoint), `quit`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import dist as ranks_setup
from .channel import Channel
from .embed import EmbedOrder, embed_rows, evaluation_precision
from .model import build_encoder, named_parameters
from .spec import read_spec
from .state import load_optimizer, load_params, save_state, trainables
from .step import StepOrder, Stepper


def describe_device(ranks: ranks_setup.Ranks, precision: str) -> str:
    if ranks.device.type == "cuda":
        name = torch.cuda.get_device_name(ranks.device)
    else:
        threads = torch.get_num_threads()
        name = f"CPU ({threads} thread{'s' if threads != 1 else ''} per process)"
    processes = f", {ranks.world} processes" if ranks.world > 1 else ""
    mixed = f", {precision} autocast" if precision != "no" else ""
    return f"PyTorch {torch.__version__.split('+')[0]} {name}{processes}{mixed}"


def loss_gradient_via(channel: Channel, exchange: Path, order: StepOrder) -> Any:
    def ask(embeddings: torch.Tensor) -> torch.Tensor | None:
        file = exchange / "embeddings.bin"
        embeddings.contiguous().numpy().astype(np.float32).tofile(file)
        channel.send({"type": "embeddings", "step": order.step, "file": str(file), "shape": list(embeddings.shape)})
        reply = channel.receive()
        if reply.get("cmd") != "gradient":
            raise RuntimeError(f"expected the loss gradient of step {order.step}, got {reply}")
        if not reply.get("finite", False):
            return None
        data = np.fromfile(reply["file"], dtype=np.float32)
        return torch.from_numpy(data.reshape(embeddings.shape))

    return ask


def run(spec_file: str) -> int:
    spec = read_spec(spec_file)
    ranks = ranks_setup.start(spec.device)
    channel = Channel() if ranks.main else None
    try:
        torch.manual_seed(spec.seed)
        encoder = build_encoder(spec).to(ranks.device)
        items = trainables(spec.params, named_parameters(encoder))
        start = Path(spec.start_state)
        load_params(str(start / "params.safetensors"), items)
        stepper = Stepper(spec, ranks, encoder, items)
        if (start / "optimizer.safetensors").exists():
            load_optimizer(str(start / "optimizer.safetensors"), items, stepper.optimizer)
        exchange = Path(spec.exchange_dir)
        eval_precision = evaluation_precision(spec.mixed_precision, ranks.device)
        if channel:
            count = sum(p.numel() for t in items for p in t.parts)
            evaluation = describe_device(ranks, eval_precision) + (", float32" if eval_precision == "no" else "")
            channel.send(
                {
                    "type": "ready",
                    "device": describe_device(ranks, spec.mixed_precision),
                    "evaluationDevice": evaluation,
                    "processes": ranks.world,
                    "parameters": count,
                }
            )
        while True:
            command = ranks.broadcast(channel.receive() if channel else None)
            kind = command.get("cmd")
            if kind == "step":
                order = StepOrder(**{k: command[k] for k in ("step", "lr", "pixels", "n", "height", "width")})
                ask = loss_gradient_via(channel, exchange, order) if channel else (lambda _e: None)
                outcome = stepper.step(order, ask)
                if channel:
                    channel.send(
                        {
                            "type": "stepped",
                            "step": order.step,
                            "gradNorm": outcome.grad_norm if np.isfinite(outcome.grad_norm) else str(outcome.grad_norm),
                            "clipped": outcome.clipped,
                            "applied": outcome.applied,
                        }
                    )
            elif kind == "embed":
                embed_order = EmbedOrder(**{k: command[k] for k in ("pixels", "n", "height", "width")})
                embedded = embed_rows(encoder, ranks, embed_order, eval_precision)
                if channel and embedded is not None:
                    out = exchange / "eval-embeddings.bin"
                    embedded.contiguous().numpy().astype(np.float32).tofile(out)
                    channel.send({"type": "embedded", "file": str(out), "shape": list(embedded.shape)})
            elif kind == "export":
                if channel:
                    target = Path(command["dir"])
                    target.mkdir(parents=True, exist_ok=True)
                    save_state(target, items, stepper.optimizer)
                    channel.send({"type": "exported", "dir": str(target)})
            elif kind == "quit":
                break
            else:
                raise RuntimeError(f"unknown command {command}")
        return 0
    except BaseException as e:
        if channel and not isinstance(e, SystemExit):
            channel.send({"type": "failed", "rank": ranks.rank, "message": f"{type(e).__name__}: {e}"})
        traceback.print_exc(file=sys.stderr)
        return 1
    finally:
        ranks_setup.stop(ranks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vembed_torch.train", description=__doc__)
    parser.add_argument("--spec", required=True, help="the run spec the CLI wrote (JSON)")
    args = parser.parse_args(argv)
    # Ctrl+C reaches the whole process group; the CLI decides when to stop (after a step, with a checkpoint).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return run(args.spec)


if __name__ == "__main__":
    sys.exit(main())
