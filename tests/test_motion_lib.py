"""MotionLib: datasets, interpolation, loop modes, velocities and sampling on synthetic humanoid clips."""
import math
import os
import sys
import types

import numpy as np
import pytest
import torch

from mimickit.anim.kin_char_model import JointType, KinCharModel
from mimickit.anim.motion import LoopMode, Motion, MotionFormatError
from mimickit.anim.motion_lib import MotionLib, read_dataset
from mimickit.util import rotations as rot

ROOT = os.path.join(os.path.dirname(__file__), "..")
HUMANOID = os.path.join(ROOT, "data", "assets", "humanoid", "humanoid.xml")


@pytest.fixture(scope="module")
def char():
    return KinCharModel(HUMANOID)


def _hinges(char):
    return [j for j in char.movable_joints if j.type == JointType.HINGE]


def _spheres(char):
    return [j for j in char.movable_joints if j.type == JointType.SPHERE]


def make_frames(char, n=10, fps=30.0, vel=(0.0, 0.0, 0.0), yaw_rate=0.0, dof_scale=0.5, seed=0,
                hinge_slope=None):
    """Root at (0.1, -0.2, 0.9) moving at vel, yawing at yaw_rate; random exp-map DoFs of norm < ~0.9."""
    g = torch.Generator().manual_seed(seed)
    t = torch.arange(n, dtype=torch.float64).unsqueeze(-1) / fps
    frames = torch.zeros(n, char.frame_size, dtype=torch.float64)
    frames[:, 0:3] = torch.tensor([0.1, -0.2, 0.9], dtype=torch.float64) + t * torch.tensor(vel, dtype=torch.float64)
    frames[:, 5] = yaw_rate * t[:, 0]
    frames[:, 6:] = dof_scale * (torch.rand(n, char.num_dofs, generator=g, dtype=torch.float64) * 2 - 1)
    if hinge_slope is not None:
        for j in _hinges(char):
            frames[:, 6 + j.dof_offset] = 0.3 + hinge_slope * t[:, 0]
    return frames.float().numpy()


def write_clip(path, frames, fps=30.0, loop=LoopMode.CLAMP):
    Motion(loop, fps, frames, path=str(path)).save(str(path))
    return str(path)


def lib_of(char, tmp_path, frames, fps=30.0, loop=LoopMode.CLAMP, name="clip.pkl"):
    return MotionLib(write_clip(tmp_path / name, frames, fps, loop), char)


def write_yaml(path, text):
    path.write_text(text)
    return str(path)


def angle_between(q0, q1):
    return rot.quat_diff_angle(q0, q1)


def assert_dof_equivalent(char, dof_a, dof_b, atol=1e-4):
    """DoFs equal up to exp-map equivalence: compare 3-DoF joints by rotation angle, hinges directly."""
    for j in _spheres(char):
        sl = char.joint_dof_slice(j)
        ang = angle_between(rot.exp_map_to_quat(dof_a[..., sl]), rot.exp_map_to_quat(dof_b[..., sl]))
        assert float(ang.max()) < atol, j.name
    for j in _hinges(char):
        torch.testing.assert_close(dof_a[..., j.dof_offset], dof_b[..., j.dof_offset], atol=atol, rtol=0)


# ---------------- lookups at and between frames ----------------

def test_frame_times_return_stored_frames(char, tmp_path):
    frames = make_frames(char, n=12, fps=30.0, vel=(1.0, 0.5, 0.1), yaw_rate=1.0, seed=1)
    lib = lib_of(char, tmp_path, frames)
    k = torch.arange(12)
    fr = lib.calc_motion_frame(torch.zeros(12, dtype=torch.long), k.float() / 30.0)
    ref = torch.from_numpy(frames)
    torch.testing.assert_close(fr.root_pos, ref[:, 0:3], atol=1e-5, rtol=0)
    assert float(angle_between(fr.root_rot, rot.exp_map_to_quat(ref[:, 3:6])).max()) < 1e-4
    assert_dof_equivalent(char, fr.dof, ref[:, 6:])
    body_pos, body_rot = char.forward_kinematics(ref[:, 0:3], rot.exp_map_to_quat(ref[:, 3:6]), ref[:, 6:])
    torch.testing.assert_close(fr.body_pos, body_pos, atol=1e-4, rtol=0)
    assert float(angle_between(fr.body_rot, body_rot).max()) < 1e-3
    assert fr.joint_rot.shape == (12, char.num_bodies, 4)
    assert fr.body_pos.shape == (12, char.num_bodies, 3) and fr.dof_vel.shape == (12, char.num_dofs)


@pytest.mark.parametrize("blend", [0.5, 0.25])
def test_between_frames_slerps_joint_rotations(char, tmp_path, blend):
    frames = make_frames(char, n=6, dof_scale=1.2, seed=2)
    lib = lib_of(char, tmp_path, frames)
    ref = torch.from_numpy(frames)
    q = char.dof_to_local_rot(ref[:, 6:])  # [T, B, 4]
    t = (torch.arange(5).float() + blend) / 30.0
    fr = lib.calc_motion_frame(torch.zeros(5, dtype=torch.long), t)
    expected = rot.quat_slerp(q[:-1], q[1:], torch.full((5, char.num_bodies), blend))
    assert float(angle_between(fr.joint_rot, expected).max()) < 1e-4
    # a lerp of exp maps is measurably different, so the check above has teeth
    naive = char.dof_to_local_rot((1 - blend) * ref[:-1, 6:] + blend * ref[1:, 6:])
    assert float(angle_between(naive, expected).max()) > 1e-3
    if blend != 0.5:  # normalized quaternion lerp matches slerp only at the midpoint
        nlerp = rot.quat_normalize((1 - blend) * q[:-1] + blend * q[1:])
        assert float(angle_between(nlerp, expected).max()) > 1e-3
    # the DoFs describe the same rotations, and the root is halfway
    assert float(angle_between(char.dof_to_local_rot(fr.dof), fr.joint_rot).max()) < 1e-4
    torch.testing.assert_close(fr.root_pos, (1 - blend) * ref[:-1, 0:3] + blend * ref[1:, 0:3], atol=1e-5, rtol=0)


def test_constant_root_velocity_and_yaw_rate(char, tmp_path):
    vel, rate = (1.2, -0.4, 0.3), 0.8
    lib = lib_of(char, tmp_path, make_frames(char, n=20, vel=vel, yaw_rate=rate, seed=3))
    t = torch.linspace(0.0, float(lib.get_motion_length(0)), 17)  # includes the last frame
    fr = lib.calc_motion_frame(torch.zeros(17, dtype=torch.long), t)
    torch.testing.assert_close(fr.root_vel, torch.tensor(vel).expand(17, 3), atol=1e-4, rtol=0)
    torch.testing.assert_close(fr.root_ang_vel, torch.tensor([0.0, 0.0, rate]).expand(17, 3), atol=1e-4, rtol=0)


def test_root_ang_vel_is_world_frame(char, tmp_path):
    # root pitched 90 deg about y, then yawing about world z: the world angular velocity stays +z
    n, fps, rate = 8, 30.0, 1.5
    t = torch.arange(n, dtype=torch.float32) / fps
    z = torch.tensor([0.0, 0.0, 1.0]).expand(n, 3)
    y = torch.tensor([0.0, 1.0, 0.0]).expand(n, 3)
    q = rot.quat_mul(rot.axis_angle_to_quat(z, rate * t), rot.axis_angle_to_quat(y, torch.full((n,), math.pi / 2)))
    frames = make_frames(char, n=n, seed=4)
    frames[:, 3:6] = rot.quat_to_exp_map(q).numpy()
    lib = lib_of(char, tmp_path, frames)
    fr = lib.calc_motion_frame(torch.zeros(n, dtype=torch.long), t)
    torch.testing.assert_close(fr.root_ang_vel, torch.tensor([0.0, 0.0, rate]).expand(n, 3), atol=1e-4, rtol=0)


def test_hinge_dof_vel_is_angle_slope(char, tmp_path):
    lib = lib_of(char, tmp_path, make_frames(char, n=10, hinge_slope=-1.7, seed=5))
    t = torch.tensor([0.0, 0.05, 0.1, 0.2, 0.3])
    fr = lib.calc_motion_frame(torch.zeros(5, dtype=torch.long), t)
    for j in _hinges(char):
        torch.testing.assert_close(fr.dof_vel[:, j.dof_offset], torch.full((5,), -1.7), atol=1e-4, rtol=0)
        torch.testing.assert_close(fr.dof[:, j.dof_offset], 0.3 - 1.7 * t, atol=1e-5, rtol=0)


def test_sphere_dof_vel_is_local_angular_velocity(char, tmp_path):
    # joint rotation q(t) = q_c * exp(w t a): angular velocity w a in the joint's own (child) frame
    n, fps, w = 10, 30.0, 2.0
    t = torch.arange(n, dtype=torch.float32) / fps
    a = torch.tensor([0.0, 0.6, 0.8])
    q_c = rot.exp_map_to_quat(torch.tensor([0.7, 0.0, 0.3]))
    q = rot.quat_mul(q_c.expand(n, 4), rot.exp_map_to_quat(a * (w * t).unsqueeze(-1)))
    frames = make_frames(char, n=n, seed=6)
    j = _spheres(char)[0]
    frames[:, 6 + j.dof_offset:6 + j.dof_offset + 3] = rot.quat_to_exp_map(q).numpy()
    lib = lib_of(char, tmp_path, frames)
    fr = lib.calc_motion_frame(torch.zeros(n, dtype=torch.long), t)
    torch.testing.assert_close(fr.dof_vel[:, char.joint_dof_slice(j)], (w * a).expand(n, 3), atol=1e-3, rtol=0)


# ---------------- loop modes ----------------

def test_wrap_offsets_root_by_cycle_displacement(char, tmp_path):
    vel = (1.0, 0.5, 0.2)
    frames = make_frames(char, n=16, vel=vel, seed=7)
    lib = lib_of(char, tmp_path, frames, loop=LoopMode.WRAP)
    length = float(lib.get_motion_length(0))
    disp = torch.from_numpy(frames[-1, 0:3] - frames[0, 0:3])
    disp[2] = 0.0
    t = torch.tensor([0.0, 0.07, 0.2, 0.33])
    ids = torch.zeros(4, dtype=torch.long)
    base = lib.calc_motion_frame(ids, t)
    for cycles in (1, 2, -1):
        fr = lib.calc_motion_frame(ids, t + cycles * length)
        torch.testing.assert_close(fr.root_pos, base.root_pos + cycles * disp, atol=1e-4, rtol=0)
        torch.testing.assert_close(fr.root_pos[:, 2], base.root_pos[:, 2], atol=1e-5, rtol=0)  # z not offset
        assert_dof_equivalent(char, fr.dof, base.dof, atol=1e-3)
        torch.testing.assert_close(fr.body_pos - fr.root_pos.unsqueeze(1),
                                   base.body_pos - base.root_pos.unsqueeze(1), atol=1e-3, rtol=0)


def test_clamp_holds_first_and_last_frame(char, tmp_path):
    frames = make_frames(char, n=9, vel=(1.0, 0.0, 0.0), seed=8)
    lib = lib_of(char, tmp_path, frames, loop=LoopMode.CLAMP)
    length = float(lib.get_motion_length(0))
    ids = torch.zeros(3, dtype=torch.long)
    after = lib.calc_motion_frame(ids, torch.tensor([length, length + 0.5, length + 10.0]))
    before = lib.calc_motion_frame(ids, torch.tensor([0.0, -0.5, -10.0]))
    ref = torch.from_numpy(frames)
    torch.testing.assert_close(after.root_pos, ref[-1, 0:3].expand(3, 3), atol=1e-5, rtol=0)
    assert_dof_equivalent(char, after.dof, ref[-1, 6:].expand(3, -1))
    torch.testing.assert_close(before.root_pos, ref[0, 0:3].expand(3, 3), atol=1e-5, rtol=0)
    assert_dof_equivalent(char, before.dof, ref[0, 6:].expand(3, -1))


@pytest.mark.parametrize("loop", [LoopMode.CLAMP, LoopMode.WRAP])
def test_single_frame_clip(char, tmp_path, loop):
    frames = make_frames(char, n=1, seed=9)
    lib = lib_of(char, tmp_path, frames, loop=loop)
    assert float(lib.get_motion_length(0)) == 0.0
    t = torch.tensor([0.0, 0.5, -2.0, 100.0])
    fr = lib.calc_motion_frame(torch.zeros(4, dtype=torch.long), t)
    ref = torch.from_numpy(frames)
    torch.testing.assert_close(fr.root_pos, ref[:, 0:3].expand(4, 3), atol=1e-6, rtol=0)
    assert_dof_equivalent(char, fr.dof, ref[:, 6:].expand(4, -1))
    for v in (fr.root_vel, fr.root_ang_vel, fr.dof_vel):
        assert torch.all(v == 0)
    assert torch.all(lib.sample_time(torch.zeros(5, dtype=torch.long)) == 0)
    lin, ang = lib.calc_body_vel(torch.zeros(4, dtype=torch.long), t)
    assert float(lin.abs().max()) < 1e-5 and float(ang.abs().max()) < 1e-5


# ---------------- body velocities and playback ----------------

@pytest.mark.parametrize("loop", [LoopMode.CLAMP, LoopMode.WRAP])
def test_body_vel_of_translating_clip_equals_root_vel(char, tmp_path, loop):
    # WRAP offsets only x, y per cycle, so a z drift would jump back at the wrap: none there
    vel = torch.tensor([0.9, -0.3, 0.2 if loop == LoopMode.CLAMP else 0.0])
    frames = make_frames(char, n=10, vel=tuple(vel.tolist()), seed=10)
    frames[:, 6:] = frames[0, 6:]  # fixed pose: every body translates with the root
    lib = lib_of(char, tmp_path, frames, loop=loop)
    length = float(lib.get_motion_length(0))
    t = torch.tensor([0.0, 0.05, 0.2, length - 0.01, length])
    lin, ang = lib.calc_body_vel(torch.zeros(5, dtype=torch.long), t)
    assert lin.shape == (5, char.num_bodies, 3) and ang.shape == (5, char.num_bodies, 3)
    torch.testing.assert_close(lin, vel.expand(5, char.num_bodies, 3), atol=1e-3, rtol=0)
    assert float(ang.abs().max()) < 1e-3


def test_body_vel_of_yawing_clip(char, tmp_path):
    rate = 1.3
    frames = make_frames(char, n=10, yaw_rate=rate, seed=11)
    frames[:, 6:] = frames[0, 6:]
    lib = lib_of(char, tmp_path, frames)
    t = torch.tensor([0.0, 0.1, 0.2])
    lin, ang = lib.calc_body_vel(torch.zeros(3, dtype=torch.long), t, dt=0.01)
    torch.testing.assert_close(ang, torch.tensor([0.0, 0.0, rate]).expand(3, char.num_bodies, 3), atol=1e-3, rtol=0)
    # rigid rotation about the vertical axis through the root: v = w x r
    fr = lib.calc_motion_frame(torch.zeros(3, dtype=torch.long), t)
    r = fr.body_pos - fr.root_pos.unsqueeze(1)
    expected = torch.cross(torch.tensor([0.0, 0.0, rate]).expand_as(r), r, dim=-1)
    torch.testing.assert_close(lin, expected, atol=2e-2, rtol=0)


def test_get_clip_poses_and_fps(char, tmp_path):
    frames = make_frames(char, n=7, vel=(0.5, 0.0, 0.0), yaw_rate=0.4, seed=12)
    lib = lib_of(char, tmp_path, frames, fps=60.0)
    assert lib.get_motion_fps(0) == 60.0
    body_pos, body_rot = lib.get_clip_poses(0)
    ref = torch.from_numpy(frames)
    exp_pos, exp_rot = char.forward_kinematics(ref[:, 0:3], rot.exp_map_to_quat(ref[:, 3:6]), ref[:, 6:])
    assert body_pos.shape == (7, char.num_bodies, 3) and body_rot.shape == (7, char.num_bodies, 4)
    torch.testing.assert_close(body_pos, exp_pos, atol=1e-5, rtol=0)
    assert float(angle_between(body_rot, exp_rot).max()) < 1e-4


# ---------------- datasets and sampling ----------------

def _two_clip_dataset(char, tmp_path, w0="1", w1="3"):
    a = make_frames(char, n=10, fps=30.0, vel=(1.0, 0.0, 0.0), seed=13)
    b = make_frames(char, n=25, fps=60.0, vel=(0.0, 2.0, 0.0), seed=14)
    write_clip(tmp_path / "a.pkl", a, 30.0, LoopMode.CLAMP)
    write_clip(tmp_path / "b.pkl", b, 60.0, LoopMode.WRAP)
    y = write_yaml(tmp_path / "ds.yaml", "motions:\n  - {file: a.pkl, weight: %s}\n  - {file: b.pkl, weight: %s}\n"
                   % (w0, w1))
    return y, a, b


def test_dataset_batched_lookup_matches_per_clip(char, tmp_path):
    y, a, b = _two_clip_dataset(char, tmp_path)
    lib = MotionLib(y, char)
    assert lib.num_motions() == 2
    torch.testing.assert_close(lib.get_motion_length([0, 1]), torch.tensor([9 / 30.0, 24 / 60.0]))
    assert lib.get_motion_loop_mode([0, 1, 1]).tolist() == [LoopMode.CLAMP.value, LoopMode.WRAP.value, LoopMode.WRAP.value]
    ids = torch.tensor([1, 0, 1, 0])
    t = torch.tensor([0.1, 0.1, 0.25, 0.2])
    fr = lib.calc_motion_frame(ids, t)
    single = [MotionLib(str(tmp_path / n), char) for n in ("a.pkl", "b.pkl")]
    for i in range(4):
        ref = single[int(ids[i])].calc_motion_frame(torch.zeros(1, dtype=torch.long), t[i:i + 1])
        for name in ("root_pos", "root_vel", "dof", "dof_vel", "body_pos"):
            torch.testing.assert_close(getattr(fr, name)[i:i + 1], getattr(ref, name), atol=1e-5, rtol=0)
    torch.testing.assert_close(fr.root_vel[0], torch.tensor([0.0, 2.0, 0.0]), atol=1e-3, rtol=0)


def test_batch_of_any_shape(char, tmp_path):
    lib = MotionLib(_two_clip_dataset(char, tmp_path)[0], char)
    ids = torch.tensor([[0, 1, 1], [1, 0, 0]])
    t = torch.tensor([[0.0, 0.1, 0.5], [0.05, 0.2, 1.0]])
    fr = lib.calc_motion_frame(ids, t)
    flat = lib.calc_motion_frame(ids.reshape(-1), t.reshape(-1))
    assert fr.body_pos.shape == (2, 3, char.num_bodies, 3) and fr.dof.shape == (2, 3, char.num_dofs)
    for name in fr._fields:
        torch.testing.assert_close(getattr(fr, name).reshape(getattr(flat, name).shape), getattr(flat, name))
    lin, ang = lib.calc_body_vel(ids, t)
    flat_lin, _ = lib.calc_body_vel(ids.reshape(-1), t.reshape(-1))
    assert ang.shape == (2, 3, char.num_bodies, 3)
    torch.testing.assert_close(lin.reshape(flat_lin.shape), flat_lin)


def test_sample_motions_by_weight(char, tmp_path):
    lib = MotionLib(_two_clip_dataset(char, tmp_path)[0], char)
    torch.manual_seed(0)
    ids = lib.sample_motions(20000)
    assert ids.shape == (20000,) and ids.dtype == torch.long
    assert abs(float((ids == 1).float().mean()) - 0.75) < 0.02


def test_zero_weight_clip_never_sampled(char, tmp_path):
    lib = MotionLib(_two_clip_dataset(char, tmp_path, w0="0", w1="2.5")[0], char)
    torch.manual_seed(0)
    assert torch.all(lib.sample_motions(1000) == 1)


def test_sample_time_in_range(char, tmp_path):
    lib = MotionLib(_two_clip_dataset(char, tmp_path)[0], char)
    torch.manual_seed(1)
    ids = lib.sample_motions(5000)
    length = lib.get_motion_length(ids)
    t = lib.sample_time(ids)
    assert torch.all(t >= 0) and torch.all(t <= length)
    assert float((t / length).max()) > 0.95 and float((t / length).min()) < 0.05  # spans the range
    tt = lib.sample_time(ids, truncate_time=0.1)
    assert torch.all(tt >= 0) and torch.all(tt <= length - 0.1 + 1e-6)


def test_relative_paths_cwd_first_then_dataset_dir(char, tmp_path, monkeypatch):
    ddir, cwd = tmp_path / "ds", tmp_path / "cwd"
    (ddir / "clips").mkdir(parents=True)
    (cwd / "clips").mkdir(parents=True)
    write_clip(ddir / "clips" / "c.pkl", make_frames(char, n=3), fps=30.0)
    y = write_yaml(ddir / "d.yaml", "motions:\n  - file: clips/c.pkl\n")
    monkeypatch.chdir(cwd)
    assert MotionLib(y, char).get_motion_fps(0) == 30.0  # only the dataset's directory has it
    write_clip(cwd / "clips" / "c.pkl", make_frames(char, n=3), fps=50.0)
    lib = MotionLib(y, char)
    assert lib.get_motion_fps(0) == 50.0  # the working directory wins
    assert os.path.samefile(lib.motion_files[0], str(cwd / "clips" / "c.pkl"))


def test_clip_files_go_through_ensure_motion_file(char, tmp_path, monkeypatch):
    real = write_clip(tmp_path / "real.pkl", make_frames(char, n=4), fps=25.0)
    calls = []

    def ensure_motion_file(path):
        calls.append(path)
        if os.path.basename(path) == "humanoid_generated.pkl":
            return real
        raise FileNotFoundError("no such clip and no DeepMimic source for it: %s" % path)

    fake = types.ModuleType("mimickit.anim.import_deepmimic")
    fake.ensure_motion_file = ensure_motion_file
    monkeypatch.setitem(sys.modules, "mimickit.anim.import_deepmimic", fake)
    monkeypatch.chdir(tmp_path)
    y = write_yaml(tmp_path / "g.yaml", "motions:\n  - file: humanoid_generated.pkl\n")
    lib = MotionLib(y, char)
    assert calls and calls[0] == "humanoid_generated.pkl" and lib.get_motion_fps(0) == 25.0
    assert MotionLib("humanoid_generated.pkl", char).get_motion_fps(0) == 25.0  # a single clip too
    y2 = write_yaml(tmp_path / "m.yaml", "motions:\n  - file: humanoid_missing.pkl\n")
    with pytest.raises(FileNotFoundError) as e:
        MotionLib(y2, char)
    assert "m.yaml" in str(e.value) and "humanoid_missing.pkl" in str(e.value) and "'file'" in str(e.value)


@pytest.mark.parametrize("text,words", [
    ("clips: []\n", ["'motions'"]),
    ("motions: []\n", ["'motions'", "non-empty"]),
    ("motions:\n", ["'motions'", "non-empty"]),
    ("motions:\n  - {weight: 1}\n", ["motions[0]", "'file'"]),
    ("motions:\n  - {file: a.pkl, weight: -1}\n", ["motions[0]", "'weight'"]),
    ("motions:\n  - {file: a.pkl, weight: heavy}\n", ["motions[0]", "'weight'"]),
    ("motions:\n  - {file: a.pkl, weight: .nan}\n", ["motions[0]", "'weight'"]),
    ("motions:\n  - {file: a.pkl, weight: 0}\n  - {file: a.pkl, weight: 0.0}\n", ["weights are zero"]),
    ("motions:\n  - {file: a.pkl}\n  - {file: a.pkl, wieght: 2}\n", ["motions[1]", "wieght"]),
])
def test_dataset_errors_name_file_and_field(char, tmp_path, text, words):
    write_clip(tmp_path / "a.pkl", make_frames(char, n=3))
    y = write_yaml(tmp_path / "bad.yaml", text)
    with pytest.raises(ValueError) as e:
        MotionLib(y, char)
    for w in [y] + words:
        assert w in str(e.value)


def test_dataset_missing_clip_and_missing_yaml(char, tmp_path):
    y = write_yaml(tmp_path / "d.yaml", "motions:\n  - file: nowhere/x.pkl\n")
    with pytest.raises(FileNotFoundError) as e:
        MotionLib(y, char)
    assert "d.yaml" in str(e.value) and "nowhere/x.pkl" in str(e.value)
    with pytest.raises(FileNotFoundError, match="absent.yaml"):
        MotionLib(str(tmp_path / "absent.yaml"), char)
    with pytest.raises(FileNotFoundError, match="absent.pkl"):
        MotionLib(str(tmp_path / "absent.pkl"), char)


def test_clip_of_wrong_width_is_refused(char, tmp_path):
    path = write_clip(tmp_path / "wide.pkl", np.zeros((3, char.frame_size + 1), dtype=np.float32))
    y = write_yaml(tmp_path / "d.yaml", "motions:\n  - file: %s\n" % path)
    with pytest.raises(MotionFormatError) as e:
        MotionLib(y, char)
    assert "wide.pkl" in str(e.value) and "'frames'" in str(e.value)


@pytest.mark.parametrize("name,clips", [
    ("dataset_humanoid_locomotion.yaml", ["walk", "run"]),
    ("dataset_humanoid_all.yaml", ["walk", "run", "spinkick", "backflip", "cartwheel", "crawl", "dance_a",
                                   "dance_b", "getup_faceup", "getup_facedown", "jump", "kick", "punch",
                                   "roll", "spin"]),
])
def test_shipped_datasets(name, clips):
    entries = read_dataset(os.path.join(ROOT, "data", "datasets", name))
    assert [f for f, _, _ in entries] == ["data/motions/humanoid/humanoid_%s.pkl" % c for c in clips]
    assert all(w == 1.0 for _, w, _ in entries)
