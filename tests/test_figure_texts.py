"""What the figures of a Russian notebook draw is Russian: ``tools/figure_texts.py``.

``translate.py lint`` reads a notebook's code; a label built at run time (``f"{method}: {layer}"`` from a
dictionary key, a title drawn by ``course_lib``) only shows when the notebook runs. The check records every
text matplotlib draws. One quick-mode run here (notebook 02, about 15 s: it draws 150 texts, most of
them from ``course_lib.transposed``); ``python tools/figure_texts.py notebooks/ru/*.ipynb`` runs them all.
"""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("figure_texts", ROOT / "tools" / "figure_texts.py")
figure_texts = importlib.util.module_from_spec(spec)
spec.loader.exec_module(figure_texts)


def test_the_check_finds_english_words_and_decimal_points():
    texts = [("a", "text", "plain: gradient"),                        # a label built from dictionary keys
             ("b", "text", "guided, без усреднения"),
             ("c", "text", "разброс 0.50"),
             ("d", "tick", "0.5"),                                    # tick labels: matplotlib's formatter
             ("e", "text", "tabby, tiger cat: 0,53"),                 # ImageNet classes stay English
             ("f", "text", "block12, канал 10 (OSI 0,9)"),            # layer names, acronyms
             ("g", "text", "stem, head, logits: $x_m$, $\\sigma$, Cᵀ  16x4"),
             ("h", "text", "efficientnet_lite0: features.3, k mod s = 0"),
             ("i", "text", "разброс 0,50")]
    assert figure_texts.problems(texts) == [("a", "english", "plain: gradient"), ("b", "english", "guided, без усреднения"),
                                            ("c", "decimal", "разброс 0.50")]


def test_a_russian_notebook_draws_russian_figures():
    texts = figure_texts.drawn_texts(ROOT / "notebooks" / "ru" / "02_transposed_convolution.ipynb", timeout=120)
    assert len(texts) > 100 and any("свёртка" in text for _, _, text in texts)   # the recorder saw the figures
    assert figure_texts.problems(texts) == []
