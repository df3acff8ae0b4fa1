"""Clips between characters that differ only in their rest pose or hinge order.

    python -m mimickit.anim.retarget_rest SRC.xml DST.xml IN.pkl OUT.pkl

Two characters with the same bodies, joint names and tree may still disagree on what a joint angle
means: one rests in a T-pose, the other with its arms down; one writes a shoulder as hinges in x, z, y
order, the other in x, y, z. A clip of one then poses the other wrongly. This converts IN (a clip of
SRC) into OUT (a clip of DST) that puts every body in the same world orientation, frame by frame:

    W_b = W_parent(b) * R_b * L_b     (world = parent's world * rest rotation * joint rotation)
    L'_b = (W_parent(b) * R'_b)^-1 * W_b

with R, R' the two characters' rest rotations of body b, and L' written in DST's DoF layout (exp maps
for three-DoF joints whatever their hinge order, the angle about the axis for one-DoF hinges). The root's
position and rotation are kept. Trees that differ stop with one line naming the first difference.
"""
import argparse
import math
import sys

import torch

from mimickit.anim.kin_char_model import JointType, KinCharModel, split_frames
from mimickit.anim.motion import Motion, load_motion
from mimickit.util import rotations as rot


def check_same_tree(src, dst):
    """Raise ValueError naming the first body, parent or joint where the two characters differ."""
    if src.num_bodies != dst.num_bodies:
        raise ValueError("%s has %d bodies, %s has %d" % (src.file, src.num_bodies, dst.file, dst.num_bodies))
    for b in range(src.num_bodies):
        name = src.body_names[b]
        if dst.body_names[b] != name:
            raise ValueError("body %d is '%s' in %s but '%s' in %s" % (b, name, src.file, dst.body_names[b], dst.file))
        ps, pd = src.parent_indices[b], dst.parent_indices[b]
        if ps != pd:
            parent = lambda m, p: m.body_names[p] if p >= 0 else "the world"
            raise ValueError("body '%s' hangs from '%s' in %s but from '%s' in %s"
                             % (name, parent(src, ps), src.file, parent(dst, pd), dst.file))
        js, jd = src.joints[b], dst.joints[b]
        if js.type != jd.type or (b > 0 and js.type != JointType.FIXED and js.name != jd.name):
            describe = lambda j: "%s '%s'" % (j.type.name.lower(), j.name)
            raise ValueError("body '%s' has joint %s in %s but %s in %s"
                             % (name, describe(js), src.file, describe(jd), dst.file))


def world_rotations(char, frames):
    """Clip frames [T, frame_size] of char -> every body's world rotation [T, B, 4] (xyzw), in float64."""
    return char.forward_kinematics(*split_frames(torch.as_tensor(frames, dtype=torch.float64)))[1]


def retarget_frames(src, dst, frames):
    """frames [T, src.frame_size] (clip frames of src) -> [T, dst.frame_size] of dst, every body in the
    same world orientation. src, dst: KinCharModel of the same tree."""
    check_same_tree(src, dst)
    frames = torch.as_tensor(frames, dtype=torch.float64)
    world = world_rotations(src, frames)  # [T, B, 4]
    parents = torch.tensor([max(p, 0) for p in dst.parent_indices])
    rest = dst.body_rest_rots.to(torch.float64)  # [B, 4]
    frame_rot = rot.quat_mul(world[:, parents], rest.expand_as(world))  # [T, B, 4]: parent * rest
    local = rot.quat_mul(rot.quat_conjugate(frame_rot), world)
    local[:, 0] = torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=local.dtype)  # the root: its free joint is root_rot
    dof = dst.local_rot_to_dof(local)
    return torch.cat([frames[:, :6], dof], dim=-1)


def orientation_error_deg(char, frames, reference_world):
    """The largest angle (degrees) between char's body orientations in frames and reference_world [T, B, 4]."""
    world = world_rotations(char, frames)
    diff = rot.quat_mul(rot.quat_conjugate(rot.quat_normalize(reference_world)), rot.quat_normalize(world))
    # the relative rotation's angle, by atan2 (acos near 1 would turn round-off of 1e-8 into 0.02 deg)
    angle = 2.0 * torch.atan2(diff[..., :3].norm(dim=-1), diff[..., 3].abs())
    return math.degrees(float(angle.max()))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("src", help="MJCF of the character the clip was made for")
    p.add_argument("dst", help="MJCF of the character to convert it to")
    p.add_argument("clip_in")
    p.add_argument("clip_out")
    args = p.parse_args(argv)
    src, dst = KinCharModel(args.src), KinCharModel(args.dst)
    motion = load_motion(args.clip_in)
    motion.check_char(src)
    try:
        out = retarget_frames(src, dst, motion.frames)
    except ValueError as e:
        print("retarget_rest: %s" % e, file=sys.stderr)
        return 1
    err = orientation_error_deg(dst, out, world_rotations(src, motion.frames))
    Motion(motion.loop_mode, motion.fps, out.numpy(), path=args.clip_out).save(args.clip_out)
    print("%s -> %s: %d frames; body orientations kept within %.2g deg" % (args.clip_in, args.clip_out,
                                                                           motion.num_frames, err))
    return 0


if __name__ == "__main__":
    sys.exit(main())
