"""The batched kinematics (all joints of a kind in one operation, forward kinematics by tree level,
the vector-form quaternion product) against simple per-joint / per-body references: the loops the
library used before, kept here verbatim. Both run on the same random inputs and must agree to float
round-off, gimbal lock and out-of-limit poses included."""
import math

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from mimickit.anim.kin_char_model import JointType, KinCharModel
from mimickit.envs.env_builder import build_env
from mimickit.util import rotations as rot

from conftest import REPO_ROOT

TOL = {torch.float64: 1e-12, torch.float32: 2e-6}
DTYPES = [torch.float64, torch.float32]
DTYPE_IDS = ["float64", "float32"]

# three-hinge chains of two axis orders (x z y and z -x y) and signs, anchors off the body origin,
# rest rotations, a hinge and a fixed body: every branch of the batched code
MIXED_MJCF = """
<mujoco model="mixed">
  <compiler angle="radian"/>
  <worldbody>
    <body name="base" pos="0 0 1">
      <freejoint name="root"/>
      <geom type="sphere" size="0.1"/>
      <body name="a" pos="0.1 0.2 -0.1" euler="0.2 -0.1 0.3">
        <joint name="a_x" type="hinge" axis="1 0 0" pos="0.01 0 0.02" range="-1.0 1.2"/>
        <joint name="a_z" type="hinge" axis="0 0 1" pos="0.01 0 0.02" range="-1.5 1.5"/>
        <joint name="a_y" type="hinge" axis="0 1 0" pos="0.01 0 0.02" range="-2.0 0.5"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.05"/>
        <body name="b" pos="0 0 -0.3">
          <joint name="b_z" type="hinge" axis="0 0 1" range="-0.5 2.5"/>
          <joint name="b_x" type="hinge" axis="-1 0 0" range="-1.2 1.2"/>
          <joint name="b_y" type="hinge" axis="0 1 0"/>
          <geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.04"/>
          <body name="tip" pos="0 0.05 -0.3" quat="0.9 0.1 -0.3 0.2">
            <geom type="sphere" size="0.03"/>
          </body>
        </body>
      </body>
      <body name="c" pos="-0.1 0 -0.1">
        <joint name="c_x" type="hinge" axis="1 0 0" range="-2.9 1.5"/>
        <joint name="c_z" type="hinge" axis="0 0 1" range="-2.2 1.5"/>
        <joint name="c_y" type="hinge" axis="0 1 0" range="-3.1 2.0"/>
        <geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.05"/>
        <body name="d" pos="0 0 -0.3">
          <joint name="d" type="hinge" axis="0.3 -0.5 0.8" pos="0 0.02 0" range="-0.2 2.5"/>
          <geom type="capsule" fromto="0 0 0 0 0 -0.2" size="0.04"/>
        </body>
      </body>
    </body>
  </worldbody>
</mujoco>
"""


@pytest.fixture(scope="module", params=["humanoid", "mixed"])
def model(request, tmp_path_factory):
    if request.param == "humanoid":
        return KinCharModel(str(REPO_ROOT / "data" / "assets" / "humanoid" / "humanoid.xml"))
    path = tmp_path_factory.mktemp("mjcf") / "mixed.xml"
    path.write_text(MIXED_MJCF)
    return KinCharModel(str(path))


# ---------------------------------------------------------------- per-joint references

def ref_hinge_angles_in_limits(q, axes, limits):
    canon = rot.quat_to_hinge_chain(q, axes)
    a, b, c = canon.unbind(-1)
    sgn = torch.tensor(rot._axis_index_and_sign(axes)[1], dtype=q.dtype, device=q.device)
    base = canon * sgn
    alt = torch.stack([base[..., 0] + math.pi, math.pi - base[..., 1], base[..., 2] + math.pi], dim=-1) * sgn
    cands = []
    two_pi = 2.0 * math.pi
    for sol in (canon, rot.wrap_to_pi(alt)):
        for da in (0.0, -two_pi, two_pi):
            for dc in (0.0, -two_pi, two_pi):
                cands.append(sol + sol.new_tensor([da, 0.0, dc]))
    sgn_b = base[..., 1]
    locked = (torch.cos(sgn_b).abs() < 1e-6).unsqueeze(-1)
    lo_a, hi_a = limits[0, 0], limits[0, 1]
    a_mid = torch.where(torch.isfinite(lo_a) & torch.isfinite(hi_a), 0.5 * (lo_a + hi_a), torch.zeros_like(lo_a))
    tau = sgn[0] * sgn[2] * rot.hinge_lock_sign(axes, sgn_b)
    split = torch.stack([a_mid.expand_as(a), b, c + tau * (a - a_mid)], dim=-1)
    split = torch.where(locked, split, canon)
    for dc in (0.0, -two_pi, two_pi, -2 * two_pi, 2 * two_pi):
        cands.append(split + split.new_tensor([0.0, 0.0, dc]))
    cands = torch.stack(cands, dim=-2)
    lo, hi = limits[:, 0], limits[:, 1]
    violation = ((lo - cands).clamp_min(0) + (cands - hi).clamp_min(0)).sum(-1)
    order_bias = torch.arange(cands.shape[-2], dtype=q.dtype, device=q.device) * 1e-6
    best = (violation + order_bias).argmin(dim=-1, keepdim=True)
    return torch.gather(cands, -2, best.unsqueeze(-1).expand(best.shape + (3,))).squeeze(-2)


def ref_dof_to_local_rot(m, dof):
    rots = rot.quat_identity(dof.shape[:-1] + (m.num_bodies,), dtype=dof.dtype).clone()
    for j in m.movable_joints:
        d = dof[..., m.joint_dof_slice(j)]
        if j.type == JointType.SPHERE:
            rots[..., j.body_id, :] = rot.exp_map_to_quat(d)
        else:
            axis = j.hinge_axes[0].to(d).expand(d.shape[:-1] + (3,))
            rots[..., j.body_id, :] = rot.axis_angle_to_quat(axis, d[..., 0])
    return rots


def ref_local_rot_to_dof(m, local_rot):
    dof = local_rot.new_zeros(local_rot.shape[:-2] + (m.num_dofs,))
    for j in m.movable_joints:
        q = local_rot[..., j.body_id, :]
        if j.type == JointType.SPHERE:
            dof[..., m.joint_dof_slice(j)] = rot.quat_to_exp_map(q)
        else:
            s = (q[..., :3] * j.hinge_axes[0].to(q)).sum(-1)
            dof[..., j.dof_offset] = rot.wrap_to_pi(2.0 * torch.atan2(s, q[..., 3]))
    return dof


def ref_dof_to_sim(m, dof):
    parts = []
    for j in m.movable_joints:
        d = dof[..., m.joint_dof_slice(j)]
        if j.type == JointType.SPHERE:
            parts.append(ref_hinge_angles_in_limits(rot.exp_map_to_quat(d), j.hinge_axes.to(d), j.limits.to(d)))
        else:
            parts.append(d)
    return torch.cat(parts, dim=-1)


def _per_chain(m, sim, fn_sphere, fn_hinge):
    parts, i = [], 0
    for j in m.movable_joints:
        n = len(j.qvel_adr)
        parts.append(fn_sphere(j, i) if j.type == JointType.SPHERE else fn_hinge(j, i))
        i += n
    return torch.cat(parts, dim=-1)


def ref_sim_to_dof(m, sim):
    return _per_chain(m, sim, lambda j, i: rot.quat_to_exp_map(rot.hinge_chain_to_quat(sim[..., i:i + 3],
                                                                                       j.hinge_axes.to(sim))),
                      lambda j, i: sim[..., i:i + 1])


def _chain_jacobian(axes, ang):
    ax = [axes[k].expand(ang.shape[:-1] + (3,)) for k in range(3)]
    q_c = rot.axis_angle_to_quat(ax[2], ang[..., 2])
    q_bc = rot.quat_mul(rot.axis_angle_to_quat(ax[1], ang[..., 1]), q_c)
    return torch.stack([rot.quat_rotate_inverse(q_bc, ax[0]), rot.quat_rotate_inverse(q_c, ax[1]), ax[2]], dim=-1)


def ref_sim_vel_to_dof_vel(m, sim, vel):
    return _per_chain(m, sim, lambda j, i: (_chain_jacobian(j.hinge_axes.to(sim), sim[..., i:i + 3])
                                            @ vel[..., i:i + 3].unsqueeze(-1)).squeeze(-1),
                      lambda j, i: vel[..., i:i + 1])


def ref_dof_vel_to_sim(m, sim, dof_vel):
    def sphere(j, i):
        jac = _chain_jacobian(j.hinge_axes.to(sim), sim[..., i:i + 3])
        jt = jac.transpose(-1, -2)
        w = dof_vel[..., m.joint_dof_slice(j)]
        eye = torch.eye(3, dtype=sim.dtype)
        return torch.linalg.solve(jt @ jac + 1e-9 * eye, jt @ w.unsqueeze(-1)).squeeze(-1)
    return _per_chain(m, sim, sphere, lambda j, i: dof_vel[..., j.dof_offset:j.dof_offset + 1])


def ref_forward_kinematics(m, root_pos, root_rot, dof):
    local = ref_dof_to_local_rot(m, dof)
    offsets, rests = m.body_offsets.to(dof), m.body_rest_rots.to(dof)
    pos, rots = [root_pos], [root_rot]
    for b in range(1, m.num_bodies):
        p = m.parent_indices[b]
        frame_rot = rot.quat_mul(rots[p], rests[b].expand_as(rots[p]))
        frame_pos = pos[p] + rot.quat_rotate(rots[p], offsets[b].expand_as(pos[p]))
        body_rot = rot.quat_mul(frame_rot, local[..., b, :])
        joint = m.joints[b]
        if joint.type != JointType.FIXED and joint.anchor is not None and bool(joint.anchor.abs().max() > 0):
            anchor = joint.anchor.to(dof).expand_as(frame_pos)
            frame_pos = frame_pos + rot.quat_rotate(frame_rot, anchor) - rot.quat_rotate(body_rot, anchor)
        pos.append(frame_pos)
        rots.append(body_rot)
    return torch.stack(pos, dim=-2), torch.stack(rots, dim=-2)


def ref_quat_mul(a, b):
    ax, ay, az, aw = a.unbind(-1)
    bx, by, bz, bw = b.unbind(-1)
    return torch.stack([aw * bx + ax * bw + ay * bz - az * by, aw * by - ax * bz + ay * bw + az * bx,
                        aw * bz + ax * by - ay * bx + az * bw, aw * bw - ax * bx - ay * by - az * bz], dim=-1)


# ---------------------------------------------------------------- inputs

def random_dof(m, n, rng, dtype):
    """Exp maps of uniformly random rotations, a quarter of the chains at gimbal lock (middle hinge at
    -+pi/2 with outer angles inside and outside the limits); hinge angles over [-pi, pi]."""
    dof = torch.zeros(n, m.num_dofs, dtype=torch.float64)
    for j in m.movable_joints:
        s = m.joint_dof_slice(j)
        if j.type == JointType.SPHERE:
            e = torch.as_tensor(Rotation.random(n, random_state=rng.integers(1 << 31)).as_rotvec())
            ang = torch.as_tensor(rng.uniform(-math.pi, math.pi, size=(n, 3)))
            ang[:, 1] = torch.as_tensor(rng.choice([-math.pi / 2, math.pi / 2], size=n))
            locked = rot.quat_to_exp_map(rot.hinge_chain_to_quat(ang, j.hinge_axes.double()))
            e[: n // 4] = locked[: n // 4]
            dof[:, s] = e
        else:
            dof[:, s] = torch.as_tensor(rng.uniform(-math.pi, math.pi, size=(n, 1)))
    return dof.to(dtype)


def random_sim(m, n, rng, dtype):
    """Hinge angles over twice the limits' span (or [-pi, pi]), some chains at gimbal lock."""
    lim = torch.cat([j.limits for j in m.movable_joints]).double()
    lo = torch.where(torch.isfinite(lim[:, 0]), lim[:, 0], torch.full_like(lim[:, 0], -math.pi))
    hi = torch.where(torch.isfinite(lim[:, 1]), lim[:, 1], torch.full_like(lim[:, 1], math.pi))
    mid, half = 0.5 * (lo + hi), (hi - lo)
    sim = mid + half * torch.as_tensor(rng.uniform(-1.0, 1.0, size=(n, len(lo))))
    i = 0
    for j in m.movable_joints:
        if j.type == JointType.SPHERE:
            sim[: n // 4, i + 1] = math.pi / 2 * torch.as_tensor(rng.choice([-1.0, 1.0], size=n // 4))
        i += len(j.qvel_adr)
    return sim.to(dtype)


def assert_close(a, b, dtype, what):
    err = (a - b).abs().max().item()
    assert err <= TOL[dtype], "%s: batched differs from the per-joint reference by %.3g" % (what, err)


# ---------------------------------------------------------------- tests

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_local_rotations_match_per_joint_reference(model, dtype):
    rng = np.random.default_rng(200)
    dof = random_dof(model, 300, rng, dtype).reshape(10, 30, -1)
    local = model.dof_to_local_rot(dof)
    assert local.shape == (10, 30, model.num_bodies, 4)
    assert_close(local, ref_dof_to_local_rot(model, dof), dtype, "dof_to_local_rot")
    assert_close(model.local_rot_to_dof(local), ref_local_rot_to_dof(model, local), dtype, "local_rot_to_dof")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_sim_conversions_match_per_joint_reference(model, dtype):
    rng = np.random.default_rng(201)
    dof = random_dof(model, 400, rng, dtype)
    sim = model.dof_to_sim(dof)
    ref = ref_dof_to_sim(model, dof)
    # the limit-aware choice is discrete: the same candidate must win, not just a close one
    assert_close(sim, ref, dtype, "dof_to_sim")
    sim_in = random_sim(model, 400, rng, dtype)
    assert_close(model.sim_to_dof(sim_in), ref_sim_to_dof(model, sim_in), dtype, "sim_to_dof")
    root_pos, root_rot = torch.zeros(400, 3, dtype=dtype), rot.quat_identity((400,), dtype=dtype)
    qpos = model.dof_to_qpos(root_pos, root_rot, dof)
    assert_close(qpos[:, 7:], ref, dtype, "dof_to_qpos")
    assert_close(model.qpos_to_dof(qpos)[2], ref_sim_to_dof(model, qpos[:, 7:]), dtype, "qpos_to_dof")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_velocity_conversions_match_per_joint_reference(model, dtype):
    rng = np.random.default_rng(202)
    sim = random_sim(model, 300, rng, dtype)
    rates = torch.as_tensor(rng.normal(size=tuple(sim.shape)) * 3.0, dtype=dtype)
    w = model.sim_vel_to_dof_vel(sim, rates)
    assert_close(w, ref_sim_vel_to_dof_vel(model, sim, rates), dtype, "sim_vel_to_dof_vel")
    back = model.dof_vel_to_sim_vel(sim, w)
    # at gimbal lock (the first quarter of the rows) J^T J is singular; in float32, where the 1e-9
    # damping is lost to round-off, sometimes exactly so: the reference's linalg.solve then raises,
    # the batched solve falls back to a damping float32 holds and stays finite
    n = 0 if dtype == torch.float64 else sim.shape[0] // 4
    ref = ref_dof_vel_to_sim(model, sim[n:], w[n:])
    assert_close(back[n:] / (1.0 + ref.abs()), ref / (1.0 + ref.abs()), dtype, "dof_vel_to_sim_vel")
    assert bool(torch.isfinite(back).all())
    if dtype == torch.float64:  # the rates reproduce the angular velocities, at gimbal lock too
        w_back = model.sim_vel_to_dof_vel(sim, back)
        assert ((w_back - w).abs() / (1.0 + w.abs())).max().item() < 1e-6


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_forward_kinematics_by_level_matches_per_body_reference(model, dtype):
    rng = np.random.default_rng(203)
    n = 200
    root_pos = torch.as_tensor(rng.uniform(-2, 2, size=(n, 3)), dtype=dtype)
    root_rot = torch.as_tensor(Rotation.random(n, random_state=3).as_quat(), dtype=dtype)
    dof = random_dof(model, n, rng, dtype)
    pos, quat = model.forward_kinematics(root_pos, root_rot, dof)
    ref_pos, ref_quat = ref_forward_kinematics(model, root_pos, root_rot, dof)
    assert_close(pos, ref_pos, dtype, "body positions")
    assert_close(quat, ref_quat, dtype, "body rotations")


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_quat_mul_vector_form_matches_component_form(dtype):
    rng = np.random.default_rng(204)
    a = torch.as_tensor(rng.normal(size=(500, 4)), dtype=dtype)
    b = torch.as_tensor(rng.normal(size=(500, 4)), dtype=dtype)
    tol = 1e-14 if dtype == torch.float64 else 5e-6
    assert (rot.quat_mul(a, b) - ref_quat_mul(a, b)).abs().max().item() < tol
    # broadcasting, including a missing leading dim
    a3 = a.reshape(50, 10, 4)
    assert (rot.quat_mul(a3, b[:10]) - ref_quat_mul(a3, b[:10].expand(50, 10, 4))).abs().max().item() < tol
    assert (rot.quat_mul(b[:10], a3) - ref_quat_mul(b[:10].expand(50, 10, 4), a3)).abs().max().item() < tol


def test_deepmimic_shared_reference_lookup_matches_separate_lookups():
    """The env looks the reference up once per step for now and the target steps together; the result
    must be what separate lookups (the current frame with bodies, the targets without) give."""
    env = build_env(str(REPO_ROOT / "data" / "envs" / "deepmimic_humanoid_env.yaml"),
                    str(REPO_ROOT / "data" / "engines" / "mujoco_engine.yaml"), 4)
    torch.manual_seed(0)
    env.reset()
    for _ in range(3):
        env.step(0.05 * torch.randn(4, env.act_dim))
    ids, t = env.get_motion_ids(), env.motion_times()
    ref = env.motion_lib.calc_motion_frame(ids, t)
    got = env._ref_frame()
    for name in ref._fields:
        assert (getattr(got, name) - getattr(ref, name)).abs().max().item() < 1e-6, name
    # target observation, computed the way the env did before the lookups were merged
    e = env.engine
    root_pos, root_rot = e.get_root_pos(), e.get_root_rot()
    steps = env._tar_steps
    tar = env.motion_lib.calc_motion_frame(ids.unsqueeze(-1).expand(4, len(steps)),
                                           t.unsqueeze(-1) + steps * env.dt, with_body=False)
    h = rot.heading_quat_inv(root_rot).unsqueeze(1).expand(4, len(steps), 4)
    joints = [j.body_id for j in env.char_model.movable_joints]
    expected = torch.cat([rot.quat_rotate(h, tar.root_pos - root_pos.unsqueeze(1)),
                          rot.quat_to_tan_norm(rot.quat_mul(h, tar.root_rot)),
                          rot.quat_to_tan_norm(tar.joint_rot[:, :, joints]).reshape(4, len(steps), -1)], -1)
    obs = env.get_obs()
    assert (obs[:, -expected[0].numel():] - expected.reshape(4, -1)).abs().max().item() < 1e-6
    # after a reset the observation of the reset envs reuses the reset's lookup: it must equal a fresh one
    env._episode_len[:2] = env._time[:2] + env.dt  # envs 0 and 1 end this step
    obs, _, _, info = env.step(0.05 * torch.randn(4, env.act_dim))
    assert info["done_ids"].tolist() == [0, 1]
    env._reset_tar_ref = None
    assert torch.equal(obs[info["done_ids"]], env._compute_obs(info["done_ids"]))
    env.close()
