"""Notebook 07 rows: one feed-forward stylisation at 256 px, and Gatys at the same size for the ratio."""
from benchmarks.harness import Bench, Ratio
from course_lib import load_model
from course_lib import style as gatys
from course_lib.fast_style import load_shipped, shipped_styles
from course_lib.images import sample_image

SIZE = 256


def feed_forward():
    fast = load_shipped(shipped_styles()[0])
    photo = sample_image("chelsea", SIZE)
    return lambda: fast.stylise(photo)


def gatys_transfer():
    model = load_model(device="cpu")
    photo, style = sample_image("chelsea", SIZE), sample_image(shipped_styles()[0])
    return lambda: gatys.transfer(photo, style, model=model, size=SIZE)


def benchmarks():
    ff = f"fast style: feed-forward stylisation ({shipped_styles()[0]})"
    slow = "fast style: Gatys transfer, notebook 06 defaults"
    return [
        Bench(ff, f"{SIZE} px", feed_forward, repeats=10, floor_s=0.1),
        Bench(slow, f"{SIZE} px", gatys_transfer, repeats=1, warmup=False),
        Ratio("fast style: Gatys / feed-forward", slow, ff, floor=100),
    ]
