"""Screenshot an HTML page (e.g. an exported meshcat scene) with headless Chromium and check
that the image is not blank.

Usage: python tools/screenshot_html.py HTML_FILE PNG_FILE [--width W --height H --wait-ms MS]
Prints the fraction of pixels differing from the most common (background) colour; exits 1 if
that is below --min-diff (a uniform image), 2 if no screenshot could be taken.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mimickit.viz.screenshot import image_diff_fraction, read_png, screenshot_html  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_file")
    parser.add_argument("png_file")
    parser.add_argument("--width", type=int, default=800)
    parser.add_argument("--height", type=int, default=600)
    parser.add_argument("--wait-ms", type=int, default=3000,
                        help="virtual time the page runs before the screenshot")
    parser.add_argument("--min-diff", type=float, default=1e-3,
                        help="least fraction of non-background pixels for a non-blank image")
    parser.add_argument("--chromium", default=None, help="browser binary (default: search PATH)")
    args = parser.parse_args(argv)
    try:
        png = screenshot_html(args.html_file, args.png_file, args.width, args.height,
                              args.wait_ms, chromium=args.chromium)
    except RuntimeError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    img = read_png(png)  # [H, W, 3]
    frac = image_diff_fraction(img)
    print("%s: %dx%d, %.4f of pixels differ from the background colour"
          % (png, img.shape[1], img.shape[0], frac))
    if frac < args.min_diff:
        print("error: image is blank (uniform)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
