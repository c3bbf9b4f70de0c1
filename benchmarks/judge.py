"""The independent judge (``course_lib.judge``, EfficientNet-Lite2) and the table it prints for notebook 04.

``python -m benchmarks.judge`` prints the table of notebook 04's class models (lecture mode).
"""
from course_lib.judge import JUDGE_SIZE, LITE2_STAGES, Judge, JudgeUnavailable  # noqa: F401 (imported from here)


def class_model_table(classes=("goldfish", "flamingo", "Dalmatian", "volcano"), recipes=("slide", "distill")):
    """Lecture-mode class models judged by Lite2 and by an image statistic: one printed row per picture."""
    import time

    from course_lib import load_model, sample_image
    from course_lib.config import QUICK
    from course_lib.dream import class_config, class_visualization
    from course_lib.feature_vis import high_frequency_share
    from course_lib.images import image_to_tensor

    if QUICK:
        raise RuntimeError("unset COURSE_LIB_QUICK: pictures are judged at their lecture defaults")
    model, judge = load_model(device="cpu"), Judge()
    photos = [high_frequency_share(image_to_tensor(sample_image(n, max_size=224))) for n in ("chelsea", "coffee", "astronaut")]
    print(f"fine-detail power share of photos (chelsea, coffee, astronaut): {', '.join(f'{v:.1%}' for v in photos)}")
    print(f"{'class':12s} {'recipe':8s} {'seconds':>8s} {'fine detail':>11s} {'Lite2 p(c)':>10s} {'Lite2 rank':>10s}  Lite2 top-1")
    for name in classes:
        c = model.class_index(name)
        for recipe in recipes:
            start = time.perf_counter()
            image, _ = class_visualization(model, c, config=class_config(recipe), quiet=True)
            seconds = time.perf_counter() - start
            top = judge.top(image, 1)[0]
            print(f"{name:12s} {recipe:8s} {seconds:8.1f} {high_frequency_share(image):11.1%} "
                  f"{judge.probability(image, c).item():10.3f} {judge.rank(image, c).item():10d}  {top[0]} ({top[1]:.2f})", flush=True)


if __name__ == "__main__":
    class_model_table()
