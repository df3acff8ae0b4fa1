"""The notebook's live 3D view in a real browser: JupyterLab, started here on a free port, driven by
Playwright in Debian's Chromium. A notebook puts a character in a widget view (CharViewer's default in
a kernel: no meshcat server, no port), then streams poses: the view must show the character, change
when the pose changes, and keep up at >= 20 frames a second. Screenshots go to the pytest tmp folder."""
import time

import pytest

from browser_lab import (CHROMIUM, arrival_rate, changed_fraction, chromium, jupyter_lab, open_notebook, poll_counter,
                         run_cell, screenshot, wait_idle)
from conftest import REPO_ROOT

pytest.importorskip("playwright")
nbformat = pytest.importorskip("nbformat")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")

SKIN = (0.80, 0.62, 0.45)  # the humanoid's geom colour
SETUP = """import os, sys
sys.path.insert(0, %r)
os.chdir(%r)
import torch
from mimickit.anim.kin_char_model import KinCharModel
from mimickit.viz import CharViewer
km = KinCharModel("data/assets/humanoid/humanoid.xml")
viewer = CharViewer(height=360)  # in a kernel: the widget view
viewer.add_character("sim", "data/assets/humanoid/humanoid.xml")
def pose(bend):
    dof = torch.zeros(km.num_dofs)
    dof[0:3] = torch.tensor([0.0, 0.0, bend])  # the abdomen
    return km.forward_kinematics(torch.tensor([0, 0, 0.9]), torch.tensor([0, 0, 0, 1.0]), dof)
viewer.set_pose("sim", *pose(0.0))
viewer.show()""" % (str(REPO_ROOT), str(REPO_ROOT))
BEND = 'viewer.set_pose("sim", *pose(0.8))'
STREAM = """import time
t0, n = time.time(), 0
while time.time() - t0 < 3.0:
    viewer.set_pose("sim", *pose(0.8 * (n % 30) / 30.0))
    n += 1
print("sent %d frames" % n)"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in (SETUP, BEND, STREAM)]
    nbformat.write(nb, str(root / "view.ipynb"))
    with jupyter_lab(root, root) as url:
        yield url, root


def test_the_widget_view_shows_moves_and_keeps_up(lab, tmp_path):
    from mimickit.viz.screenshot import color_fraction
    url, root = lab
    with chromium() as browser:
        page = open_notebook(browser, url % "view.ipynb")
        wait_idle(page, run_cell(page, 0))
        page.wait_for_selector(".mimickit-meshcat canvas", timeout=120000)
        view = page.locator(".mimickit-meshcat")
        time.sleep(1)
        before = screenshot(view, tmp_path / "before.png")
        assert color_fraction(before, SKIN) > 0.01, "no character in the view"
        wait_idle(page, run_cell(page, 1))
        time.sleep(1)
        changed = changed_fraction(before, screenshot(view, tmp_path / "after.png"))  # pixels the pose change moved
        assert changed > 0.002, "the pose change did not show (%.4f of the pixels changed)" % changed
        # frames the browser receives while the kernel streams poses for 3 s
        start = int(view.get_attribute("data-messages") or 0)
        cell = run_cell(page, 2)
        samples = poll_counter(view, "data-messages", 6.0)
        wait_idle(page, cell)
        page.screenshot(path=str(tmp_path / "lab.png"))
        fps = arrival_rate(samples, start)
        assert fps is not None, "no frame arrived"
        print("browser received %d frames at %.0f frames/s" % (samples[-1][1] - start, fps))
        (root / "fps.txt").write_text("%.1f\n" % fps)
        assert fps >= 20.0, fps
