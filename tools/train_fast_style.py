"""Train the shipped fast-style networks (notebook 07), reproducibly, on the CPU.

    .venv/bin/python tools/train_fast_style.py                 # every shipped style
    .venv/bin/python tools/train_fast_style.py swirls --steps 50 --out /tmp/nets

Seeded (``FastStyleConfig.seed``) and single-threaded on the CPU: the same
command gives the same weights. Styles are the offline images of ``course_lib.generated_art``.
Each checkpoint stores its configuration and loss history and is about 1.7 MB.
"""
import argparse
import time
from pathlib import Path

import torch

from course_lib import fast_style
from course_lib.models import load_model

STYLES = ("swirls", "mosaic")
# The shipped settings, spelled out so they do not depend on COURSE_LIB_QUICK.
SHIPPED = dict(steps=400, size=128, batch=4)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("styles", nargs="*", default=list(STYLES), help="sample style names (default: %(default)s)")
    parser.add_argument("--steps", type=int, default=SHIPPED["steps"])
    parser.add_argument("--size", type=int, default=SHIPPED["size"])
    parser.add_argument("--batch", type=int, default=SHIPPED["batch"])
    parser.add_argument("--delta", type=float, default=fast_style.FastStyleConfig.delta, help="weight of the colour term L_colour")
    parser.add_argument("--seed", type=int, default=fast_style.FastStyleConfig.seed)
    parser.add_argument("--folder", default=None, help="extra training photos (any folder of images)")
    parser.add_argument("--out", type=Path, default=fast_style.SHIPPED)
    args = parser.parse_args()
    torch.set_num_threads(1)  # reproducible, and on a busy 2-core CPU far faster than 2 contending threads
    model = load_model(device="cpu")
    for name in args.styles:
        config = fast_style.FastStyleConfig(steps=args.steps, size=args.size, batch=args.batch, delta=args.delta, seed=args.seed)
        start, cpu = time.perf_counter(), time.process_time()
        trained = fast_style.train(name, config, model=model, folder=args.folder)
        path = trained.save(args.out / f"{name}.pth")
        h = trained.history
        print(f"{name}: {len(h)} steps in {time.perf_counter() - start:.0f} s ({time.process_time() - cpu:.0f} CPU s), loss {h[0]:.4g} -> {h[-1]:.4g}, "
              f"{path} ({path.stat().st_size / 1e6:.2f} MB)", flush=True)


if __name__ == "__main__":
    main()
