"""Figures computed from clips: how far the root turns, how high bodies go, how fast the root moves.

Used to judge recorded rollouts (``--record_motion``) from what the character did, e.g. a spin kick:

    python -m mimickit.anim.clip_stats out/rollouts/dataset.yaml --bodies right_foot left_foot \\
        --min_yaw_deg 270 --min_height_m 1.3 --full_length_s 10

prints one row per clip (length, the largest root-yaw change within --yaw_window seconds, the highest
point of --bodies, the mean root speed over the ground) and a summary line: how many clips run the
full length, and how many turn at least --min_yaw_deg within the window *and* lift a body above
--min_height_m.
"""
import argparse
import math
import os
import sys

import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CHAR = os.path.join(REPO_ROOT, "data", "assets", "humanoid", "humanoid.xml")


def unwrapped_heading(root_rot):
    """root_rot [T, 4] -> heading [T] (rad) without the 2 pi jumps, so turns add up."""
    from mimickit.util import rotations as rot
    h = rot.calc_heading(root_rot)
    steps = rot.wrap_to_pi(h[1:] - h[:-1])
    return torch.cat([h[:1], h[:1] + torch.cumsum(steps, 0)])


def max_turn_in_window(heading, fps, window_s):
    """The largest |heading(t1) - heading(t0)| (rad) over 0 <= t1 - t0 <= window_s; heading [T] unwrapped."""
    w = max(1, int(round(window_s * fps)))
    t = heading.shape[0]
    if t < 2:
        return 0.0
    best = 0.0
    for lag in range(1, min(w, t - 1) + 1):
        best = max(best, float((heading[lag:] - heading[:-lag]).abs().max()))
    return best


def clip_stats(motion, char_model, bodies=("right_foot", "left_foot"), window_s=1.0):
    """One clip (anim.motion.Motion) -> {length_s, max_turn_deg, max_height_m, mean_speed_mps}."""
    from mimickit.anim.kin_char_model import split_frames
    frames = torch.as_tensor(motion.frames, dtype=torch.float32)
    root_pos, root_rot, dof = split_frames(frames)
    body_pos, _ = char_model.forward_kinematics(root_pos, root_rot, dof)  # [T, B, 3]
    ids = [char_model.body_id(b) for b in bodies]
    turn = max_turn_in_window(unwrapped_heading(root_rot), motion.fps, window_s)
    speed = (root_pos[1:, :2] - root_pos[:-1, :2]).norm(dim=-1).mean() * motion.fps if len(frames) > 1 else 0.0
    return {"length_s": motion.length, "max_turn_deg": math.degrees(turn),
            "max_height_m": float(body_pos[:, ids, 2].max()), "mean_speed_mps": float(speed)}


def clip_files(path):
    """A clip file, or the clips a dataset YAML lists."""
    if str(path).endswith((".yaml", ".yml")):
        from mimickit.anim.motion_lib import read_dataset
        folder = os.path.dirname(os.path.abspath(path))
        return [f if os.path.isabs(f) or os.path.isfile(f) else os.path.join(folder, f)
                for f, _, _ in read_dataset(path)]
    return [str(path)]


def summarize(stats, full_length_s, min_turn_deg, min_height_m, fps):
    """-> {clips, full_frac, skill_frac}: clips of (about) full length, and clips that turn at least
    min_turn_deg within the window and lift a body above min_height_m."""
    n = len(stats)
    full = sum(s["length_s"] >= full_length_s - 0.5 / fps for s in stats) if full_length_s else n
    skill = sum(s["max_turn_deg"] >= min_turn_deg and s["max_height_m"] > min_height_m for s in stats)
    return {"clips": n, "full_frac": full / max(n, 1), "skill_frac": skill / max(n, 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("path", help="a clip (.pkl) or a dataset YAML, e.g. the dataset.yaml of --record_motion")
    p.add_argument("--char_file", default=DEFAULT_CHAR)
    p.add_argument("--bodies", nargs="+", default=["right_foot", "left_foot"])
    p.add_argument("--yaw_window", type=float, default=1.0, help="seconds")
    p.add_argument("--min_yaw_deg", type=float, default=270.0)
    p.add_argument("--min_height_m", type=float, default=1.3)
    p.add_argument("--full_length_s", type=float, default=None, help="length of a full episode")
    args = p.parse_args(argv)
    from mimickit.anim.kin_char_model import KinCharModel
    from mimickit.anim.motion import load_motion
    km = KinCharModel(args.char_file)
    stats, fps = [], 30.0
    print("%-40s %8s %13s %13s %10s" % ("clip", "length_s", "max_turn_deg", "max_height_m", "speed_mps"))
    for f in clip_files(args.path):
        m = load_motion(f)
        m.check_char(km)
        fps = m.fps
        s = clip_stats(m, km, args.bodies, args.yaw_window)
        stats.append(s)
        print("%-40s %8.2f %13.1f %13.3f %10.2f" % (os.path.basename(f), s["length_s"], s["max_turn_deg"],
                                                    s["max_height_m"], s["mean_speed_mps"]))
    summary = summarize(stats, args.full_length_s, args.min_yaw_deg, args.min_height_m, fps)
    print("clips=%d full_frac=%.3f skill_frac=%.3f (turn >= %g deg within %g s and %s above %g m)"
          % (summary["clips"], summary["full_frac"], summary["skill_frac"], args.min_yaw_deg, args.yaw_window,
             "/".join(args.bodies), args.min_height_m))
    return 0


if __name__ == "__main__":
    sys.exit(main())
