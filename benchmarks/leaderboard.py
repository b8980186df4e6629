"""Leaderboard script: the same as `ganeval leaderboard` (see its --help).

    python benchmarks/leaderboard.py --real data/real/ --entry a=samples/a/ --entry b=runs/00001-cpu-tiny
"""
import sys

from ganeval.cli import main

if __name__ == "__main__":
    sys.exit(main(["leaderboard", *sys.argv[1:]], prog_name="leaderboard.py"))
