"""Screenshots of HTML pages (e.g. exported meshcat scenes) with headless Chromium.

WebGL runs on SwiftShader (software), so no GPU or display is needed; works as root.
"""
import os
import shutil
import signal
import subprocess
import tempfile

import numpy as np

_CHROMIUM_NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
                   "chrome"]


def find_chromium():
    """Path of a Chromium/Chrome binary, or None."""
    for name in _CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


_TAG_VAR = "MIMICKIT_SCREENSHOT_TAG"


def _tagged_pids(tag):
    """Live processes whose environment carries our tag (Linux /proc; [] elsewhere)."""
    needle = ("%s=%s" % (_TAG_VAR, tag)).encode()
    pids = []
    for entry in (os.listdir("/proc") if os.path.isdir("/proc") else []):
        if entry.isdigit():
            try:
                with open("/proc/%s/environ" % entry, "rb") as f:
                    if needle in f.read().split(b"\0"):
                        pids.append(int(entry))
            except OSError:  # gone meanwhile, or not ours to read
                pass
    return pids


def _kill_leftovers(proc, tag):
    # the browser's helpers share the session we started, except crashpad handlers, which
    # start their own; those still inherit our tagged environment
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for pid in _tagged_pids(tag):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def screenshot_html(html_file, png_file, width=800, height=600, wait_ms=3000, chromium=None,
                    timeout_s=120.0):
    """Renders `html_file` in headless Chromium and writes a `width` x `height` PNG.

    wait_ms: virtual time the page gets (scripts, animation frames) before the shot.
    Raises RuntimeError if no browser is found or no PNG comes out.
    """
    chromium = chromium or find_chromium()
    if chromium is None:
        raise RuntimeError("no chromium binary found (e.g. apt-get install -y chromium)")
    if not os.path.isfile(str(html_file)):
        raise RuntimeError("no such HTML file: %s" % html_file)
    png_file = os.path.abspath(str(png_file))
    if os.path.exists(png_file):
        os.remove(png_file)  # so a stale file cannot pass for a fresh screenshot
    url = "file://" + os.path.abspath(str(html_file))
    profile_dir = tempfile.mkdtemp(prefix="mimickit_chromium_")
    env = dict(os.environ)
    env[_TAG_VAR] = os.path.basename(profile_dir)  # unique: marks every process of this run
    args = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-extensions",
        "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
        "--user-data-dir=" + profile_dir,
        # software WebGL: newer builds need ANGLE's SwiftShader and the "unsafe" opt-in
        "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
        "--virtual-time-budget=%d" % int(wait_ms),
        "--window-size=%d,%d" % (int(width), int(height)),
        "--screenshot=" + png_file,
        url,
    ]
    # output goes to a file, not a pipe: helper processes inherit the pipe and would keep a
    # reader waiting long after the browser itself has exited
    log_path = os.path.join(profile_dir, "chromium.log")
    try:
        with open(log_path, "wb") as log:
            try:
                proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, start_new_session=True,
                                        env=env)
            except OSError as e:
                raise RuntimeError("cannot start %s: %s" % (chromium, e))
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                raise RuntimeError("chromium took longer than %.0f s" % timeout_s)
            finally:
                _kill_leftovers(proc, env[_TAG_VAR])
                proc.wait()
        with open(log_path, "rb") as log:
            out = log.read()
    finally:
        shutil.rmtree(profile_dir, ignore_errors=True)
    if not os.path.exists(png_file):
        raise RuntimeError("chromium wrote no screenshot (exit %s):\n%s"
                           % (proc.returncode, out.decode("utf-8", "replace")[-3000:]))
    return png_file


def read_png(png_file):
    """PNG -> float RGB array [H, W, 3] in [0, 1] (matplotlib reads PNG without PIL)."""
    import matplotlib.image
    img = np.asarray(matplotlib.image.imread(str(png_file)), dtype=np.float64)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.max() > 1.0:  # integer PNGs read through other backends
        img = img / 255.0
    return img[..., :3]


def image_diff_fraction(img, tol=2.0 / 255.0):
    """Fraction of pixels of img [H, W, 3] differing from its most common colour by > tol.

    0 means a uniform (blank) image.
    """
    quant = np.round(img.reshape(-1, 3) * 255.0).astype(np.int64)  # [H*W, 3]
    keys = (quant[:, 0] << 16) | (quant[:, 1] << 8) | quant[:, 2]
    values, counts = np.unique(keys, return_counts=True)
    mode = values[np.argmax(counts)]
    background = np.array([(mode >> 16) & 255, (mode >> 8) & 255, mode & 255]) / 255.0
    differs = np.abs(img.reshape(-1, 3) - background[None]).max(axis=-1) > tol
    return float(differs.mean())


def color_fraction(img, rgb, tol=0.25):
    """Fraction of pixels whose chromaticity (colour / its max channel) is within tol of rgb's:
    a lit or shaded surface of that colour still counts."""
    rgb = np.asarray(rgb, dtype=np.float64)
    pix = img.reshape(-1, 3)
    bright = pix.max(axis=-1)  # [N]
    chroma = pix / np.maximum(bright, 1e-6)[:, None]
    target = rgb / max(rgb.max(), 1e-6)
    close = np.abs(chroma - target[None]).max(axis=-1) < tol
    return float((close & (bright > 0.1)).mean())
