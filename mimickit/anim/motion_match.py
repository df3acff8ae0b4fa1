"""How much recorded motion looks like a dataset: the distance of every frame to its nearest dataset frame.

    python -m mimickit.anim.motion_match out/rollouts/dataset.yaml data/datasets/dataset_humanoid_upright.yaml

A pose is compared by its joints' local rotations only (not where the character is or which way it
faces): the distance between two poses is the mean over the movable joints of the angle of the
rotation that takes one joint rotation to the other, in degrees. For each recorded frame the nearest
dataset frame is found, and the mean of those nearest distances is printed next to the same figure
for the dataset itself, each clip's frames against the frames of the *other* clips (leave one clip
out): recorded motion as close to the dataset as its clips are to one another scores the same.
"""
import argparse
import math
import sys

import torch

from mimickit.anim.clip_stats import DEFAULT_CHAR, clip_files


def joint_rotations(motion, char_model):
    """A clip (anim.motion.Motion) -> local rotations [T, J, 4] (xyzw) of its movable joints."""
    dof = torch.as_tensor(motion.frames, dtype=torch.float32)[:, 6:]
    local = char_model.dof_to_local_rot(dof)  # [T, B, 4]
    ids = [j.body_id for j in char_model.movable_joints]
    return local[:, ids]


def nearest_pose_distance(query, pool, chunk=2048):
    """query [Q, J, 4], pool [P, J, 4] unit quaternions -> [Q] degrees: for each query pose, the mean
    joint rotation angle to the pool pose with the smallest such mean."""
    out = []
    for q in query.split(chunk):
        # |<q_j, p_j>| per joint: the cosine of half the relative rotation's angle (either sign of p)
        dots = torch.einsum("qjc,pjc->qpj", q, pool).abs().clamp(max=1.0)
        angles = 2.0 * torch.acos(dots)  # [q, P, J] rad
        out.append(angles.mean(-1).min(dim=1).values)
    return torch.rad2deg(torch.cat(out)) if out else torch.zeros(0)


def match_to_dataset(recorded, dataset):
    """recorded, dataset: lists of [T_i, J, 4] joint rotations -> {recorded_deg, dataset_deg, frames}:
    the mean nearest distance of the recorded frames to the dataset's, and of each dataset clip's
    frames to the other clips' (leave one out)."""
    pool = torch.cat(dataset)
    rec = torch.cat(recorded) if recorded else torch.zeros(0, pool.shape[1], 4)
    rec_d = nearest_pose_distance(rec, pool)
    own = []
    for i, clip in enumerate(dataset):
        others = torch.cat([c for k, c in enumerate(dataset) if k != i])
        own.append(nearest_pose_distance(clip, others))
    own = torch.cat(own)
    return {"recorded_deg": float(rec_d.mean()) if len(rec_d) else math.nan,
            "dataset_deg": float(own.mean()), "frames": int(rec.shape[0])}


def load_rotations(path, char_model):
    from mimickit.anim.motion import load_motion
    rots = []
    for f in clip_files(path):
        m = load_motion(f)
        m.check_char(char_model)
        rots.append(joint_rotations(m, char_model))
    return rots


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("recorded", help="a clip or dataset YAML of recorded motion (e.g. --record_motion's dataset.yaml)")
    p.add_argument("dataset", help="the dataset YAML (or clip) to compare with")
    p.add_argument("--char_file", default=DEFAULT_CHAR)
    args = p.parse_args(argv)
    from mimickit.anim.kin_char_model import KinCharModel
    km = KinCharModel(args.char_file)
    result = match_to_dataset(load_rotations(args.recorded, km), load_rotations(args.dataset, km))
    print("frames=%d recorded_nearest_deg=%.2f dataset_leave_one_out_deg=%.2f"
          % (result["frames"], result["recorded_deg"], result["dataset_deg"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
