"""Play a motion clip (or every clip of a dataset) on its character in meshcat.

    python -m mimickit.viz.play_motion --motion_file data/motions/humanoid/humanoid_spinkick.pkl \
        --html output/spinkick.html

Prints the live viewer's URL, plays in real time, and with --html writes a self-contained HTML
animation that any browser opens without a server.
"""
import argparse
import os

from mimickit.anim.kin_char_model import KinCharModel
from mimickit.anim.motion_lib import MotionLib

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CHAR_FILE = os.path.join(REPO_ROOT, "data", "assets", "humanoid", "humanoid.xml")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--motion_file", required=True, help="clip (.pkl) or dataset (.yaml)")
    parser.add_argument("--char_file", default=DEFAULT_CHAR_FILE, help="character MJCF")
    parser.add_argument("--html", default=None, help="also write a self-contained HTML animation here")
    parser.add_argument("--loops", type=int, default=1, help="times to play each clip live (0: none)")
    args = parser.parse_args(argv)

    from mimickit.viz.char_viewer import CharViewer

    char = KinCharModel(args.char_file)
    lib = MotionLib(args.motion_file, char)
    viewer = CharViewer(live="server")
    try:
        viewer.add_character("char", args.char_file)
        print("meshcat viewer: %s" % viewer.url(), flush=True)
        for motion_id in range(lib.num_motions()):
            poses = lib.get_clip_poses(motion_id)  # body_pos [T, B, 3], body_rot [T, B, 4]
            fps = lib.get_motion_fps(motion_id)
            print("clip %d: %s, %d frames at %g fps" % (motion_id, lib.motion_files[motion_id],
                                                         poses[0].shape[0], fps), flush=True)
            for _ in range(args.loops):
                viewer.play({"char": poses}, fps=fps)
            if args.html and motion_id == 0:
                os.makedirs(os.path.dirname(os.path.abspath(args.html)), exist_ok=True)
                viewer.export_html(args.html, {"char": poses}, fps=fps)
                viewer.clear_animation()
                print("wrote %s" % args.html, flush=True)
    finally:
        viewer.close()


if __name__ == "__main__":
    main()
