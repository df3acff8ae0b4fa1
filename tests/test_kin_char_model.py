"""KinCharModel: layout of the humanoid, and forward kinematics checked against MuJoCo's own
mj_kinematics (an independent implementation) for random poses."""
import math
import re

import mujoco
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mimickit.anim.kin_char_model import JointType, KinCharModel
from mimickit.util import rotations as rot

# From data/assets/humanoid/humanoid.xml (depth-first MJCF order).
HUMANOID_BODIES = ["pelvis", "torso", "head", "right_upper_arm", "right_lower_arm", "right_hand",
                   "left_upper_arm", "left_lower_arm", "left_hand", "right_thigh", "right_shin",
                   "right_foot", "left_thigh", "left_shin", "left_foot"]
HUMANOID_PARENTS = [-1, 0, 1, 1, 3, 4, 1, 6, 7, 0, 9, 10, 0, 12, 13]
HUMANOID_JOINTS = [("abdomen", 3), ("neck", 3), ("right_shoulder", 3), ("right_elbow", 1),
                   ("left_shoulder", 3), ("left_elbow", 1), ("right_hip", 3), ("right_knee", 1),
                   ("right_ankle", 3), ("left_hip", 3), ("left_knee", 1), ("left_ankle", 3)]


@pytest.fixture(scope="module")
def humanoid(humanoid_xml):
    return KinCharModel(humanoid_xml, device="cpu")


@pytest.fixture(scope="module")
def mj_humanoid(humanoid_xml):
    return mujoco.MjModel.from_xml_path(humanoid_xml)


# ---------------------------------------------------------------- helpers

def random_root(n, rng, dtype=torch.float64):
    pos = torch.as_tensor(rng.uniform(-2.0, 2.0, size=(n, 3)), dtype=dtype)
    quat = torch.as_tensor(Rotation.random(n, random_state=rng.integers(1 << 31)).as_quat(), dtype=dtype)
    return pos, quat


def random_dof(model, n, rng, dtype=torch.float64):
    """Random motion DoFs: exp maps of uniformly random rotations, hinge angles in [-pi, pi]."""
    dof = np.zeros((n, model.num_dofs))
    for j in model.movable_joints:
        s = slice(j.dof_offset, j.dof_offset + j.dof_dim)
        if j.type == JointType.SPHERE:
            dof[:, s] = Rotation.random(n, random_state=rng.integers(1 << 31)).as_rotvec()
        else:
            dof[:, s] = rng.uniform(-math.pi, math.pi, size=(n, 1))
    return torch.as_tensor(dof, dtype=dtype)


def mujoco_fk(mj_model, qpos):
    """qpos [n, nq] -> (xpos [n, B, 3], xquat [n, B, 4] in xyzw) from mj_kinematics, world excluded."""
    data = mujoco.MjData(mj_model)
    qpos = np.asarray(qpos, dtype=np.float64)
    pos, quat = [], []
    for q in qpos:
        data.qpos[:] = q
        mujoco.mj_kinematics(mj_model, data)
        pos.append(data.xpos[1:].copy())
        quat.append(data.xquat[1:][:, [1, 2, 3, 0]].copy())  # MuJoCo is wxyz
    return np.stack(pos), np.stack(quat)


def assert_fk_matches_mujoco(model, mj_model, root_pos, root_rot, dof, qpos, pos_tol=1e-4, rot_tol=1e-4):
    body_pos, body_rot = model.forward_kinematics(root_pos, root_rot, dof)
    assert body_pos.shape == root_pos.shape[:-1] + (model.num_bodies, 3)
    assert body_rot.shape == root_pos.shape[:-1] + (model.num_bodies, 4)
    ref_pos, ref_quat = mujoco_fk(mj_model, qpos)
    pos_err = np.abs(body_pos.double().numpy() - ref_pos).max()
    assert pos_err < pos_tol, "max body position error %.3g m" % pos_err
    ang_err = rot.quat_diff_angle(body_rot.double(), torch.as_tensor(ref_quat)).max().item()
    assert ang_err < rot_tol, "max body rotation error %.3g rad" % ang_err


def joint_rotations(model, dof):
    """Per movable joint, the rotation its DoFs encode: list of quats [n, 4]."""
    out = []
    for j in model.movable_joints:
        d = dof[..., j.dof_offset:j.dof_offset + j.dof_dim]
        if j.type == JointType.SPHERE:
            out.append(rot.exp_map_to_quat(d))
        else:
            out.append(rot.axis_angle_to_quat(j.hinge_axes[0].to(d).expand(d.shape[:-1] + (3,)), d[..., 0]))
    return out


# ---------------------------------------------------------------- humanoid layout

def test_humanoid_layout(humanoid, mj_humanoid):
    m = humanoid
    assert m.num_bodies == 15
    assert m.num_dofs == 28
    assert m.frame_size == 34
    assert m.body_names == HUMANOID_BODIES
    assert list(m.parent_indices) == HUMANOID_PARENTS
    assert [(j.name, j.dof_dim) for j in m.movable_joints] == HUMANOID_JOINTS
    # offsets are contiguous in joint order
    offsets = [j.dof_offset for j in m.movable_joints]
    dims = [j.dof_dim for j in m.movable_joints]
    assert offsets == [sum(dims[:i]) for i in range(len(dims))]
    # one Joint per body, the root and the hands fixed
    assert len(m.joints) == 15
    assert [j.body_id for j in m.joints] == list(range(15))
    assert m.joints[0].type == JointType.FIXED
    fixed = [m.body_names[j.body_id] for j in m.joints if j.type == JointType.FIXED]
    assert fixed == ["pelvis", "right_hand", "left_hand"]
    types = {j.name: j.type for j in m.movable_joints}
    assert types["right_elbow"] == JointType.HINGE and types["left_knee"] == JointType.HINGE
    assert types["abdomen"] == JointType.SPHERE and not any(j.is_ball for j in m.joints)
    # three-hinge joints keep MuJoCo's axes in MJCF order (x, z, y for this character)
    shoulder = next(j for j in m.joints if j.name == "right_shoulder")
    np.testing.assert_array_equal(shoulder.hinge_axes.numpy(), [[1, 0, 0], [0, 0, 1], [0, 1, 0]])
    elbow = next(j for j in m.joints if j.name == "right_elbow")
    np.testing.assert_array_equal(elbow.hinge_axes.numpy(), [[0, -1, 0]])


def test_humanoid_limits(humanoid, mj_humanoid):
    m = humanoid
    assert tuple(m.dof_limits.shape) == (28, 2)
    for j in m.movable_joints:
        jadr = int(mj_humanoid.body_jntadr[j.body_id + 1])
        ref = mj_humanoid.jnt_range[jadr:jadr + (3 if j.type == JointType.SPHERE else 1)]
        np.testing.assert_allclose(j.limits.numpy(), ref, atol=1e-6)
        rows = m.dof_limits[j.dof_offset:j.dof_offset + j.dof_dim].numpy()
        if j.type == JointType.HINGE:
            np.testing.assert_allclose(rows, ref, atol=1e-6)
        else:  # exp-map DoFs have no box limits
            assert np.all(rows[:, 0] == -np.inf) and np.all(rows[:, 1] == np.inf)
    knee = next(j for j in m.joints if j.name == "right_knee")
    np.testing.assert_allclose(m.dof_limits[knee.dof_offset].numpy(), [-0.25, 2.90], atol=1e-6)


def test_humanoid_sim_dof_names(humanoid, mj_humanoid):
    names = [mujoco.mj_id2name(mj_humanoid, mujoco.mjtObj.mjOBJ_JOINT, i) for i in range(1, mj_humanoid.njnt)]
    assert humanoid.sim_dof_names() == names
    assert humanoid.num_sim_dofs == mj_humanoid.nq - 7 == 28


# ---------------------------------------------------------------- FK vs MuJoCo

@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["float64", "float32"])
def test_fk_matches_mujoco_via_dof_to_qpos(humanoid, mj_humanoid, dtype):
    rng = np.random.default_rng(100)
    n = 64
    root_pos, root_rot = random_root(n, rng, dtype)
    dof = random_dof(humanoid, n, rng, dtype)
    qpos = humanoid.dof_to_qpos(root_pos, root_rot, dof)
    assert qpos.shape == (n, mj_humanoid.nq)
    assert_fk_matches_mujoco(humanoid, mj_humanoid, root_pos, root_rot, dof, qpos.double().numpy())


def test_fk_rest_pose_matches_mujoco(humanoid, mj_humanoid):
    root_pos = torch.tensor([[0.0, 0.0, 0.9]], dtype=torch.float64)
    root_rot = rot.quat_identity((1,), dtype=torch.float64)
    dof = torch.zeros(1, 28, dtype=torch.float64)
    qpos = mj_humanoid.qpos0.copy()[None]
    assert_fk_matches_mujoco(humanoid, mj_humanoid, root_pos, root_rot, dof, qpos, pos_tol=1e-6, rot_tol=1e-6)


def test_fk_matches_mujoco_from_independent_qpos(humanoid, mj_humanoid):
    """qpos written directly in MuJoCo's coordinates (random hinge angles, not produced by our
    dof_to_qpos), converted by qpos_to_dof, then our FK against mj_kinematics."""
    rng = np.random.default_rng(101)
    n = 64
    qpos = np.zeros((n, mj_humanoid.nq))
    qpos[:, :3] = rng.uniform(-2.0, 2.0, size=(n, 3))
    wxyz = rng.normal(size=(n, 4))
    qpos[:, 3:7] = wxyz / np.linalg.norm(wxyz, axis=-1, keepdims=True)  # either sign of w
    qpos[:, 7:] = rng.uniform(-math.pi, math.pi, size=(n, mj_humanoid.nq - 7))
    root_pos, root_rot, dof = humanoid.qpos_to_dof(torch.as_tensor(qpos))
    np.testing.assert_allclose(root_pos.numpy(), qpos[:, :3], atol=0)
    np.testing.assert_allclose(root_rot.numpy(), qpos[:, [4, 5, 6, 3]], atol=1e-12)
    for j in humanoid.movable_joints:
        if j.type == JointType.HINGE:
            np.testing.assert_allclose(dof[:, j.dof_offset].numpy(), qpos[:, j.qpos_adr[0]], atol=0)
    np.testing.assert_allclose(humanoid.sim_to_dof(torch.as_tensor(qpos[:, 7:])).numpy(), dof.numpy(), atol=1e-12)
    assert_fk_matches_mujoco(humanoid, mj_humanoid, root_pos, root_rot, dof, qpos)
    # float32 path too
    r32, q32, d32 = humanoid.qpos_to_dof(torch.as_tensor(qpos, dtype=torch.float32))
    assert_fk_matches_mujoco(humanoid, mj_humanoid, r32, q32, d32, qpos)


def test_fk_batched_equals_per_element(humanoid):
    rng = np.random.default_rng(102)
    root_pos, root_rot = random_root(20, rng)
    dof = random_dof(humanoid, 20, rng)
    bp, br = humanoid.forward_kinematics(root_pos.reshape(4, 5, 3), root_rot.reshape(4, 5, 4),
                                         dof.reshape(4, 5, -1))
    assert bp.shape == (4, 5, 15, 3) and br.shape == (4, 5, 15, 4)
    for a in range(4):
        for b in range(5):
            i = a * 5 + b
            p1, r1 = humanoid.forward_kinematics(root_pos[i], root_rot[i], dof[i])
            assert p1.shape == (15, 3) and r1.shape == (15, 4)
            np.testing.assert_allclose(bp[a, b].numpy(), p1.numpy(), atol=1e-12)
            np.testing.assert_allclose(br[a, b].numpy(), r1.numpy(), atol=1e-12)


def test_fk_root_body_is_the_root(humanoid):
    rng = np.random.default_rng(103)
    root_pos, root_rot = random_root(10, rng)
    bp, br = humanoid.forward_kinematics(root_pos, root_rot, random_dof(humanoid, 10, rng))
    np.testing.assert_allclose(bp[:, 0].numpy(), root_pos.numpy(), atol=0)
    np.testing.assert_allclose(br[:, 0].numpy(), root_rot.numpy(), atol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA not available")
def test_fk_cuda_matches_cpu(humanoid_xml):
    cpu = KinCharModel(humanoid_xml, device="cpu")
    gpu = KinCharModel(humanoid_xml, device="cuda")
    rng = np.random.default_rng(104)
    root_pos, root_rot = random_root(32, rng, torch.float32)
    dof = random_dof(cpu, 32, rng, torch.float32)
    p_cpu, r_cpu = cpu.forward_kinematics(root_pos, root_rot, dof)
    p_gpu, r_gpu = gpu.forward_kinematics(root_pos.cuda(), root_rot.cuda(), dof.cuda())
    assert p_gpu.is_cuda and r_gpu.is_cuda
    np.testing.assert_allclose(p_gpu.cpu().numpy(), p_cpu.numpy(), atol=1e-5)
    assert rot.quat_diff_angle(r_gpu.cpu().double(), r_cpu.double()).max().item() < 1e-5


# ---------------------------------------------------------------- DoF conversions

def test_dof_to_sim_sim_to_dof_reproduces_joint_rotations(humanoid):
    rng = np.random.default_rng(105)
    n = 256
    dof = random_dof(humanoid, n, rng)
    sim = humanoid.dof_to_sim(dof)
    assert sim.shape == (n, humanoid.num_sim_dofs)
    back = humanoid.sim_to_dof(sim)
    assert back.shape == dof.shape
    for j, q0, q1 in zip(humanoid.movable_joints, joint_rotations(humanoid, dof), joint_rotations(humanoid, back)):
        err = rot.quat_diff_angle(q0, q1).max().item()
        assert err < 1e-5, "joint %s: rotation changed by %.3g rad" % (j.name, err)
    # sim coordinates are MuJoCo's: the same numbers dof_to_qpos writes after the free joint
    root_pos, root_rot = random_root(n, rng)
    qpos = humanoid.dof_to_qpos(root_pos, root_rot, dof)
    np.testing.assert_allclose(qpos[:, 7:].numpy(), sim.numpy(), atol=1e-12)


def test_dof_to_sim_roundtrip_float32(humanoid):
    rng = np.random.default_rng(106)
    dof = random_dof(humanoid, 256, rng, torch.float32)
    back = humanoid.sim_to_dof(humanoid.dof_to_sim(dof))
    assert back.dtype == torch.float32
    for j, q0, q1 in zip(humanoid.movable_joints, joint_rotations(humanoid, dof), joint_rotations(humanoid, back)):
        # loose: float32 hinge decompositions near gimbal lock are ill conditioned
        assert rot.quat_diff_angle(q0.double(), q1.double()).max().item() < 2e-3, j.name


def _in_limit_sim(model, n, rng, margin=1e-3):
    lo = np.concatenate([j.limits[:, 0].numpy() for j in model.movable_joints]) + margin
    hi = np.concatenate([j.limits[:, 1].numpy() for j in model.movable_joints]) - margin
    return torch.as_tensor(rng.uniform(lo, hi, size=(n, len(lo)))), lo - margin, hi + margin


def test_dof_to_sim_stays_inside_limits(humanoid):
    rng = np.random.default_rng(107)
    sim, lo, hi = _in_limit_sim(humanoid, 512, rng)
    dof = humanoid.sim_to_dof(sim)
    sim_back = humanoid.dof_to_sim(dof)
    tol = 1e-6
    below = (torch.as_tensor(lo) - tol - sim_back).clamp_min(0)
    above = (sim_back - torch.as_tensor(hi) - tol).clamp_min(0)
    worst = (below + above).max(dim=0).values
    names = humanoid.sim_dof_names()
    bad = {names[i]: float(worst[i]) for i in range(len(names)) if worst[i] > 0}
    assert not bad, "in-limit poses mapped outside the limits (rad beyond): %s" % bad
    # and the rotations are the same
    for j, q0, q1 in zip(humanoid.movable_joints, joint_rotations(humanoid, dof),
                         joint_rotations(humanoid, humanoid.sim_to_dof(sim_back))):
        assert rot.quat_diff_angle(q0, q1).max().item() < 1e-6, j.name


def test_dof_to_sim_stays_inside_limits_at_gimbal_lock(humanoid):
    """Shoulders whose middle (z) hinge sits at -+pi/2, inside the limits, with the outer hinges
    chosen so that the split a=0 is out of limits but the original split is inside."""
    m = humanoid
    rs = next(j for j in m.joints if j.name == "right_shoulder")  # x [-2.9, 1.5] z [-2.2, 1.5] y [-3.1, 2.0]
    ls = next(j for j in m.joints if j.name == "left_shoulder")  # x [-1.5, 2.9] z [-1.5, 2.2] y [-3.1, 2.0]
    cases = [(rs, [1.2, -math.pi / 2, 1.9]), (ls, [2.5, math.pi / 2, -1.0])]
    failures = []
    for joint, angles in cases:
        lim = joint.limits.double()
        angles = torch.tensor(angles, dtype=torch.float64)
        assert bool(((angles >= lim[:, 0]) & (angles <= lim[:, 1])).all())
        q = rot.hinge_chain_to_quat(angles, joint.hinge_axes.double())
        dof = torch.zeros(m.num_dofs, dtype=torch.float64)
        dof[joint.dof_offset:joint.dof_offset + 3] = rot.quat_to_exp_map(q)
        sim = m.dof_to_sim(dof)
        i = sum(len(j.qvel_adr) for j in m.movable_joints[:m.movable_joints.index(joint)])
        out = sim[i:i + 3]
        assert rot.quat_diff_angle(rot.hinge_chain_to_quat(out, joint.hinge_axes.double()), q).item() < 1e-6
        if not bool(((out >= lim[:, 0] - 1e-6) & (out <= lim[:, 1] + 1e-6)).all()):
            failures.append("%s: in-limit pose %s came back as %s, outside limits %s"
                            % (joint.name, angles.tolist(), out.tolist(), lim.tolist()))
    assert not failures, "\n".join(failures)


def test_local_rot_roundtrip(humanoid):
    rng = np.random.default_rng(108)
    dof = random_dof(humanoid, 128, rng)
    local = humanoid.dof_to_local_rot(dof)
    assert local.shape == (128, 15, 4)
    for j in humanoid.joints:
        if j.type == JointType.FIXED:
            np.testing.assert_array_equal(local[:, j.body_id].numpy(), np.tile([0, 0, 0, 1.0], (128, 1)))
    back = humanoid.local_rot_to_dof(local)
    for j, q0, q1 in zip(humanoid.movable_joints, joint_rotations(humanoid, dof), joint_rotations(humanoid, back)):
        assert rot.quat_diff_angle(q0, q1).max().item() < 1e-9, j.name
    hinge_cols = [j.dof_offset for j in humanoid.movable_joints if j.type == JointType.HINGE]
    np.testing.assert_allclose(back[:, hinge_cols].numpy(), dof[:, hinge_cols].numpy(), atol=1e-9)


# ---------------------------------------------------------------- generic MJCF

TINY_MJCF = """
<mujoco model="tiny">
  <compiler angle="radian"/>
  <worldbody>
    <body name="base" pos="0.1 -0.2 1.0">
      <freejoint name="root"/>
      <geom type="sphere" size="0.1"/>
      <body name="ball_link" pos="0.3 0.05 -0.1" euler="0.3 -0.2 0.5">
        <joint name="ball" type="ball" pos="0.02 -0.03 0.04"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.05"/>
        <body name="hinge_link" pos="0 0.1 -0.35" quat="0.9 0.1 -0.3 0.2">
          <joint name="elbow" type="hinge" axis="0.3 -0.5 0.8" pos="0.05 -0.02 0.1" range="-1 2"/>
          <geom type="capsule" fromto="0 0 0 0 0 -0.2" size="0.04"/>
          <body name="tip" pos="0.02 0 -0.2" euler="0.1 0.7 -0.4">
            <geom type="box" pos="0.03 0 0" size="0.05 0.02 0.02"/>
          </body>
        </body>
      </body>
      <body name="leg" pos="-0.2 0.1 0.0" euler="0 0.4 0">
        <joint name="hip_z" type="hinge" axis="0 0 1" pos="0.01 0.02 -0.03"/>
        <joint name="hip_x" type="hinge" axis="-1 0 0" pos="0.01 0.02 -0.03"/>
        <joint name="hip_y" type="hinge" axis="0 1 0" pos="0.01 0.02 -0.03"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.05"/>
        <body name="shin" pos="0 0 -0.3">
          <joint name="knee" type="hinge" axis="0 -1 0" range="-0.2 2.5"/>
          <geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.04"/>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


@pytest.fixture(scope="module")
def tiny_xml(tmp_path_factory):
    path = tmp_path_factory.mktemp("mjcf") / "tiny.xml"
    path.write_text(TINY_MJCF)
    return str(path)


def test_generic_mjcf_layout(tiny_xml):
    m = KinCharModel(tiny_xml)
    assert m.body_names == ["base", "ball_link", "hinge_link", "tip", "leg", "shin"]
    assert list(m.parent_indices) == [-1, 0, 1, 2, 0, 4]
    assert m.num_dofs == 3 + 1 + 3 + 1
    assert m.frame_size == 6 + 8
    assert [(j.name, j.type, j.dof_offset, j.dof_dim) for j in m.joints[1:]] == [
        ("ball", JointType.SPHERE, 0, 3), ("elbow", JointType.HINGE, 3, 1), ("tip", JointType.FIXED, 4, 0),
        ("hip", JointType.SPHERE, 4, 3), ("knee", JointType.HINGE, 7, 1)]
    assert m.joints[1].is_ball and not m.joints[4].is_ball
    np.testing.assert_allclose(m.joints[2].hinge_axes[0].numpy(), np.array([0.3, -0.5, 0.8]) / math.sqrt(0.98),
                               atol=1e-6)
    np.testing.assert_allclose(m.joints[2].anchor.numpy(), [0.05, -0.02, 0.1], atol=1e-7)
    np.testing.assert_allclose(m.dof_limits[3].numpy(), [-1.0, 2.0], atol=1e-6)
    # the engines' coordinates: the ball's exp map as it is, the chain's hinge angles, the hinges' angles
    dof = random_dof(m, 16, np.random.default_rng(7))
    sim = m.dof_to_sim(dof)
    assert m.sim_dof_names()[:3] == ["ball_0", "ball_1", "ball_2"] and sim.shape == (16, m.num_sim_dofs)
    torch.testing.assert_close(sim[:, 0:3], dof[:, 0:3])
    torch.testing.assert_close(m.sim_to_dof(sim), dof, atol=1e-6, rtol=0)
    vel = torch.as_tensor(np.random.default_rng(8).normal(size=(16, m.num_dofs)))
    sim_vel = m.dof_vel_to_sim_vel(sim, vel)
    torch.testing.assert_close(sim_vel[:, 0:3], vel[:, 0:3])  # a ball's qvel is its child-frame angular velocity
    torch.testing.assert_close(m.sim_vel_to_dof_vel(sim, sim_vel), vel, atol=1e-6, rtol=0)


def test_generic_mjcf_fk_matches_mujoco(tiny_xml):
    m = KinCharModel(tiny_xml)
    mj = mujoco.MjModel.from_xml_path(tiny_xml)
    rng = np.random.default_rng(110)
    n = 64
    # poses built by dof_to_qpos
    root_pos, root_rot = random_root(n, rng)
    dof = random_dof(m, n, rng)
    qpos = m.dof_to_qpos(root_pos, root_rot, dof)
    assert qpos.shape == (n, mj.nq)
    assert_fk_matches_mujoco(m, mj, root_pos, root_rot, dof, qpos.numpy())
    # poses written directly in MuJoCo coordinates
    qpos = np.zeros((n, mj.nq))
    qpos[:, :3] = rng.uniform(-1, 1, size=(n, 3))
    for adr in (3, int(mj.jnt_qposadr[1])):  # free-joint and ball quaternions, wxyz
        qq = rng.normal(size=(n, 4))
        qpos[:, adr:adr + 4] = qq / np.linalg.norm(qq, axis=-1, keepdims=True)
    for jid in range(2, mj.njnt):
        qpos[:, mj.jnt_qposadr[jid]] = rng.uniform(-math.pi, math.pi, size=n)
    root_pos, root_rot, dof = m.qpos_to_dof(torch.as_tensor(qpos))
    assert_fk_matches_mujoco(m, mj, root_pos, root_rot, dof, qpos)
    r32, q32, d32 = m.qpos_to_dof(torch.as_tensor(qpos, dtype=torch.float32))
    assert_fk_matches_mujoco(m, mj, r32, q32, d32, qpos)


# ---------------------------------------------------------------- errors

def _write(tmp_path, name, body_xml):
    path = tmp_path / name
    path.write_text('<mujoco><compiler angle="radian"/><worldbody>%s</worldbody></mujoco>' % body_xml)
    return str(path)


@pytest.mark.parametrize("root_joint", ['<joint name="j" type="hinge" axis="0 0 1"/>', ''],
                         ids=["hinge_root", "jointless_root"])
def test_root_without_free_joint_raises(tmp_path, root_joint):
    path = _write(tmp_path, "no_free.xml",
                  '<body name="base">%s<geom type="sphere" size="0.1"/>'
                  '<body name="child" pos="0 0 -0.3"><joint name="k" type="hinge"/>'
                  '<geom type="sphere" size="0.1"/></body></body>' % root_joint)
    with pytest.raises(ValueError, match=re.escape(path)):
        KinCharModel(path)


def test_body_with_two_hinges_raises(tmp_path):
    path = _write(tmp_path, "two_hinges.xml",
                  '<body name="base"><freejoint/><geom type="sphere" size="0.1"/>'
                  '<body name="double_hinge_body" pos="0 0 -0.3">'
                  '<joint name="h1" type="hinge" axis="1 0 0"/><joint name="h2" type="hinge" axis="0 1 0"/>'
                  '<geom type="sphere" size="0.1"/></body></body>')
    with pytest.raises(ValueError, match="double_hinge_body"):
        KinCharModel(path)


def test_missing_file_raises_naming_the_path(tmp_path):
    path = str(tmp_path / "does_not_exist" / "nothing.xml")
    with pytest.raises(Exception, match=re.escape(path)):
        KinCharModel(path)
