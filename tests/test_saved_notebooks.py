"""The saved-notebook path: each notebook run through ``jupyter nbconvert --execute --to html`` (quick
mode), the HTML opened from disk in Chromium with no kernel and no server, and every 3D animation in it
(an iframe of meshcat's self-contained page) must show characters. Notebooks that export animations
must keep at least one in the HTML."""
import os
import subprocess
import sys
import time

import pytest

from browser_lab import CHROMIUM, NOTEBOOKS, chromium, wait_for_characters
from conftest import REPO_ROOT

pytest.importorskip("playwright")
pytest.importorskip("nbconvert")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")



@pytest.mark.parametrize("name", NOTEBOOKS)
def test_exported_html_shows_every_animation(name, tmp_path):
    source = (REPO_ROOT / "notebooks" / name).read_text()
    exports = any(call in source for call in ("animation_html(", "static_html(", "beside_reference_html("))
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--execute", "--to", "html",
                           "--ExecutePreprocessor.timeout=1200", "--output-dir", str(tmp_path),
                           str(REPO_ROOT / "notebooks" / name)],
                          cwd=str(REPO_ROOT / "notebooks"), env=dict(os.environ, MIMICKIT_QUICK="1"),
                          capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = tmp_path / name.replace(".ipynb", ".html")
    seconds = time.time() - start
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.goto(html.as_uri())
        frames = page.locator("iframe").all()
        for k, frame in enumerate(frames):  # meshcat's page builds its scene and starts the animation
            frac = wait_for_characters(frame, tmp_path / ("animation_%d.png" % k))
            assert frac > 0.002, "%s: animation %d of the exported HTML shows no character" % (name, k)
    print("%s: %d animations in the exported HTML, nbconvert %.0f s" % (name, len(frames), seconds))
    if exports:
        assert frames, "%s exports animations, but its HTML holds none" % name
