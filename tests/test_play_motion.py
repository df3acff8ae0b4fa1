"""The main job of the foundation: play the spinkick and export its HTML animation, which
headless Chromium renders with the character visible."""
import os

import pytest

from mimickit.viz import play_motion
from mimickit.viz.screenshot import color_fraction, find_chromium, read_png, screenshot_html

pytest.importorskip("pybullet_data")

# the humanoid's skin colour in humanoid.xml (rgba 0.80 0.62 0.45); the floor is grey, the sky blue
SKIN = (0.80, 0.62, 0.45)


def test_spinkick_html_shows_the_character(tmp_path):
    if find_chromium() is None:
        pytest.skip("no chromium binary: install Debian's chromium to run the screenshot test")
    html = tmp_path / "spinkick.html"
    play_motion.main(["--motion_file", os.path.join(play_motion.REPO_ROOT, "data", "motions", "humanoid",
                                                    "humanoid_spinkick.pkl"),
                      "--html", str(html), "--loops", "0"])
    assert html.stat().st_size > 100000  # meshcat's viewer is inlined: no server needed
    png = screenshot_html(str(html), str(tmp_path / "spinkick.png"), width=800, height=600, wait_ms=1500)
    skin = color_fraction(read_png(png), SKIN, tol=0.12)
    assert skin > 0.005, "the character covers only %.4f of the picture" % skin
