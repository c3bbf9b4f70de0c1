"""Notebook 07 row: one feed-forward stylisation at 256 px (the Gatys ratio is in bench_style.py)."""
from benchmarks.harness import Bench
from course_lib.fast_style import load_shipped
from course_lib.images import sample_image

SIZE = 256


def feed_forward():
    fast = load_shipped("swirls")
    photo = sample_image("chelsea", SIZE)
    return lambda: fast.stylise(photo)


FEED_FORWARD = "fast style: feed-forward stylisation (swirls)"


def benchmarks():
    # its ratio to Gatys at the same size is printed by bench_style.py, after the Gatys row
    return [Bench(FEED_FORWARD, f"{SIZE} px", feed_forward, repeats=10, floor_s=0.1)]
