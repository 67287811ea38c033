"""How much two processes get out of this machine's cores, against one alone.

    python tests/bench/bench_cores.py [--steps 30000000]

A pure-Python loop timed alone, then twice at once in a 2-process pool (spawn). On two
full cores the pair takes as long as one (parallel efficiency 1.0); on two hyperthreads of
one core, up to twice as long (0.5). Every "2 cores" ratio in tests/bench is bounded by it.
Not a test: prints one line.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time


def burn(n: int) -> int:
    s = 0
    for i in range(n):
        s += i
    return s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=30_000_000)
    n = ap.parse_args().steps
    with mp.get_context("spawn").Pool(2) as pool:
        pool.map(burn, [10, 10])  # workers up
        best_one = best_two = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            pool.apply(burn, (n,))
            best_one = min(best_one, time.perf_counter() - t)
            t = time.perf_counter()
            pool.map(burn, [n, n])
            best_two = min(best_two, time.perf_counter() - t)
    print(
        f"one process {best_one:.2f} s, two at once {best_two:.2f} s: "
        f"parallel efficiency {best_one / best_two:.2f} (1.0 = two full cores)"
    )


if __name__ == "__main__":
    main()
