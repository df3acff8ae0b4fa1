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

from conftest import REPO_ROOT, free_port

NOTEBOOKS = sorted(p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb"))
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


@contextlib.contextmanager
def chromium():
    """Debian's Chromium, headless, driven by Playwright."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


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


def screenshot(locator, path, timeout_ms=30000):
    """The element's pixels [H, W, 3] in [0, 1] (scrolled into view first), also saved at path.

    Locator.screenshot first waits for the element to keep its box over two animation frames; a page that
    renders several WebGL views in software on a loaded machine once gave it no two such frames in 30 s (CI,
    eleventh session). Then the page is clipped where the element is, which needs no such frames."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from mimickit.viz.screenshot import read_png
    try:
        locator.scroll_into_view_if_needed(timeout=timeout_ms)
        locator.screenshot(path=str(path), timeout=timeout_ms)
    except PlaywrightTimeout:
        box = locator.bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0, "screenshot: the element is not shown"
        locator.page.screenshot(path=str(path), clip=box)
    return read_png(str(path))


def wait_for_characters(view, path, timeout=60, min_fraction=0.002):
    """Screenshot a 3D view every second until more than min_fraction of its pixels are of a clear colour
    (saturated_fraction: its characters), or timeout s -> the last fraction."""
    deadline, frac = time.time() + timeout, 0.0
    while frac <= min_fraction and time.time() < deadline:
        time.sleep(1.0)  # the scene arrives, the viewer script renders
        frac = saturated_fraction(screenshot(view, path))
    return frac


def poll_counter(locator, attribute, seconds, every=0.05):
    """[(time, the element's integer attribute)] read every `every` s for `seconds` s (0 while unset)."""
    samples, t_end = [], time.time() + seconds
    while time.time() < t_end:
        samples.append((time.time(), int(locator.get_attribute(attribute) or 0)))
        time.sleep(every)
    return samples


def arrival_rate(samples, start):
    """Counter samples [(time, count)] -> counts per second between the first sample above start and the
    first that reached the last count (None when nothing arrived)."""
    moving = [(t, c) for t, c in samples if c > start]
    if not moving:
        return None
    last = moving[-1][1]
    t_last = min(t for t, c in moving if c == last)
    return (last - moving[0][1]) / max(t_last - moving[0][0], 1e-3)
