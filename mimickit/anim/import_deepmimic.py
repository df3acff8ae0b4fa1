"""Import DeepMimic humanoid3d clips into the MimicKit motion format.

DeepMimic clips are JSON: ``{"Loop": "wrap"|"none", "Frames": [[duration, root pos (3), root quat
(w, x, y, z), joint quats or angles ...], ...]}`` in a y-up frame whose x points forward and z to the
character's right. Our humanoid has the same rest pose (standing, arms down) in a z-up frame with y
to the left, so the import is one fixed change of frame R (a +90 degree turn about x: y -> z, z -> -y)
applied to positions (p' = R p) and to every rotation (q' = R q R^-1). Hinge angles keep their value
up to the sign given by the hinge axis: angle' = angle * dot(R z_dm, axis).

Usage: python -m mimickit.anim.import_deepmimic IN.txt OUT.pkl [--char_file FILE]
"""
import argparse
import json
import logging
import math
import os
import re

import torch

from mimickit.anim.clip_checks import pose_lowest_points
from mimickit.anim.kin_char_model import JointType, KinCharModel
from mimickit.anim.motion import LoopMode, Motion, MotionFormatError
from mimickit.util import rotations as rot

log = logging.getLogger(__name__)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_CHAR_FILE = os.path.join(REPO_ROOT, "data", "assets", "humanoid", "humanoid.xml")

# DeepMimic humanoid3d frame layout after duration, root pos and root quat: (source joint, width, our joint)
DM_JOINTS = [
    ("chest", 4, "abdomen"), ("neck", 4, "neck"),
    ("right_hip", 4, "right_hip"), ("right_knee", 1, "right_knee"), ("right_ankle", 4, "right_ankle"),
    ("right_shoulder", 4, "right_shoulder"), ("right_elbow", 1, "right_elbow"),
    ("left_hip", 4, "left_hip"), ("left_knee", 1, "left_knee"), ("left_ankle", 4, "left_ankle"),
    ("left_shoulder", 4, "left_shoulder"), ("left_elbow", 1, "left_elbow"),
]
DM_FRAME_SIZE = 1 + 3 + 4 + sum(w for _, w, _ in DM_JOINTS)  # 44
DM_HINGE_AXIS = (0.0, 0.0, 1.0)  # humanoid3d's knees and elbows turn about its z axis

CLIPS = ["walk", "run", "spinkick", "backflip", "cartwheel", "crawl", "dance_a", "dance_b",
         "getup_faceup", "getup_facedown", "jump", "kick", "punch", "roll", "spin"]

# y-up (x fwd, z right) -> z-up (x fwd, y left): +90 degrees about x, as a quaternion (xyzw)
_FRAME_QUAT = (math.sin(math.pi / 4), 0.0, 0.0, math.cos(math.pi / 4))

# A clip must rest on the ground: no geom deeper than 3 cm at any frame and its lowest point over
# the clip within 5 cm of z = 0. Clips outside these bounds (with a small margin) are shifted
# vertically so that their lowest point over the clip touches z = 0.
MAX_SINK = 0.025
MAX_FLOAT = 0.045


def _change_frame_quat(q_wxyz):
    """[N, 4] DeepMimic wxyz quats -> [N, 4] xyzw quats in our frame (R q R^-1)."""
    q = q_wxyz[:, [1, 2, 3, 0]]
    r = q.new_tensor(_FRAME_QUAT).expand_as(q)
    return rot.quat_normalize(rot.quat_mul(rot.quat_mul(r, q), rot.quat_conjugate(r)))


def _change_frame_vec(v):
    """[N, 3] y-up vectors -> z-up: (x, y, z) -> (x, -z, y)."""
    return torch.stack([v[:, 0], -v[:, 2], v[:, 1]], dim=-1)


def read_deepmimic(path):
    """-> (loop_mode, fps, frames [N, 44] float64 tensor) with checks naming the field."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise MotionFormatError("%s: not a DeepMimic JSON clip (%s)" % (path, e)) from e
    if not isinstance(data, dict) or "Frames" not in data:
        raise MotionFormatError("%s: missing field 'Frames'; expected {'Loop': ..., 'Frames': [[...], ...]}"
                                % path)
    loop = str(data.get("Loop", "none")).lower()
    if loop not in ("wrap", "none", "clamp"):
        raise MotionFormatError("%s: field 'Loop' is %r; expected 'wrap' or 'none'" % (path, data.get("Loop")))
    frames = torch.tensor(data["Frames"], dtype=torch.float64)
    if frames.ndim != 2 or frames.shape[1] != DM_FRAME_SIZE or frames.shape[0] < 1:
        raise MotionFormatError("%s: field 'Frames' has shape %s; expected [num_frames, %d] for a humanoid3d clip"
                                % (path, tuple(frames.shape), DM_FRAME_SIZE))
    dur = frames[0, 0].item()
    if not dur > 0:
        raise MotionFormatError("%s: frame duration (column 0) is %r; expected > 0" % (path, dur))
    fps = 1.0 / dur
    if abs(fps - round(fps)) < 1e-3 * fps:
        fps = float(round(fps))  # the source writes truncated durations such as 0.016666
    return (LoopMode.WRAP if loop == "wrap" else LoopMode.CLAMP), fps, frames


def convert_frames(dm_frames, char_model):
    """DeepMimic frames [N, 44] -> (root_pos [N, 3], root_rot [N, 4], dof [N, num_dofs]) in our frame."""
    n = dm_frames.shape[0]
    root_pos = _change_frame_vec(dm_frames[:, 1:4])
    root_rot = _change_frame_quat(dm_frames[:, 4:8])
    dof = dm_frames.new_zeros(n, char_model.num_dofs)
    by_name = {j.name: j for j in char_model.joints}
    frame_vec = torch.tensor([DM_HINGE_AXIS], dtype=torch.float64)
    col = 8
    for src, width, dst in DM_JOINTS:
        joint = by_name.get(dst)
        if joint is None:
            raise ValueError("%s: the character has no joint '%s' (needed for DeepMimic's %s)"
                             % (char_model.file, dst, src))
        vals = dm_frames[:, col:col + width]
        if width == 4:
            if joint.type != JointType.SPHERE:
                raise ValueError("%s: joint '%s' must have 3 DoFs" % (char_model.file, dst))
            dof[:, joint.dof_offset:joint.dof_offset + 3] = rot.quat_to_exp_map(_change_frame_quat(vals))
        else:
            if joint.type != JointType.HINGE:
                raise ValueError("%s: joint '%s' must be a hinge" % (char_model.file, dst))
            sign = float((_change_frame_vec(frame_vec)[0] * joint.hinge_axes[0].double()).sum())
            if abs(abs(sign) - 1.0) > 1e-6:
                raise ValueError("%s: hinge '%s' axis %s is not parallel to the source hinge axis"
                                 % (char_model.file, dst, joint.hinge_axes[0].tolist()))
            dof[:, joint.dof_offset] = vals[:, 0] * sign
        col += width
    return root_pos, root_rot, dof


def clip_min_heights(char_model, root_pos, root_rot, dof, shapes=None):
    """Lowest geom point of each frame [N] (metres above z = 0)."""
    return pose_lowest_points(char_model, root_pos.float(), root_rot.float(), dof.float(), shapes)


def import_clip(in_path, char_model=None, fix_ground=True):
    """Convert one DeepMimic clip to a Motion. With fix_ground, a clip that sinks (lowest point over
    the clip below -MAX_SINK) or floats (above MAX_FLOAT) is shifted vertically so its lowest point
    touches z = 0; the shift in metres is the second value (0.0 if untouched)."""
    char_model = char_model or KinCharModel(DEFAULT_CHAR_FILE)
    loop_mode, fps, dm_frames = read_deepmimic(in_path)
    root_pos, root_rot, dof = convert_frames(dm_frames, char_model)
    shift = 0.0
    if fix_ground:
        lowest = clip_min_heights(char_model, root_pos, root_rot, dof).min().item()
        if lowest < -MAX_SINK or lowest > MAX_FLOAT:
            shift = -lowest
            root_pos[:, 2] += shift
    frames = torch.cat([root_pos, rot.quat_to_exp_map(root_rot), dof], dim=-1)
    return Motion(loop_mode.value, fps, frames.float().numpy(), path=str(in_path)), shift


# ---------------- the shipped clips, imported on first use ----------------

def deepmimic_motion_dir():
    """Folder of pybullet's DeepMimic clips; pybullet is used only as this data source."""
    try:
        import pybullet_data
    except ImportError as e:
        raise FileNotFoundError("the DeepMimic clips come from the 'pybullet' package (pybullet_data); "
                                "install it with: pip install pybullet") from e
    return os.path.join(pybullet_data.getDataPath(), "data", "motions")


_GENERATED = re.compile(r"^humanoid_(?P<clip>[a-z_]+)\.pkl$")


def ensure_motion_file(path):
    """Return path, importing it first if it is one of our generated DeepMimic clips
    (``.../humanoid_<clip>.pkl``) that does not exist yet."""
    path = str(path)
    if os.path.isfile(path):
        return path
    match = _GENERATED.match(os.path.basename(path))
    if match is None or match.group("clip") not in CLIPS:
        raise FileNotFoundError("motion file not found: %s" % path)
    clip = match.group("clip")
    src = os.path.join(deepmimic_motion_dir(), "humanoid3d_%s.txt" % clip)
    if not os.path.isfile(src):
        raise FileNotFoundError("motion file not found: %s (and its source %s is missing)" % (path, src))
    motion, shift = import_clip(src)
    motion.save(path)
    note = " (raised by %.3f m to rest on the ground)" % shift if shift > 0 else \
        (" (lowered by %.3f m to rest on the ground)" % -shift if shift < 0 else "")
    log.warning("imported DeepMimic clip %s -> %s%s", src, path, note)
    return path


def import_all(out_dir=None):
    """Import all 15 shipped clips (skipping existing files); returns their paths."""
    out_dir = out_dir or os.path.join(REPO_ROOT, "data", "motions", "humanoid")
    return [ensure_motion_file(os.path.join(out_dir, "humanoid_%s.pkl" % c)) for c in CLIPS]


def main(argv=None):
    parser = argparse.ArgumentParser(description="Convert a DeepMimic humanoid3d clip to a MimicKit motion file.")
    parser.add_argument("in_file", help="DeepMimic clip (.txt JSON)")
    parser.add_argument("out_file", help="output motion (.pkl)")
    parser.add_argument("--char_file", default=DEFAULT_CHAR_FILE, help="character MJCF")
    parser.add_argument("--no_fix_ground", action="store_true", help="keep the source clip's heights")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    motion, shift = import_clip(args.in_file, KinCharModel(args.char_file), fix_ground=not args.no_fix_ground)
    motion.save(args.out_file)
    print("wrote %s: %d frames at %.1f fps, %s, %.2f s%s" % (
        args.out_file, motion.num_frames, motion.fps, motion.loop_mode.name.lower(), motion.length,
        ", shifted %+.3f m vertically to rest on the ground" % shift if shift else ""))


if __name__ == "__main__":
    main()
