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
             ("d", "tick", "0.5"),                                    # a tick label course_lib's formatter missed
             ("d2", "tick", "$\\mathdefault{0.25}$"),                   # ... in mathtext
             ("d3", "tick", "$\\mathdefault{0{,}25}$"),                 # the comma, as course_lib writes it
             ("e", "text", "tabby, tiger cat: 0,53"),                 # ImageNet classes stay English
             ("f", "text", "block12, канал 10 (OSI 0,9)"),            # layer names, acronyms
             ("g", "text", "stem, head, logits: $x_m$, $\\sigma$, Cᵀ  16x4"),
             ("h", "text", "efficientnet_lite0: features.3, k mod s = 0"),
             ("i", "text", "разброс 0,50")]
    assert figure_texts.problems(texts) == [("a", "english", "plain: gradient"), ("b", "english", "guided, без усреднения"),
                                            ("c", "decimal", "разброс 0.50"), ("d", "decimal", "0.5"),
                                            ("d2", "decimal", "$\\mathdefault{0.25}$")]


def test_a_russian_notebook_draws_russian_figures():
    texts = figure_texts.drawn_texts(ROOT / "notebooks" / "ru" / "02_transposed_convolution.ipynb", timeout=120)
    assert len(texts) > 100 and any("свёртка" in text for _, _, text in texts)   # the recorder saw the figures
    assert figure_texts.problems(texts) == []


def test_tick_labels_are_written_the_course_languages_way(monkeypatch):
    """``course_lib.display`` labels linear axes (plots and colour bars) with the decimal comma in Russian only."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import course_lib.display  # noqa: F401  (installs the formatter)

    def ticks(lang, mathtext=False):
        monkeypatch.setenv("COURSE_LIB_LANG", lang)
        with matplotlib.rc_context({"axes.formatter.use_mathtext": mathtext}):
            fig, ax = plt.subplots()
            fig.colorbar(ax.imshow([[0.0, 0.25], [0.5, 1.0]]))
            ax.set_xlim(0, 2.5)
            fig.canvas.draw()
            labels = [t.get_text() for a in (ax.xaxis, fig.axes[1].yaxis) for t in a.get_ticklabels()]
        plt.close(fig)
        return labels

    assert "0.5" in ticks("en") and not any("," in t for t in ticks("en"))
    russian = ticks("ru")
    assert "0,5" in russian and not any("." in t for t in russian)
    assert "$\\mathdefault{0{,}5}$" in ticks("ru", mathtext=True)
