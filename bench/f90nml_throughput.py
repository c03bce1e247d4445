"""Times f90nml reading every namelist given on the command line.

Prints one line per file, `<microseconds per file> <name>`, then the total,
in the same form as the Rust example namelist_throughput.
"""
import os
import sys
import time

import f90nml


def main() -> None:
    rounds = int(os.environ.get("CLOUDRUN_BENCH_ROUNDS", "200"))
    total = 0.0
    for path in sys.argv[1:]:
        started = time.perf_counter()
        for _ in range(rounds):
            f90nml.read(path)
        micros = (time.perf_counter() - started) * 1e6 / rounds
        total += micros
        print(f"{micros:10.1f} {os.path.basename(path)}")
    print(f"{total:10.1f} total microseconds for {len(sys.argv) - 1} files")


if __name__ == "__main__":
    main()
