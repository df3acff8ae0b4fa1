"""Every notebook of notebooks/ opened in JupyterLab in a real browser (Chromium, driven by Playwright),
quick mode, its cells run one by one as a user runs them. For each notebook:

- every code cell finishes with no error in its output;
- every widget output rendered its controls (not "Loading widget..." or "Error displaying widget");
- every 3D view (the live widget views and the saved HTML animations) shows characters: pixels of their
  clear colours against the grey floor and background;
- in 01, 04 and 06, moving one slider (typed into its readout, as a user may) changes the live 3D view's
  pixels and the plot beside it, and the view was updated (a scene message from the kernel, or, for a
  slider linked with ``CharViewer.link_frame``, an animation seek in the page);
- in 01, the frame slider driven by its play button (30 steps a second): the frames per second the
  view shows are printed (a measurement for BENCHMARKS.md, not a pass/fail bound).

The repository's notebooks are not written (no autosave; their hashes are checked). Screenshots go to the
pytest tmp folder.
"""
import hashlib
import time

import pytest

from browser_lab import (CELLS, CHROMIUM, NOTEBOOKS, arrival_rate, changed_fraction, chromium, jupyter_lab,
                         open_notebook, poll_counter, run_cell, screenshot, wait_for_characters, wait_idle)
from conftest import REPO_ROOT

pytest.importorskip("playwright")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")

# notebook -> (the slider's description, the value typed into it)
SLIDERS = {"01_motion_data.ipynb": ("frame", "40"), "04_deepmimic.ipynb": ("step", "45"),
           "06_ase.ipynb": ("along the circle", "0.50")}
CELL_TIMEOUT = 900  # s: quick-mode training cells on a 2-core CI machine, beside a software-rendering browser
CONTROLS = ".jupyter-widgets, .mimickit-meshcat"  # what a rendered ipywidget or our 3D view widget puts in the page


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    work = tmp_path_factory.mktemp("lab")
    before = {name: _digest(REPO_ROOT / "notebooks" / name) for name in NOTEBOOKS}
    with jupyter_lab(REPO_ROOT, work, env={"MIMICKIT_QUICK": "1"}) as url:
        yield url
    after = {name: _digest(REPO_ROOT / "notebooks" / name) for name in NOTEBOOKS}
    assert before == after, "the browser test wrote a notebook of the repository"


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def _check_outputs(cell, name, index):
    """No error in the cell's output, and each of its widget outputs rendered."""
    for err in cell.locator(".jp-OutputArea-output").all():
        text = err.inner_text()
        assert "Traceback (most recent call last)" not in text, "%s cell %d: %s" % (name, index, text[-1500:])
    deadline = time.time() + 30
    while True:
        # the widget renderer's outputs are the ones without a data-mime-type (text, images, HTML have one)
        widgets = cell.locator(".jp-OutputArea-output:not([data-mime-type])").all()
        pending = [w for w in widgets if "Loading widget" in w.inner_text() or not w.locator(CONTROLS).count()]
        if not pending or time.time() > deadline:
            break
        time.sleep(0.5)
    for w in widgets:
        text = w.inner_text()
        assert "Error displaying widget" not in text and "Loading widget" not in text, \
            "%s cell %d: a widget did not render: %r" % (name, index, text[:300])
        assert w.locator(CONTROLS).count(), "%s cell %d: a widget output without controls" % (name, index)
    return len(widgets)


def _check_views(cell, name, index, tmp_path):
    """Each 3D view in the cell's output shows characters -> how many views."""
    views = cell.locator(".mimickit-meshcat, .jp-OutputArea-output iframe").all()
    for k, view in enumerate(views):
        frac = wait_for_characters(view, tmp_path / ("view_%d_%d.png" % (index, k)))
        assert frac > 0.002, "%s cell %d: 3D view %d shows no character (%.4f of the pixels)" % (name, index, k, frac)
    return len(views)


def _move_slider(page, cell, name, label, value, tmp_path):
    """Type value into the slider labelled label; the live view's pixels, its message count and the
    plot (the cell's last image) must change."""
    slider = cell.locator(".widget-slider").filter(has=page.locator(".widget-label", has_text=label)).first
    view = cell.locator(".mimickit-meshcat").first
    plot = cell.locator(".jp-OutputArea-output img").last
    time.sleep(1.0)
    view_before = screenshot(view, tmp_path / "slider_view_before.png")
    plot_before = screenshot(plot, tmp_path / "slider_plot_before.png")
    updates_before = _view_updates(view)
    readout = slider.locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(value)
    page.keyboard.press("Enter")
    deadline, view_changed, plot_changed = time.time() + 120, 0.0, 0.0
    while time.time() < deadline and (view_changed <= 0.002 or plot_changed <= 0.002):
        time.sleep(1.0)
        view_changed = changed_fraction(view_before, screenshot(view, tmp_path / "slider_view_after.png"))
        plot = cell.locator(".jp-OutputArea-output img").last
        plot_after = screenshot(plot, tmp_path / "slider_plot_after.png")
        plot_changed = changed_fraction(plot_before, plot_after) if plot_after.shape == plot_before.shape else 1.0
    updates = _view_updates(view) - updates_before
    print("%s: slider %r -> %s: %.3f of the view's pixels and %.3f of the plot's changed, %d view updates"
          % (name, label, value, view_changed, plot_changed, updates))
    assert view_changed > 0.002, "%s: moving %r did not change the 3D view" % (name, label)
    assert plot_changed > 0.002, "%s: moving %r did not change the plot" % (name, label)
    assert updates > 0, "%s: the view received no update after the slider moved" % name
    return slider, view


def _view_updates(view):
    """Scene messages from the kernel plus animation seeks in the page (a slider linked with link_frame)."""
    return int(view.get_attribute("data-messages") or 0) + int(view.get_attribute("data-seeks") or 0)


def _play_frame_rate(cell, view, seconds=4.0):
    """Press the cell's play button (a Play widget linked to the slider, 30 steps a second) for `seconds` ->
    the frames per second the view showed (its animation seeks, between the first and the last)."""
    buttons = cell.locator(".widget-play button")
    buttons.first.scroll_into_view_if_needed()
    start = int(view.get_attribute("data-seeks") or 0)
    buttons.first.click()  # play
    samples = poll_counter(view, "data-seeks", seconds)
    buttons.nth(1).click()  # pause
    fps = arrival_rate(samples, start)
    assert fps is not None, "playing sent no frame to the view"
    return fps


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_in_the_browser(lab, browser, name, tmp_path):
    page = open_notebook(browser, lab % ("notebooks/" + name))
    try:
        cells = page.locator(CELLS)
        num_widgets = num_views = 0
        slider_checked = name not in SLIDERS
        start = time.time()
        for index in range(cells.count()):
            if "jp-CodeCell" not in (cells.nth(index).get_attribute("class") or ""):
                continue
            cell = run_cell(page, index)
            wait_idle(page, cell, timeout=CELL_TIMEOUT)
            num_widgets += _check_outputs(cell, name, index)
            num_views += _check_views(cell, name, index, tmp_path)
            if not slider_checked:
                label, value = SLIDERS[name]
                has_slider = cell.locator(".widget-slider .widget-label", has_text=label).count()
                if has_slider and cell.locator(".mimickit-meshcat").count():
                    _, view = _move_slider(page, cell, name, label, value, tmp_path)
                    slider_checked = True
                    if name == "01_motion_data.ipynb":  # its frame slider moves the view in the page
                        fps = _play_frame_rate(cell, view)
                        print("%s: the %r slider driven by its play button: %.1f frames/s in the view"
                              % (name, label, fps))
                        (tmp_path / "slider_fps.txt").write_text("%.1f\n" % fps)  # a figure for BENCHMARKS.md
        page.screenshot(path=str(tmp_path / "notebook.png"), full_page=True)
        print("%s: %d widget outputs, %d 3D views, %.0f s in the browser" % (name, num_widgets, num_views,
                                                                             time.time() - start))
        assert slider_checked, "%s: no cell shows the %r slider beside a 3D view" % (name, SLIDERS[name][0])
    finally:
        page.close()
