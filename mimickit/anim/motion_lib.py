"""A library of motion clips on one device, for batched reference-pose lookups.

All clips are flattened into one frame tensor (``[total_frames, ...]``) with per-clip start offsets,
so a lookup for thousands of environments is pure tensor indexing. Velocities are precomputed per
frame by finite differences and interpolated like positions.

Velocity conventions:
- ``root_vel`` and ``root_ang_vel`` are in the world frame;
- ``dof_vel`` of a 3-DoF joint is the joint's angular velocity in its own (child) frame, from
  ``conj(q0) * q1`` of consecutive local rotations (MuJoCo's convention for ball joints); of a hinge,
  the angle rate.
"""
import math
import os
from typing import NamedTuple

import numpy as np
import torch
import yaml

from mimickit.anim.kin_char_model import JointType
from mimickit.anim.motion import LoopMode, load_motion
from mimickit.util import rotations as rot
from mimickit.util.indexing import take

_DATASET_KEYS = ("file", "weight")


class MotionFrame(NamedTuple):
    root_pos: torch.Tensor  # [n, 3]
    root_rot: torch.Tensor  # [n, 4] xyzw
    root_vel: torch.Tensor  # [n, 3] world
    root_ang_vel: torch.Tensor  # [n, 3] world
    joint_rot: torch.Tensor  # [n, B, 4] local (parent frame), identity for root/fixed bodies
    dof: torch.Tensor  # [n, num_dofs]
    dof_vel: torch.Tensor  # [n, num_dofs]
    body_pos: torch.Tensor  # [n, B, 3] world
    body_rot: torch.Tensor  # [n, B, 4] world


def _ensure_motion_file(path):
    """The importer generates our DeepMimic clips on first use; without it, only existing files load."""
    try:
        from mimickit.anim.import_deepmimic import ensure_motion_file
    except ImportError as e:
        if e.name != "mimickit.anim.import_deepmimic":
            raise
        if not os.path.isfile(path):
            raise FileNotFoundError("motion file not found: %s" % path) from None
        return path
    return ensure_motion_file(path)


def _parse_weight(value, where):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError("%s: field 'weight' is %r; expected a non-negative number" % (where, value))
    if not math.isfinite(value) or value < 0:
        raise ValueError("%s: field 'weight' is %r; expected a finite non-negative number" % (where, value))
    return float(value)


def read_dataset(path):
    """Dataset YAML -> list of (clip path as written, weight, description for error messages)."""
    if not os.path.isfile(path):
        raise FileNotFoundError("motion dataset file not found: %s" % path)
    with open(path, "r") as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ValueError("%s: not valid YAML (%s)" % (path, e)) from e
    if not isinstance(data, dict) or "motions" not in data:
        raise ValueError("%s: missing field 'motions'; a dataset is 'motions: [{file: path, weight: w}, ...]'"
                         % path)
    motions = data["motions"]
    if not isinstance(motions, list) or not motions:
        raise ValueError("%s: field 'motions' must be a non-empty list of {file, weight} entries; found %r"
                         % (path, motions))
    entries = []
    for i, entry in enumerate(motions):
        where = "%s: motions[%d]" % (path, i)
        if not isinstance(entry, dict) or "file" not in entry:
            raise ValueError("%s: missing field 'file'; each entry is {file: path, weight: w}" % where)
        unknown = sorted(str(k) for k in entry if k not in _DATASET_KEYS)
        if unknown:
            raise ValueError("%s: unknown field(s) %s; allowed fields are %s"
                             % (where, ", ".join(unknown), ", ".join(_DATASET_KEYS)))
        if not isinstance(entry["file"], str) or not entry["file"]:
            raise ValueError("%s: field 'file' is %r; expected a path" % (where, entry["file"]))
        entries.append((entry["file"], _parse_weight(entry.get("weight", 1.0), where), where))
    if sum(w for _, w, _ in entries) <= 0:
        raise ValueError("%s: all motion weights are zero; at least one clip needs a positive weight" % path)
    return entries


def _resolve_clip(file, dataset_dir, where):
    """Relative paths: the working directory first, then the dataset's own directory."""
    if os.path.isabs(file):
        candidates = [file]
    else:
        candidates = [file, os.path.join(dataset_dir, file)]
    for c in candidates:  # an existing file wins before anything is generated
        if os.path.isfile(c):
            return _ensure_motion_file(c)
    errors = []
    for c in candidates:
        try:
            return _ensure_motion_file(c)
        except FileNotFoundError as e:
            errors.append(str(e))
    raise FileNotFoundError("%s: field 'file' %r: %s" % (where, file, "; ".join(errors)))


class MotionLib:
    def __init__(self, motion_file, char_model, device="cpu"):
        self.char_model = char_model
        self.device = torch.device(device)
        motion_file = str(motion_file)
        if motion_file.endswith((".yaml", ".yml")):
            entries = read_dataset(motion_file)
            ddir = os.path.dirname(os.path.abspath(motion_file))
            clips = [(_resolve_clip(f, ddir, where), w) for f, w, where in entries]
        else:
            clips = [(_ensure_motion_file(motion_file), 1.0)]
        self.motions = []
        for path, _ in clips:
            m = load_motion(path)
            m.check_char(char_model)
            self.motions.append(m)
        self.motion_files = [p for p, _ in clips]
        weights = torch.tensor([w for _, w in clips], dtype=torch.float32)
        self._weights = (weights / weights.sum()).to(self.device)
        # cumulative weights for inverse-CDF sampling; the last is exactly 1 so every draw lands
        self._cum_weights = torch.cumsum(self._weights, 0)
        self._cum_weights[-1] = 1.0
        self._build_joint_index()
        self._build_tensors()

    # ---------------- precomputation ----------------
    def _build_joint_index(self):
        sph = [j for j in self.char_model.movable_joints if j.type == JointType.SPHERE]
        hinge = [j for j in self.char_model.movable_joints if j.type == JointType.HINGE]
        dev = self.device
        self._sphere_bodies = torch.tensor([j.body_id for j in sph], dtype=torch.long, device=dev)
        self._sphere_cols = torch.tensor([list(range(j.dof_offset, j.dof_offset + 3)) for j in sph],
                                         dtype=torch.long, device=dev).reshape(-1, 3)  # [S, 3]
        self._hinge_cols = torch.tensor([j.dof_offset for j in hinge], dtype=torch.long, device=dev)  # [H]

    def _build_tensors(self):
        dev = self.device
        num_frames = [m.num_frames for m in self.motions]
        frames = torch.from_numpy(np.concatenate([m.frames for m in self.motions])).to(dev)  # [N, 6+D]
        self._num_frames = torch.tensor(num_frames, dtype=torch.long, device=dev)  # [M]
        self._start = torch.cumsum(self._num_frames, 0) - self._num_frames  # [M]
        self._fps = torch.tensor([m.fps for m in self.motions], dtype=torch.float32, device=dev)
        self._length = (self._num_frames - 1).float() / self._fps  # [M] seconds
        self._loop = torch.tensor([m.loop_mode.value for m in self.motions], dtype=torch.long, device=dev)

        self._root_pos = frames[:, 0:3]
        self._root_rot = rot.exp_map_to_quat(frames[:, 3:6])  # [N, 4]
        self._dof = frames[:, 6:]  # [N, D]
        self._joint_rot = self.char_model.dof_to_local_rot(self._dof)  # [N, B, 4]

        # per-clip root displacement of one cycle in the ground plane (WRAP clips keep moving)
        last = self._start + self._num_frames - 1
        self._cycle_disp = self._root_pos[last] - self._root_pos[self._start]  # [M, 3]
        self._cycle_disp[:, 2] = 0.0

        # finite-difference pairs (i0 -> i1) per frame: forward difference, backward on a clip's
        # last frame (it reuses the previous frame's velocity), none on single-frame clips
        clip_of = torch.repeat_interleave(torch.arange(len(self.motions), device=dev), self._num_frames)
        i0 = torch.arange(frames.shape[0], device=dev)
        is_last = i0 == last[clip_of]
        i0 = torch.where(is_last & (self._num_frames[clip_of] > 1), i0 - 1, i0)
        i1 = torch.where(is_last, i0 + (self._num_frames[clip_of] > 1).long(), i0 + 1)
        # single-frame clips: exactly zero velocity rather than round-off of q * conj(q)
        fps = (self._fps * (self._num_frames > 1).float())[clip_of].unsqueeze(-1)  # [N, 1]
        self._root_vel = (self._root_pos[i1] - self._root_pos[i0]) * fps
        dq = rot.quat_mul(self._root_rot[i1], rot.quat_conjugate(self._root_rot[i0]))
        self._root_ang_vel = rot.quat_to_exp_map(dq) * fps  # world frame
        self._dof_vel = torch.zeros_like(self._dof)
        if len(self._sphere_bodies) > 0:
            j0 = self._joint_rot[i0][:, self._sphere_bodies]
            j1 = self._joint_rot[i1][:, self._sphere_bodies]
            local_w = rot.quat_to_exp_map(rot.quat_mul(rot.quat_conjugate(j0), j1)) * fps.unsqueeze(-1)
            self._dof_vel[:, self._sphere_cols] = local_w  # [N, S, 3]
        if len(self._hinge_cols) > 0:
            h = self._dof[:, self._hinge_cols]
            self._dof_vel[:, self._hinge_cols] = rot.wrap_to_pi(h[i1] - h[i0]) * fps
        # everything that is linearly interpolated, packed so a lookup gathers once: [N, 9 + D]
        self._lerp_data = torch.cat([self._root_pos, self._root_vel, self._root_ang_vel, self._dof_vel], -1)
        # root and joint rotations packed the same way, slerped together: [N, 1 + B, 4]
        self._rots = torch.cat([self._root_rot.unsqueeze(1), self._joint_rot], 1)
        self._hinge_dof = self._dof[:, self._hinge_cols]  # [N, H]

    # ---------------- clip info ----------------
    def num_motions(self):
        return len(self.motions)

    def _ids(self, motion_ids):
        return torch.as_tensor(motion_ids, dtype=torch.long, device=self.device)

    def get_motion_length(self, motion_ids):
        """-> [n] seconds from first to last frame (0 for a single-frame clip)."""
        return self._length[self._ids(motion_ids)]

    def get_motion_loop_mode(self, motion_ids):
        """-> [n] long tensor of LoopMode values (0 clamp, 1 wrap)."""
        return self._loop[self._ids(motion_ids)]

    def get_motion_fps(self, motion_id):
        return self.motions[int(motion_id)].fps

    def get_motion_num_frames(self, motion_ids):
        return self._num_frames[self._ids(motion_ids)]

    def get_motion_weights(self):
        """-> [M] sampling probabilities (weights normalized to sum 1)."""
        return self._weights.clone()

    # ---------------- sampling ----------------
    def sample_motions(self, n):
        """-> [n] clip ids drawn by weight, with replacement (inverse CDF of a uniform draw: fixed
        shapes and no host round trip, so it also runs inside a compiled or captured GPU step)."""
        u = torch.rand(n, device=self.device)
        return torch.searchsorted(self._cum_weights, u, right=True).clamp_max(len(self._weights) - 1)

    def sample_time(self, motion_ids, truncate_time=None):
        """-> [n] times uniform over [0, length - truncate_time] (0 where that is negative)."""
        length = self.get_motion_length(motion_ids)
        if truncate_time is not None:
            length = (length - truncate_time).clamp_min(0.0)
        return torch.rand(length.shape, device=self.device) * length

    # ---------------- lookups ----------------
    def _frame_pair(self, ids, times):
        """-> global frame indices f0, f1 [n], blend [n] in [0, 1], completed WRAP cycles [n]."""
        length = take(self._length, 0, ids)
        wrap = (take(self._loop, 0, ids) == LoopMode.WRAP.value) & (length > 0)
        cycles = torch.where(wrap, torch.floor(times / length.clamp_min(1e-9)), torch.zeros_like(times))
        t = torch.minimum((times - cycles * length).clamp_min(0.0), length)  # also CLAMP's clamp
        f = t * take(self._fps, 0, ids)
        n_last = take(self._num_frames, 0, ids) - 1
        f0 = torch.minimum(f.floor().long(), n_last)
        f1 = torch.minimum(f0 + 1, n_last)
        blend = (f - f0.float()).clamp(0.0, 1.0)
        start = take(self._start, 0, ids)
        return start + f0, start + f1, blend, cycles

    def calc_motion_frame(self, motion_ids, motion_times, with_body=True):
        """motion_ids [n], motion_times [n] seconds -> MotionFrame of the interpolated pose.

        Any batch shape works (e.g. [n, k] for k future frames per env); outputs take that shape.
        motion_ids broadcasts against motion_times (e.g. ids [n, 1] with times [n, k]).
        with_body=False skips forward kinematics: body_pos and body_rot are then None.
        """
        ids = self._ids(motion_ids)
        times = torch.as_tensor(motion_times, dtype=torch.float32, device=self.device)
        f0, f1, blend, cycles = self._frame_pair(ids, times)
        b = blend.unsqueeze(-1)  # [n, 1]
        x0 = take(self._lerp_data, 0, f0)
        lin = x0 + b * (take(self._lerp_data, 0, f1) - x0)
        root_pos, root_vel, root_ang_vel, dof_vel = lin[..., 0:3], lin[..., 3:6], lin[..., 6:9], lin[..., 9:]

        root_pos = root_pos + cycles.unsqueeze(-1) * take(self._cycle_disp, 0, ids)
        rots = rot.quat_slerp(take(self._rots, 0, f0), take(self._rots, 0, f1), b.unsqueeze(-1))  # [n, 1 + B, 4]
        root_rot, joint_rot = rots[..., 0, :], rots[..., 1:, :]
        # hinges: interpolate the angle itself so values outside [-pi, pi] survive
        h0 = take(self._hinge_dof, 0, f0)
        hinge = h0 + b * rot.wrap_to_pi(take(self._hinge_dof, 0, f1) - h0)
        dof = self.char_model.local_rot_to_dof(joint_rot, hinge_angles=hinge)
        body_pos = body_rot = None
        if with_body:
            body_pos, body_rot = self.char_model.forward_kinematics(root_pos, root_rot, dof)
        return MotionFrame(root_pos=root_pos, root_rot=root_rot, root_vel=root_vel, root_ang_vel=root_ang_vel,
                           joint_rot=joint_rot, dof=dof, dof_vel=dof_vel, body_pos=body_pos, body_rot=body_rot)

    def calc_body_vel(self, motion_ids, motion_times, dt=None):
        """-> body linear velocity [n, B, 3] and angular velocity [n, B, 3], world frame.

        Forward difference of FK over dt (default one frame of each clip). On CLAMP clips the pair
        is moved back so it stays inside the clip, otherwise the clamp would read zero near the end.
        """
        ids = self._ids(motion_ids)
        t0 = torch.as_tensor(motion_times, dtype=torch.float32, device=self.device)
        if dt is None:
            dt = 1.0 / self._fps[ids]
        dt = torch.as_tensor(dt, dtype=torch.float32, device=self.device).expand_as(t0)
        length = self._length[ids]
        clamp = self._loop[ids] == LoopMode.CLAMP.value
        t0 = torch.where(clamp, torch.minimum(t0, length - dt).clamp_min(0.0), t0)
        fr0 = self.calc_motion_frame(ids, t0)
        fr1 = self.calc_motion_frame(ids, t0 + dt)
        inv_dt = (1.0 / dt)[..., None, None]
        lin = (fr1.body_pos - fr0.body_pos) * inv_dt
        dq = rot.quat_mul(fr1.body_rot, rot.quat_conjugate(fr0.body_rot))
        ang = rot.quat_to_exp_map(dq) * inv_dt
        return lin, ang

    def get_clip_poses(self, motion_id):
        """-> body_pos [T, B, 3], body_rot [T, B, 4] (world) at the clip's own frames."""
        i = int(motion_id)
        s = int(self._start[i])
        sl = slice(s, s + int(self._num_frames[i]))
        return self.char_model.forward_kinematics(self._root_pos[sl], self._root_rot[sl], self._dof[sl])
