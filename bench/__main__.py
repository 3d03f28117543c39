"""`python -m bench`: run the benchmark suite (see bench/run.py for its settings)."""

from bench.run import main

main()
