"""Is a clip physically sensible for its character? Where its lowest point is and how far it bends any
joint past its limit, judged from forward kinematics of every frame.

    python -m mimickit.anim.clip_checks CHAR.xml CLIP.pkl [--ground_tol 0.05] [--limit_tol 0.05]

prints the lowest point over the clip (it should touch the ground: a clip floating or sunk by more than
ground_tol fails) and the largest excess of a hinge past its range (more than limit_tol radians fails),
naming the frame and the joint, and exits 1 when a check fails.
"""
import argparse
import sys

import torch

from mimickit.anim.kin_char_model import GeomShapes, KinCharModel, split_frames
from mimickit.anim.motion import load_motion


def _split(char, frames):
    return split_frames(torch.as_tensor(frames, dtype=torch.float64, device=char.device))


def pose_lowest_points(char, root_pos, root_rot, dof, shapes=None):
    """Poses (root_pos [T, 3], root_rot [T, 4] xyzw, dof [T, num_dofs]) -> [T] the height of the lowest
    point of any geom, per pose (m). shapes: the character's GeomShapes, if already built."""
    body_pos, body_rot = char.forward_kinematics(root_pos, root_rot, dof)
    return (shapes or GeomShapes(char)).min_heights(body_pos, body_rot).min(dim=-1).values


def lowest_points(char, frames):
    """frames [T, frame_size] (clip frames) -> [T] the height of the lowest point of any geom (m)."""
    return pose_lowest_points(char, *_split(char, frames))


def limit_excess(char, frames):
    """frames [T, frame_size] -> [T, D] how far each hinge (in MuJoCo's joint coordinates, the order of
    char.sim_dof_names()) is past its range, in radians (negative: inside it)."""
    hinge_angles = char.dof_to_sim(_split(char, frames)[2])  # [T, D]
    m = char.mjcf_model
    ids = [m.body_jntadr[j.body_id + 1] + k for j in char.movable_joints for k in range(len(j.qvel_adr))]
    ranges = torch.tensor(m.jnt_range[ids], dtype=torch.float64, device=char.device)  # [D, 2]
    return torch.maximum(ranges[:, 0] - hinge_angles, hinge_angles - ranges[:, 1])


def check_clip(char, frames, ground_tol=0.05, limit_tol=0.05):
    """-> (lines describing the clip, whether both checks pass)."""
    low = lowest_points(char, frames)
    excess = limit_excess(char, frames)
    worst = int(excess.max(dim=0).values.argmax())
    frame = int(excess[:, worst].argmax())
    lines = ["lowest point %.3f m (frame %d)" % (float(low.min()), int(low.argmin())),
             "largest joint limit excess %.3f rad (%s, frame %d)" % (float(excess.max()), char.sim_dof_names()[worst],
                                                                      frame)]
    ok = abs(float(low.min())) <= ground_tol and float(excess.max()) <= limit_tol
    return lines, ok


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("char_file")
    p.add_argument("clip")
    p.add_argument("--ground_tol", type=float, default=0.05, help="m the lowest point may be off the ground")
    p.add_argument("--limit_tol", type=float, default=0.05, help="rad a hinge may be past its range")
    args = p.parse_args(argv)
    char = KinCharModel(args.char_file)
    motion = load_motion(args.clip)
    motion.check_char(char)
    lines, ok = check_clip(char, motion.frames, args.ground_tol, args.limit_tol)
    print("%s: %s: %s" % (args.clip, "ok" if ok else "FAILED", "; ".join(lines)))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
