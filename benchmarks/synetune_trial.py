"""The trial script Syne Tune's local backend starts, one process per trial.

It receives the configuration as ``--name value`` arguments and reports to Syne Tune on stdout.
"""

from __future__ import annotations

import argparse

import workloads as w


def main() -> None:
    from syne_tune import Reporter

    parser = argparse.ArgumentParser()
    parser.add_argument("--kind", required=True, choices=["w1", "w2", "w3"])
    parser.add_argument("--lr", type=float)
    parser.add_argument("--layers", type=int)
    parser.add_argument("--opt", type=str)
    parser.add_argument("--duration", type=float)
    args, _ = parser.parse_known_args()
    report = Reporter()
    if args.kind == "w2":
        report(epoch=1, loss=w.sleeper({"duration": args.duration}))
        return
    loss = w.loss_of({"lr": args.lr, "layers": args.layers, "opt": args.opt})
    if args.kind == "w3":
        for step in range(1, w.W3_REPORTS + 1):
            report(epoch=step, loss=loss * (1 + 1 / step))
    else:
        report(epoch=1, loss=loss)


if __name__ == "__main__":
    main()
