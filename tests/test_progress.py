import pytest
import torch

from course_lib.progress import DivergenceWarning, InterruptedWarning, Optimisation


def test_history_and_last_good_image():
    image = torch.zeros(1, 3, 4, 4)
    with Optimisation(3, "test", quiet=True) as run:
        for i in range(3):
            image = image + 1
            assert run.step(10.0 - i, image)
    assert run.history == [10.0, 9.0, 8.0] and run.stopped is None
    assert torch.equal(run.best_image(image), image)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 1e12])
def test_divergence_stops_with_a_warning_and_keeps_the_last_good_image(bad):
    good = torch.ones(1, 3, 2, 2)
    with pytest.warns(DivergenceWarning, match="last good image"):
        with Optimisation(5, "test", quiet=True) as run:
            assert run.step(1.0, good)
            assert not run.step(bad, good * float("nan"))
    assert run.stopped == "diverged" and run.history == [1.0]
    assert torch.equal(run.best_image(good * float("nan")), good)


def test_keyboard_interrupt_returns_control_with_a_warning():
    image = torch.zeros(1)
    with pytest.warns(InterruptedWarning, match="after 2 steps"):
        with Optimisation(10, "test", quiet=True) as run:
            for i in range(10):
                if i == 2:
                    raise KeyboardInterrupt
                image = image + 1
                run.step(1.0, image)
    assert run.stopped == "interrupted" and image.item() == 2


def test_other_exceptions_propagate():
    with pytest.raises(ValueError):
        with Optimisation(1, "test", quiet=True):
            raise ValueError("not swallowed")


def test_the_live_preview_is_closed_when_the_run_ends(monkeypatch):
    """A finished run leaves no small preview above the final picture the caller shows."""
    import ipywidgets as widgets
    from PIL import Image

    from course_lib import progress

    shown = []

    def fake_widget():            # what _live_image_widget displays in a notebook
        shown.append(widgets.Image(format="png"))
        return shown[-1]

    monkeypatch.setattr(progress, "_live_image_widget", fake_widget)
    to_image = lambda tensor: Image.new("RGB", (4, 4))  # noqa: E731
    image = torch.zeros(1, 3, 4, 4)
    with Optimisation(4, "test", live=True, live_every=2, to_image=to_image, quiet=True) as run:
        for _ in range(4):
            run.step(1.0, image)
        assert shown[0].value and shown[0].comm is not None, "the preview is live while it runs"
    assert shown[0].comm is None, "closed: the front end removes it"
    with pytest.warns(InterruptedWarning):           # also when the lecturer stops the run
        with Optimisation(4, "test", live=True, to_image=to_image, quiet=True) as run:
            raise KeyboardInterrupt
    assert shown[1].comm is None
