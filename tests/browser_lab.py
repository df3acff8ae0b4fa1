"""Helpers of the real-browser tests (test_browser.py, test_browser_notebooks.py): JupyterLab started on a
free local port, Debian's Chromium driven by Playwright (no browser download), cells run as a user runs
them (click into the cell, Shift+Enter) and 3D views judged from their pixels."""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import numpy as np

from conftest import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# software WebGL: CI machines have no GPU
CHROMIUM_ARGS = ["--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"]
TOKEN = "mimickit-test"
# JupyterLab settings of the tests: every cell in the page (no windowing, so any cell can be located) and
# no autosave (the repository's notebooks stay as they are)
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
}
CELLS = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell"  # the cells of the notebook in view


@contextlib.contextmanager
def jupyter_lab(root_dir, work_dir, env=None):
    """JupyterLab serving root_dir; yields the URL pattern of a notebook path (``url % "a/b.ipynb"``).
    Its log and settings go to work_dir; env adds variables for it and its kernels."""
    settings = os.path.join(str(work_dir), "lab-settings")
    for name, values in LAB_SETTINGS.items():
        path = os.path.join(settings, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(values, f)
    port = free_port()
    log_path = os.path.join(str(work_dir), "lab.log")
    full_env = dict(os.environ, JUPYTERLAB_SETTINGS_DIR=settings, **(env or {}))
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
                                 "--port", str(port), "--IdentityProvider.token=" + TOKEN,
                                 "--ServerApp.root_dir=" + str(root_dir),
                                 "--LabApp.workspaces_dir=" + os.path.join(str(work_dir), "workspaces")],
                                stdout=log, stderr=subprocess.STDOUT, env=full_env)
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/api/status?token=%s" % (port, TOKEN), timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("JupyterLab did not start: " + open(log_path).read()[-2000:])
        # reset: each page opens only its notebook, not the tabs an earlier page left in the workspace
        yield "http://127.0.0.1:%d/lab/tree/%%s?token=%s&reset" % (port, TOKEN)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def open_notebook(browser, url, width=1200, height=1000):
    """A new page with the notebook at url, its kernel started."""
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url)
    page.wait_for_selector(CELLS, timeout=120000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus", timeout=120000)
    time.sleep(2)  # the kernel starts
    return page


def run_cell(page, index):
    """Select cell index (0-based) of the open notebook and run it with Shift+Enter -> its locator."""
    cell = page.locator(CELLS).nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    return cell


def wait_idle(page, cell, timeout=120):
    """Until cell's prompt shows its execution count (not '*')."""
    deadline = time.time() + timeout
    prompt = ""
    while time.time() < deadline:
        prompt = cell.locator(".jp-InputPrompt").inner_text()
        if "*" not in prompt and any(ch.isdigit() for ch in prompt):
            return
        time.sleep(0.2)
    raise AssertionError("cell did not finish in %d s: %s" % (timeout, prompt))


def saturated_fraction(img, min_saturation=0.3):
    """Fraction of pixels of a clear colour ((max - min) / max of the channels above min_saturation): the
    characters' colours, against the grey floor and the white-to-grey background of a 3D view."""
    pix = img.reshape(-1, 3)
    bright = pix.max(axis=-1)
    saturation = (bright - pix.min(axis=-1)) / np.maximum(bright, 1e-6)
    return float(((saturation > min_saturation) & (bright > 0.1)).mean())


def changed_fraction(a, b, tol=0.05):
    """Fraction of pixels that differ by more than tol in some channel between two screenshots."""
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((np.abs(a - b).max(axis=-1) > tol).mean())
