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


def test_visualize_true_draws_the_moving_character_in_the_live_viewer(tmp_path):
    """--visualize true: env 0 is drawn in the live meshcat server; its scene, exported as the
    server holds it after some steps, shows the character where the simulation put it."""
    if find_chromium() is None:
        pytest.skip("no chromium binary: install Debian's chromium to run the screenshot test")
    from mimickit.envs.env_builder import build_env
    env = build_env(os.path.join(play_motion.REPO_ROOT, "data", "envs", "view_motion_humanoid_env.yaml"),
                    os.path.join(play_motion.REPO_ROOT, "data", "engines", "mujoco_engine.yaml"), 1, visualize=True)
    try:
        env.reset()
        start = env.engine.get_root_pos()[0].clone()
        for _ in range(10):
            env.step(env.neutral_action())
        assert (env.engine.get_root_pos()[0] - start).norm() > 0.1  # the clip moved the character
        html = tmp_path / "live.html"
        html.write_text(env._viewer.vis.static_html())
    finally:
        env.close()
    png = screenshot_html(str(html), str(tmp_path / "live.png"), width=800, height=600, wait_ms=1500)
    assert color_fraction(read_png(png), SKIN, tol=0.12) > 0.005
