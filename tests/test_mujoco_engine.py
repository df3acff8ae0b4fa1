"""The CPU engine (mujoco.batch) on the humanoid: physical behaviour, state read-back against the
kinematic model, velocities, contact forces, determinism, torque mode and config errors."""
import math
import pathlib

import numpy as np
import pytest
import torch
import yaml

from mimickit.anim.kin_char_model import JointType, KinCharModel
from mimickit.anim.motion_lib import MotionLib
from mimickit.engines.engine import ConfigError
from mimickit.engines.engine_builder import build_engine
from mimickit.util import rotations as rot

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
ENGINE_YAML = REPO_ROOT / "data" / "engines" / "mujoco_engine.yaml"
MOTION_DIR = REPO_ROOT / "data" / "motions" / "humanoid"
FOOT_BODIES = ("right_foot", "left_foot")
G = 9.81


def engine_yaml(tmp_path, name="engine.yaml", **overrides):
    """A copy of the shipped engine YAML with some keys changed (or added), as a file."""
    with open(str(ENGINE_YAML)) as f:
        cfg = yaml.safe_load(f)
    cfg.update(overrides)
    path = tmp_path / name
    with open(str(path), "w") as f:
        yaml.safe_dump(cfg, f)
    return str(path)


@pytest.fixture(scope="module")
def char_model(humanoid_xml):
    return KinCharModel(humanoid_xml)


@pytest.fixture(scope="module")
def clip_frames(char_model):
    """Walk and spinkick frames at several times, batched: a MotionFrame of 10 poses."""
    frames = []
    for clip in ("walk", "spinkick"):
        lib = MotionLib(str(MOTION_DIR / ("humanoid_%s.pkl" % clip)), char_model)
        length = float(lib.get_motion_length([0])[0])
        times = torch.linspace(0.0, length, 5)
        frames.append(lib.calc_motion_frame(torch.zeros(5, dtype=torch.long), times))
    return type(frames[0])(*[torch.cat(parts) for parts in zip(*frames)])


def dof_rot_error(char_model, dof_a, dof_b):
    """Largest angle between the joint rotations two motion-DoF vectors encode, [n] -> float."""
    err = 0.0
    for j in char_model.movable_joints:
        s = char_model.joint_dof_slice(j)
        if j.type == JointType.SPHERE:
            e = rot.quat_diff_angle(rot.exp_map_to_quat(dof_a[..., s].double()),
                                    rot.exp_map_to_quat(dof_b[..., s].double()))
        else:
            e = rot.wrap_to_pi(dof_a[..., s].double() - dof_b[..., s].double())
        err = max(err, e.abs().max().item())
    return err


def full_state(engine):
    """Every state read of an engine, as numpy arrays, for exact comparisons."""
    reads = ("root_pos", "root_rot", "root_vel", "root_ang_vel", "dof_pos", "dof_vel", "body_pos",
             "body_rot", "body_vel", "body_ang_vel", "contact_forces")
    out = {k: getattr(engine, "get_" + k)().numpy().copy() for k in reads}
    out["qpos"] = engine.get_qpos().numpy().copy()
    return out


# ---------------------------------------------------------------- standing

def test_holds_standing_pose(humanoid_xml):
    """PD targets at the initial pose keep 64 humanoids standing for 5 s of sim time."""
    engine = build_engine(str(ENGINE_YAML), humanoid_xml, 64)
    assert engine.substeps == 4 and engine.num_dofs == 28 and engine.num_bodies == 15
    h0 = engine.get_root_pos()[:, 2].clone()
    targets = engine.get_dof_pos().clone()
    max_dev = torch.zeros(64)
    for _ in range(150):  # 5 s at 30 Hz
        engine.set_cmd(targets)
        engine.step()
        max_dev = torch.maximum(max_dev, (engine.get_root_pos()[:, 2] - h0).abs())
    worst = int(max_dev.argmax())
    assert max_dev.max() < 0.05, "root height moved by up to %.4f m (env %d) from %.3f m" % (
        max_dev.max(), worst, h0[worst])
    assert torch.isfinite(engine.get_body_pos()).all()


# ---------------------------------------------------------------- read-back of written state

def test_clip_frames_read_back(humanoid_xml, char_model, clip_frames):
    """Clip frames written as sim state read back exactly, and bodies sit where FK puts them."""
    fr = clip_frames
    n = fr.root_pos.shape[0]
    num_envs = 2 * n + 1
    engine = build_engine(str(ENGINE_YAML), humanoid_xml, num_envs)
    untouched = full_state(engine)
    env_ids = torch.arange(1, num_envs, 2)  # odd envs only; the even ones must not change
    sim_dof = char_model.dof_to_sim(fr.dof)
    assert sim_dof.shape == (n, engine.num_dofs)
    engine.set_root_state(env_ids, fr.root_pos, fr.root_rot, fr.root_vel, fr.root_ang_vel)
    engine.set_dof_state(env_ids, sim_dof, torch.zeros_like(sim_dof))
    engine.refresh_after_reset()

    pos_err = (engine.get_root_pos()[env_ids] - fr.root_pos).abs().max().item()
    assert pos_err < 1e-5, "root position error %.3g m" % pos_err
    rot_err = rot.quat_diff_angle(engine.get_root_rot()[env_ids].double(), fr.root_rot.double()).max().item()
    assert rot_err < 1e-5, "root rotation error %.3g rad" % rot_err
    vel_err = (engine.get_root_vel()[env_ids] - fr.root_vel).abs().max().item()
    ang_err = (engine.get_root_ang_vel()[env_ids] - fr.root_ang_vel).abs().max().item()
    assert vel_err < 1e-5 and ang_err < 1e-5, "root velocity errors %.3g m/s, %.3g rad/s" % (vel_err, ang_err)

    dof_err = dof_rot_error(char_model, char_model.sim_to_dof(engine.get_dof_pos()[env_ids]), fr.dof)
    assert dof_err < 1e-5, "DoF rotation error %.3g rad" % dof_err

    # body poses come from MuJoCo's kinematics: an independent check of the DoF order and layout
    fk_pos, fk_rot = char_model.forward_kinematics(fr.root_pos, fr.root_rot, fr.dof)
    body_err = (engine.get_body_pos()[env_ids] - fk_pos).abs().amax(dim=(0, 2))
    worst = int(body_err.argmax())
    assert body_err.max() < 1e-4, "body position error %.3g m at %s" % (
        body_err.max(), char_model.body_names[worst])
    body_rot_err = rot.quat_diff_angle(engine.get_body_rot()[env_ids].double(), fk_rot.double()).max().item()
    assert body_rot_err < 1e-4, "body rotation error %.3g rad" % body_rot_err

    after = full_state(engine)
    even = slice(0, num_envs, 2)
    for key, value in untouched.items():
        assert np.array_equal(after[key][even], value[even]), "%s of envs not reset changed" % key


def test_dof_order_matches_kinematic_model(humanoid_xml, char_model):
    """Engine DoF i is KinCharModel sim DoF i: limits agree, and moving one DoF moves its joint."""
    engine = build_engine(str(ENGINE_YAML), humanoid_xml, 1)
    m = char_model.mjcf_model
    names = char_model.sim_dof_names()
    expect = torch.tensor(np.array([m.joint(nm).range for nm in names]), dtype=torch.float32)
    assert torch.equal(engine.get_dof_limits(), expect)
    assert engine.get_torque_limits().shape == (engine.num_dofs,)
    assert float(engine.get_torque_limits()[names.index("right_knee")]) == 150.0
    # bending the right knee turns the right shin and foot, and nothing else
    rest_rot = engine.get_body_rot().clone()
    dof = torch.zeros(1, engine.num_dofs)
    dof[0, names.index("right_knee")] = 1.0
    engine.set_dof_state([0], dof, torch.zeros_like(dof))
    engine.refresh_after_reset()
    turned = rot.quat_diff_angle(engine.get_body_rot()[0].double(), rest_rot[0].double()) > 1e-6
    moved = [char_model.body_names[b] for b in torch.nonzero(turned).flatten().tolist()]
    assert moved == ["right_shin", "right_foot"], moved


# ---------------------------------------------------------------- velocities

def test_root_and_body_velocities_of_a_rigid_motion(humanoid_xml, char_model, clip_frames):
    """A character translating at v and spinning at w, joints still: every body moves at v + w x r."""
    fr = clip_frames
    n = fr.root_pos.shape[0]
    engine = build_engine(str(ENGINE_YAML), humanoid_xml, n)
    gen = torch.Generator().manual_seed(3)
    v = torch.rand(n, 3, generator=gen) * 4.0 - 2.0
    w = torch.rand(n, 3, generator=gen) * 8.0 - 4.0
    ids = torch.arange(n)
    root_pos = fr.root_pos + torch.tensor([0.0, 0.0, 1.0])  # in the air: no contacts
    sim_dof = char_model.dof_to_sim(fr.dof)
    engine.set_root_state(ids, root_pos, fr.root_rot, v, w)
    engine.set_dof_state(ids, sim_dof, torch.zeros_like(sim_dof))
    engine.refresh_after_reset()

    assert (engine.get_root_vel() - v).abs().max() < 1e-5
    ang_err = (engine.get_root_ang_vel() - w).abs().max().item()
    assert ang_err < 1e-5, "root angular velocity (world) error %.3g rad/s" % ang_err

    r = engine.get_body_pos().double() - engine.get_root_pos().double().unsqueeze(1)
    expect = v.double().unsqueeze(1) + torch.cross(w.double().unsqueeze(1).expand_as(r), r, dim=-1)
    lin_err = (engine.get_body_vel().double() - expect).abs().max().item()
    assert lin_err < 1e-4, "body linear velocity error %.3g m/s" % lin_err
    body_w_err = (engine.get_body_ang_vel() - w.unsqueeze(1)).abs().max().item()
    assert body_w_err < 1e-5, "body angular velocity error %.3g rad/s" % body_w_err
    assert engine.get_contact_forces().abs().max() == 0.0


def test_velocities_after_a_free_fall_step(humanoid_xml):
    """Stepping a character in free fall: root velocity gains g * dt, and the state moves by it."""
    engine = build_engine(str(ENGINE_YAML), humanoid_xml, 2)
    ids = torch.arange(2)
    pos = torch.tensor([[0.0, 0.0, 3.0], [1.0, 2.0, 3.0]])
    q = torch.tensor([[0.0, 0.0, 0.0, 1.0]]).repeat(2, 1)
    v = torch.tensor([[1.0, 0.0, 0.0], [0.0, -0.5, 2.0]])
    engine.set_root_state(ids, pos, q, v, torch.zeros(2, 3))
    engine.set_dof_state(ids, torch.zeros(2, engine.num_dofs), torch.zeros(2, engine.num_dofs))
    engine.refresh_after_reset()
    engine.set_cmd(torch.zeros(2, engine.num_dofs))
    engine.step()
    dt = engine.control_timestep
    expect_v = v + torch.tensor([0.0, 0.0, -G]) * dt
    assert (engine.get_root_vel() - expect_v).abs().max() < 1e-3
    assert (engine.get_root_pos()[:, :2] - (pos[:, :2] + v[:, :2] * dt)).abs().max() < 1e-3


# ---------------------------------------------------------------- contact forces

def test_standing_contact_forces_carry_the_weight(humanoid_xml, char_model):
    engine = build_engine(str(ENGINE_YAML), humanoid_xml, 4)
    targets = engine.get_dof_pos().clone()
    for _ in range(45):  # settle for 1.5 s
        engine.set_cmd(targets)
        engine.step()
    forces = engine.get_contact_forces()
    assert forces.shape == (4, engine.num_bodies, 3)
    weight = float(char_model.body_masses.sum()) * G
    feet = [char_model.body_id(b) for b in FOOT_BODIES]
    fz = forces[:, feet, 2].sum(-1)
    rel = ((fz - weight) / weight).abs().max().item()
    assert rel < 0.02, "feet carry %s N, weight %.2f N (error %.2f%%)" % (fz.tolist(), weight, 100 * rel)
    assert (forces[:, feet, 2] > 0).all(), "both feet should push up"
    others = [b for b in range(engine.num_bodies) if b not in feet]
    assert forces[:, others].abs().max() == 0.0


# ---------------------------------------------------------------- determinism

def _run_random_targets(engine, steps=30, seed=0):
    gen = torch.Generator().manual_seed(seed)
    lim = engine.get_dof_limits()
    for _ in range(steps):
        u = torch.rand(engine.num_envs, engine.num_dofs, generator=gen)
        engine.set_cmd(lim[:, 0] + u * (lim[:, 1] - lim[:, 0]))
        engine.step()
    return full_state(engine)


def _assert_identical(a, b, what):
    for key in a:
        assert np.array_equal(a[key], b[key]), "%s: %s differs (max %.3g)" % (
            what, key, np.abs(a[key] - b[key]).max())


def test_deterministic_across_engines_and_thread_counts(humanoid_xml, tmp_path):
    n = 16
    runs = [_run_random_targets(build_engine(str(ENGINE_YAML), humanoid_xml, n)) for _ in range(2)]
    _assert_identical(runs[0], runs[1], "two engines of the same config")
    one = _run_random_targets(build_engine(engine_yaml(tmp_path, "t1.yaml", num_threads=1), humanoid_xml, n))
    two = _run_random_targets(build_engine(engine_yaml(tmp_path, "t2.yaml", num_threads=2), humanoid_xml, n))
    _assert_identical(one, two, "num_threads 1 vs 2")
    _assert_identical(one, runs[0], "num_threads 1 vs 0 (all cores)")
    # the random targets really moved the characters
    assert np.abs(one["dof_pos"]).max() > 0.3


def test_random_targets_across_the_joint_ranges_stay_stable(humanoid_xml):
    """PD targets jumping anywhere in the joint ranges every step (what an untrained policy sends)
    must not make MuJoCo diverge, which it answers by silently resetting the sim."""
    engine = build_engine(str(ENGINE_YAML), humanoid_xml, 64)
    gen = torch.Generator().manual_seed(5)
    lim = engine.get_dof_limits()
    max_speed = 0.0
    for step in range(60):
        u = torch.rand(engine.num_envs, engine.num_dofs, generator=gen)
        engine.set_cmd(lim[:, 0] + u * (lim[:, 1] - lim[:, 0]))
        engine.step()
        unstable = engine.get_unstable_env_ids()
        assert len(unstable) == 0, "step %d: envs %s diverged" % (step, unstable.tolist())
        max_speed = max(max_speed, engine.get_dof_vel().abs().max().item())
    assert max_speed < 200.0, "joint speeds up to %.0f rad/s" % max_speed


# ---------------------------------------------------------------- torque mode

def test_zero_torque_collapses(humanoid_xml, tmp_path):
    engine = build_engine(engine_yaml(tmp_path, control_mode="torque"), humanoid_xml, 4)
    assert engine.control_mode == "torque"
    zeros = torch.zeros(4, engine.num_dofs)
    lowest = math.inf
    for _ in range(90):  # 3 s
        engine.set_cmd(zeros)
        engine.step()
        lowest = min(lowest, engine.get_root_pos()[:, 2].max().item())
    assert lowest < 0.5, "with zero torque the root stayed above %.3f m" % lowest


def test_torque_mode_applies_torque(humanoid_xml, tmp_path):
    """A torque on one hinge turns it relative to the same character without the torque."""
    engine = build_engine(engine_yaml(tmp_path, control_mode="torque"), humanoid_xml, 2)
    names = KinCharModel(humanoid_xml).sim_dof_names()
    knee = names.index("right_knee")
    cmd = torch.zeros(2, engine.num_dofs)
    cmd[1, knee] = 50.0
    engine.set_cmd(cmd)
    engine.step()
    dq = engine.get_dof_vel()
    assert float(dq[1, knee] - dq[0, knee]) > 1.0, dq[:, knee]
    others = [i for i in range(engine.num_dofs) if i != knee]
    assert (dq[1, others] - dq[0, others]).abs().max() < (dq[1, knee] - dq[0, knee]).abs()


# ---------------------------------------------------------------- config errors

@pytest.mark.parametrize("overrides, key", [
    ({"engine_name": "physx"}, "engine_name"),
    ({"sim_frq": 120}, "sim_frq"),
    ({"sim_freq": 100}, "sim_freq"),
])
def test_bad_config_names_file_and_key(humanoid_xml, tmp_path, overrides, key):
    path = engine_yaml(tmp_path, **overrides)
    with pytest.raises(ConfigError) as info:
        build_engine(path, humanoid_xml, 1)
    msg = str(info.value)
    assert path in msg and key in msg, msg
    if key == "sim_frq":
        assert "sim_freq" in msg  # the suggestion


# ---------------------------------------------------------------- the benchmark script

def test_bench_engine_smoke(capsys):
    """`python -m mimickit.bench engine` runs and prints its documented line per env count."""
    import re
    from mimickit import bench
    assert bench.main(["engine", "--num_envs", "2", "--steps", "2", "--repeats", "1", "--warmup", "0",
                       "--threads", "1"]) == 0
    out = capsys.readouterr().out
    assert "simulation threads: 1" in out
    line = re.search(r"envs=2 env_steps_per_s=(\d+) raw_steps_per_s=(\d+) ratio=([\d.]+)", out)
    assert line is not None, out
    assert float(line.group(1)) > 0 and float(line.group(2)) > 0

