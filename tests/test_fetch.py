"""The fetch command and the painting downloads, all offline.

A loopback HTTP server stands in for download.pytorch.org and Wikimedia (it can send a
short body, ignore or honour Range, or serve a web page instead of an image); "the network
is unreachable" is a proxy on a closed local port, so the tests never touch the internet
even on a machine that is online.
"""
import io
import os

import numpy as np
import pytest
from PIL import Image

from course_lib import fetch, samples
from course_lib.fetch import FetchError
from course_lib.images import ImageError
from course_lib.samples import sample_image
from tests.support import UNREACHABLE, QuietHandler, loopback_server


def jpeg(w=64, h=48):
    a = (np.random.default_rng(0).random((h, w, 3)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(a).save(buffer, format="JPEG")
    return buffer.getvalue()


class Handler(QuietHandler):
    body = b""
    mode = "ok"            # "ok", "short" (promises more than it sends), "no-range"
    requests = []

    def do_GET(self):
        type(self).requests.append(dict(self.headers))
        body, start = self.body, 0
        ranged = self.headers.get("Range")
        if ranged and self.mode != "no-range":
            start = int(ranged.split("=")[1].rstrip("-"))
            self.send_response(206)
        else:
            self.send_response(200)
        rest = body[start:]
        self.send_header("Content-Length", str(len(rest) + (1000 if self.mode == "short" else 0)))
        self.end_headers()
        self.wfile.write(rest)


@pytest.fixture
def server():
    handler = type("H", (Handler,), {"requests": []})
    with loopback_server(handler) as base:
        yield handler, base + "/file"


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Empty torch hub and course_lib caches; no proxy settings of the machine leak in."""
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "no_proxy", "NO_PROXY", "COURSE_LIB_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("COURSE_LIB_CACHE", str(tmp_path / "course_lib"))
    monkeypatch.setattr(samples, "_unavailable", {})
    return tmp_path


def files_under(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_paths_follow_torchvision_and_the_hash_rule(caches):
    path = fetch.net_path("vgg16")
    assert path == caches / "torch" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    assert fetch.net_url("vgg16").endswith("/vgg16-397923af.pth")
    assert fetch.expected_hash_prefix(path) == "397923af"
    assert fetch.expected_hash_prefix(fetch.part_path(path)) == "397923af"


def test_painting_urls_are_commons_thumbnails_at_the_md5_path():
    url = fetch.PAINTINGS["starry_night"].url
    assert url == ("https://upload.wikimedia.org/wikipedia/commons/thumb/e/ea/Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg/"
                   "1280px-Van_Gogh_-_Starry_Night_-_Google_Art_Project.jpg")
    assert fetch.PAINTINGS["great_wave"].url.startswith("https://upload.wikimedia.org/wikipedia/commons/thumb/a/a5/")
    assert "/c/c5/Edvard_Munch,_1893,_The_Scream," in fetch.PAINTINGS["the_scream"].url


def test_a_painting_downloads_atomically_and_is_then_skipped(caches, server, monkeypatch):
    handler, url = server
    handler.body = jpeg()
    monkeypatch.setattr(fetch, "item_url", lambda name: url)
    lines = []
    assert fetch.fetch(["shipwreck"], progress=False, out=lines.append) == {"shipwreck": "downloaded"}
    assert any("downloading 0.0 MB" in line or "MB from" in line for line in lines), lines   # size before the download
    path = fetch.painting_path("shipwreck")
    assert path.read_bytes() == handler.body and not fetch.part_path(path).exists()
    assert handler.requests[0]["User-Agent"].startswith("nn-art-course")
    assert fetch.fetch(["shipwreck"], progress=False, out=lines.append) == {"shipwreck": "cached"}
    assert len(handler.requests) == 1                                  # skipped: no second request
    assert sample_image("shipwreck").size == (64, 48)


def test_an_interrupted_download_leaves_only_a_part_file_and_resumes(caches, server, monkeypatch):
    handler, url = server
    body = jpeg(200, 150)
    monkeypatch.setattr(fetch, "item_url", lambda name: url)
    handler.body, handler.mode = body, "short"          # the connection ends before Content-Length
    result = fetch.fetch(["great_wave"], progress=False, out=lambda _: None)
    assert "run again to resume" in result["great_wave"]
    path = fetch.painting_path("great_wave")
    assert not path.exists()                            # nothing that would later load as a broken image
    part = fetch.part_path(path)
    part.write_bytes(body[:1000])                       # as if cut off after 1000 bytes
    assert [row[2] for row in fetch.listing() if row[0] == "great_wave"] == ["partial (resumes)"]
    handler.mode = "ok"
    assert fetch.fetch(["great_wave"], progress=False, out=lambda _: None) == {"great_wave": "downloaded"}
    assert handler.requests[-1]["Range"] == "bytes=1000-"
    assert path.read_bytes() == body and not part.exists()


def test_a_server_that_ignores_range_starts_again(caches, server, monkeypatch):
    handler, url = server
    handler.body, handler.mode = jpeg(), "no-range"
    monkeypatch.setattr(fetch, "item_url", lambda name: url)
    path = fetch.painting_path("the_scream")
    path.parent.mkdir(parents=True)
    fetch.part_path(path).write_bytes(b"garbage that must not be kept")
    assert fetch.fetch(["the_scream"], progress=False, out=lambda _: None) == {"the_scream": "downloaded"}
    assert path.read_bytes() == handler.body


def test_a_net_with_the_wrong_hash_is_refused_and_not_kept(caches, server, monkeypatch):
    handler, url = server
    handler.body = b"not the weights" * 100
    monkeypatch.setattr(fetch, "item_url", lambda name: url)
    result = fetch.fetch(["alexnet"], progress=False, out=lambda _: None)
    assert "SHA-256 does not start with 7be5be79" in result["alexnet"]
    assert files_under(caches / "torch") == []          # neither the file nor a .part that would be resumed


def test_a_web_page_instead_of_a_painting_is_refused(caches, server, monkeypatch):
    handler, url = server
    handler.body = b"<html>Please set a user-agent</html>"
    monkeypatch.setattr(fetch, "item_url", lambda name: url)
    assert "not an image" in fetch.fetch(["starry_night"], progress=False, out=lambda _: None)["starry_night"]
    assert files_under(caches) == []


def test_too_large_is_refused_before_writing(caches, server, monkeypatch):
    handler, url = server
    handler.body = b"x" * 5000
    with pytest.raises(FetchError, match="larger than"):
        fetch.download(url, caches / "f.jpg", max_bytes=1000, progress=False, out=lambda _: None)
    assert files_under(caches) == []


def test_fetch_command_offline_reports_each_item_and_fails(caches, monkeypatch, capsys):
    monkeypatch.setenv("http_proxy", UNREACHABLE)
    monkeypatch.setenv("https_proxy", UNREACHABLE)
    assert fetch.main(["alexnet", "vgg19", "starry_night", "--no-progress"]) == 1
    out, err = capsys.readouterr()
    for name in ("alexnet", "vgg19", "starry_night"):
        assert f"{name}: FAILED: download failed" in out and "are you offline?" in out
    assert "Traceback" not in out + err and "3 of 3 failed" in err
    assert files_under(caches) == []                   # nothing half-written anywhere


def test_fetch_command_lists_and_rejects_unknown_names(caches, capsys):
    fetch.painting_path("shipwreck").parent.mkdir(parents=True)
    fetch.painting_path("shipwreck").write_bytes(jpeg())
    assert fetch.main(["--list"]) == 0
    out = capsys.readouterr().out
    assert "shipwreck" in out and "cached" in out and str(fetch.net_path("vgg16")) in out and "missing" in out
    assert fetch.main(["vgg17"]) == 2
    assert "unknown item(s) vgg17" in capsys.readouterr().err


def test_sample_painting_offline_falls_back_with_one_line(caches, monkeypatch, capsys):
    monkeypatch.setenv("https_proxy", UNREACHABLE)
    image = sample_image("starry_night", max_size=64)
    assert image.tobytes() == sample_image("swirls", max_size=64).tobytes()
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "using the generated 'swirls'" in lines[0] and "./run.sh fetch starry_night" in lines[0]
    assert samples._unavailable                          # the next call does not wait for the network again
    with pytest.raises(ImageError, match="download failed"):
        samples.painting("starry_night", fallback=False)
    with pytest.raises(ImageError, match="paintings"):
        sample_image("mona_lisa")


def test_offline_switch_skips_the_network(caches, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_LIB_OFFLINE", "1")
    monkeypatch.setattr(samples, "download", lambda *a, **k: pytest.fail("COURSE_LIB_OFFLINE must not download"))
    assert sample_image("great_wave").size == sample_image("waves").size
    assert "COURSE_LIB_OFFLINE" in capsys.readouterr().out


def test_sample_painting_downloads_on_first_use(caches, server, monkeypatch):
    handler, url = server
    handler.body = jpeg()
    monkeypatch.setattr(fetch.Painting, "url", property(lambda self: url))
    assert sample_image("the_scream").size == (64, 48)
    assert fetch.painting_path("the_scream").read_bytes() == handler.body


def test_fetch_runs_from_the_command_line(caches):
    import subprocess
    import sys

    env = {**os.environ, "https_proxy": UNREACHABLE, "http_proxy": UNREACHABLE}
    done = subprocess.run([sys.executable, "-m", "course_lib.fetch", "great_wave", "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1 and "great_wave: FAILED" in done.stdout
