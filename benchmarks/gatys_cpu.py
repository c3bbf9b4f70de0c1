"""CPU seconds of the Gatys recipes, interleaved in one process: ``python -m benchmarks.gatys_cpu``.

On a shared machine the wall time of a minutes-long row depends on what else runs meanwhile; the CPU time of
one torch thread much less. Here the PyTorch tutorial's recipe (40 evaluations, its time per evaluation is
constant: no line search), clean (200) and fast run in turn, twice, then fast at 512 px; it prints the time per
pixel against the tutorial's (the table rows are ``./run.sh bench "Gatys speed"``).
"""
import time

import torch

from benchmarks.bench_style import _starry
from benchmarks.tutorial_gatys import truncated_vgg19, tutorial_transfer
from course_lib import load_model, sample_image, style
from course_lib.style_canvas import pixels


def cpu_seconds(fn) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def main(tutorial_evaluations: int = 40):
    torch.set_num_threads(1)
    vgg, model, cat, starry = truncated_vgg19(), load_model(device="cpu"), sample_image("chelsea"), _starry()
    run = lambda size, recipe: lambda: style.transfer(cat, starry, model, size=size, steps=200, recipe=recipe,  # noqa: E731
                                                      quiet=True, live=False)
    run(64, "clean")()                                                                 # warm-up
    H, W = pixels(cat, 256).shape[-2:]
    for repeat in (1, 2):
        tutorial = cpu_seconds(lambda: tutorial_transfer(cat, starry, vgg, 256, tutorial_evaluations)) * 200 / tutorial_evaluations
        clean, fast = cpu_seconds(run(256, "clean")), cpu_seconds(run(256, "fast"))
        per_pixel = lambda s: s / (H * W) / (tutorial / 256 ** 2)                      # noqa: E731
        print(f"run {repeat}: CPU s (1 thread) tutorial 200 evals {tutorial:.1f}, clean {clean:.1f}, fast {fast:.1f}; "
              f"per pixel vs tutorial: clean {per_pixel(clean):.3f}x, fast {per_pixel(fast):.3f}x; fast / clean {fast / clean:.2f}",
              flush=True)
    print(f"fast at 512 px: CPU {cpu_seconds(run(512, 'fast')):.1f} s (1 thread)")


if __name__ == "__main__":
    main()
