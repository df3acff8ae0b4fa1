"""Envs: sizes from the MJCF, heading-invariant observations, termination, auto-reset, and the
view_motion env writing exact reference frames into the simulator."""
import math
import xml.etree.ElementTree as ET

import mujoco
import numpy as np
import pytest
import torch

from mimickit.anim.kin_char_model import JointType, KinCharModel
from mimickit.engines.engine import ConfigError
from mimickit.envs.base_env import DoneFlags, SimulationError, SimulationWarning
from mimickit.envs.char_env import CharEnv, dof_vel_to_sim
from mimickit.envs.env_builder import build_env
from mimickit.envs.view_motion_env import ViewMotionEnv
from mimickit.util import rotations as rot

from conftest import REPO_ROOT

ENGINE = str(REPO_ROOT / "data" / "engines" / "mujoco_engine.yaml")
CHAR = str(REPO_ROOT / "data" / "assets" / "humanoid" / "humanoid.xml")
WALK = str(REPO_ROOT / "data" / "motions" / "humanoid" / "humanoid_walk.pkl")
DATASET = str(REPO_ROOT / "data" / "datasets" / "dataset_humanoid_locomotion.yaml")
FEET = ["right_foot", "left_foot"]


def char_env(num_envs=2, engine=ENGINE, char_file=CHAR, **cfg):
    config = dict(env_name="char", char_file=char_file, contact_bodies=FEET)
    config.update(cfg)
    return CharEnv(config, engine, num_envs)


def expected_obs_dim(xml_path, body_vel=False):
    """Independent count from MuJoCo's own model of the file."""
    m = mujoco.MjModel.from_xml_path(str(xml_path))
    b, d = m.nbody - 1, m.nu
    return 1 + 3 * (b - 1) + 6 * b + 6 + d + (6 * (b - 1) if body_vel else 0), d


def test_sizes_follow_the_mjcf(tmp_path):
    env = char_env()
    obs_dim, act_dim = expected_obs_dim(CHAR)
    assert (env.obs_dim, env.act_dim) == (obs_dim, act_dim) == (167, 28)
    obs, _ = env.reset()
    assert obs.shape == (2, obs_dim)
    assert env.observation_space.shape == (obs_dim,) and env.action_space.shape == (act_dim,)
    assert np.all(env.action_space.low == -1) and np.all(env.action_space.high == 1)
    assert char_env(obs_body_vel=True).obs_dim == expected_obs_dim(CHAR, body_vel=True)[0]

    # a variant with one joint (and its actuator) fewer and one body fewer
    tree = ET.parse(CHAR)
    root = tree.getroot()
    elbow_body = root.find(".//body[@name='right_lower_arm']")
    elbow_body.remove(elbow_body.find("joint[@name='right_elbow']"))
    act = root.find("actuator")
    act.remove(act.find("position[@joint='right_elbow']"))
    left_arm = root.find(".//body[@name='left_lower_arm']")
    left_arm.remove(left_arm.find("body[@name='left_hand']"))
    variant = tmp_path / "variant.xml"
    tree.write(str(variant))
    env2 = char_env(char_file=str(variant))
    obs_dim2, act_dim2 = expected_obs_dim(variant)
    assert (env2.obs_dim, env2.act_dim) == (obs_dim2, act_dim2) == (obs_dim - 1 - 9, act_dim - 1)
    assert env2.reset()[0].shape == (2, obs_dim2)
    assert env2.step(env2.neutral_action())[0].shape == (2, obs_dim2)


def random_state(env, gen):
    """A tilted, moving character: (root_pos, root_rot, root_vel, root_ang_vel, dof_pos, dof_vel), one env."""
    lim = env.engine.get_dof_limits()
    dof = lim[:, 0] + (lim[:, 1] - lim[:, 0]) * torch.rand(env.num_dofs, generator=gen)
    root_rot = rot.quat_normalize(torch.tensor([0.2, -0.1, 0.6, 0.8]))
    return (torch.tensor([0.3, -0.5, 1.1]), root_rot, torch.randn(3, generator=gen),
            torch.randn(3, generator=gen), dof, torch.randn(env.num_dofs, generator=gen))


@pytest.mark.parametrize("yaw", [0.7, -2.5, math.pi])
def test_obs_is_invariant_to_heading(yaw):
    env = char_env(num_envs=3, obs_body_vel=True)
    env.reset()
    pos, quat, vel, ang_vel, dof, dof_vel = random_state(env, torch.Generator().manual_seed(0))
    z = rot.axis_angle_to_quat(torch.tensor([0.0, 0.0, 1.0]), torch.tensor(yaw))
    shift = torch.tensor([4.0, -2.0, 0.0])
    tilt = rot.axis_angle_to_quat(torch.tensor([1.0, 0.0, 0.0]), torch.tensor(0.3))
    # env 0: the state; env 1: turned about z and moved; env 2: tilted (must differ)
    rp = torch.stack([pos, rot.quat_rotate(z, pos) + shift, pos])
    rq = torch.stack([quat, rot.quat_mul(z, quat), rot.quat_mul(tilt, quat)])
    rv = torch.stack([vel, rot.quat_rotate(z, vel), vel])
    rw = torch.stack([ang_vel, rot.quat_rotate(z, ang_vel), ang_vel])
    env.set_char_state(torch.arange(3), rp, rq, rv, rw, dof.expand(3, -1), dof_vel.expand(3, -1))
    obs = env.get_obs()
    assert torch.allclose(obs[0], obs[1], atol=1e-4), (obs[0] - obs[1]).abs().max()
    assert (obs[0] - obs[2]).abs().max() > 0.1
    assert obs[0, 0] == pytest.approx(1.1, abs=1e-6)  # root height first


def test_standing_with_pd_at_the_initial_pose_does_not_terminate():
    env = char_env(num_envs=4)
    obs, _ = env.reset()
    h0 = obs[:, 0].clone()
    for _ in range(60):  # 2 s
        obs, reward, done, info = env.step(env.neutral_action())
        assert (done == DoneFlags.NULL).all() and len(info["done_ids"]) == 0
        assert (reward == 0).all()
    assert (obs[:, 0] > h0 - 0.1).all()  # still upright


def torque_engine(tmp_path):
    path = tmp_path / "torque_engine.yaml"
    path.write_text(open(ENGINE).read().replace("control_mode: pos", "control_mode: torque"))
    return str(path)


def test_falling_terminates_and_auto_resets(tmp_path):
    env = char_env(num_envs=3, engine=torque_engine(tmp_path))
    assert torch.equal(env.neutral_action(), torch.zeros(3, 28))  # torque mode: no torque
    obs0, _ = env.reset()
    failed = torch.zeros(3, dtype=torch.bool)
    for _ in range(90):  # 3 s: a limp character falls
        obs, _, done, info = env.step(env.neutral_action())
        ids = info["done_ids"]
        assert (done[ids] == DoneFlags.FAIL).all()
        if len(ids):
            # the terminal obs is on the ground; the returned one is the fresh initial state
            assert (info["terminal_obs"][ids, 0] < 0.5).all()
            assert torch.allclose(obs[ids], obs0[ids], atol=1e-5)
            assert (info["episode_length"] > 1).all()
        failed[ids] = True
    assert failed.all()

    # without early termination the same fall runs to the time limit
    env = char_env(num_envs=2, engine=torque_engine(tmp_path), enable_early_termination=False,
                   episode_length=1.0)
    env.reset()
    for i in range(30):
        _, _, done, info = env.step(env.neutral_action())
        assert (done == (DoneFlags.TIME if i == 29 else DoneFlags.NULL)).all()
    assert info["episode_length"].tolist() == [30, 30]


def test_first_step_after_reset_ignores_contacts():
    env = char_env(num_envs=2)
    env.reset()
    # env 0 lies on its back: pelvis, torso and head touch the ground
    lying = rot.axis_angle_to_quat(torch.tensor([0.0, 1.0, 0.0]), torch.tensor(-math.pi / 2))
    z = torch.zeros(1, 3)
    env.set_char_state([0], torch.tensor([[0.0, 0.0, 0.1]]), lying[None], z, z,
                       env._init_dof_pos[None], torch.zeros(1, env.num_dofs))
    _, _, done, _ = env.step(env.neutral_action())
    assert done.tolist() == [DoneFlags.NULL, DoneFlags.NULL]
    assert (torch.linalg.norm(env.engine.get_contact_forces()[0, [0, 1, 2]], dim=-1) > 1.0).any()
    _, _, done, _ = env.step(env.neutral_action())
    assert done.tolist() == [DoneFlags.FAIL, DoneFlags.NULL]


def test_non_finite_state_and_actions_raise_naming_the_envs():
    env = char_env(num_envs=3)
    env.reset()
    action = env.neutral_action()
    action[2, 5] = float("nan")
    with pytest.raises(SimulationError, match=r"env ids \[2\]"):
        env.step(action)
    z = torch.zeros(1, 3)
    with pytest.raises(SimulationError, match=r"env ids \[1\]"):
        env.set_char_state([1], torch.tensor([[0.0, 0.0, float("nan")]]), env._init_root_rot[None], z, z,
                           env._init_dof_pos[None], torch.zeros(1, env.num_dofs))
    # a diverging sim, which MuJoCo itself resets with only a printed warning, is reported too
    env.reset()
    env.step(env.neutral_action())
    init = (env._init_root_pos[None], env._init_root_rot[None], z, z, env._init_dof_pos[None])
    with pytest.raises(SimulationError, match=r"huge.*env ids \[0\]"):
        env.set_char_state([0], *init, torch.full((1, env.num_dofs), 1e30))
    env.set_char_state([0], *init, torch.full((1, env.num_dofs), 1e6))  # finite, but blows up
    with pytest.warns(SimulationWarning, match=r"diverged in env ids \[0\]"):
        _, _, done, _ = env.step(env.neutral_action())
    # the run goes on: that episode ends as a failure and restarts, the others carry on
    assert done[0] == DoneFlags.FAIL and (done[1:] == DoneFlags.NULL).all() and env.num_diverged == 1


def test_dof_vel_to_sim_matches_finite_differences():
    km = KinCharModel(CHAR)
    gen = torch.Generator().manual_seed(1)
    ang0 = (torch.rand(5, km.num_sim_dofs, generator=gen, dtype=torch.float64) - 0.5) * 2.0
    rates = torch.randn(5, km.num_sim_dofs, generator=gen, dtype=torch.float64)
    h = 1e-6
    r0 = km.dof_to_local_rot(km.sim_to_dof(ang0))
    r1 = km.dof_to_local_rot(km.sim_to_dof(ang0 + h * rates))
    # MotionLib's convention: child-frame angular velocity of 3-DoF joints, rates of hinges
    dof_vel = torch.zeros(5, km.num_dofs, dtype=torch.float64)
    i = 0
    for j in km.movable_joints:
        if j.type == JointType.SPHERE:
            dq = rot.quat_mul(rot.quat_conjugate(r0[:, j.body_id]), r1[:, j.body_id])
            dof_vel[:, j.dof_offset:j.dof_offset + 3] = rot.quat_to_exp_map(dq) / h
            i += 3
        else:
            dof_vel[:, j.dof_offset] = rates[:, i]
            i += 1
    assert torch.allclose(dof_vel_to_sim(km, ang0, dof_vel), rates, atol=1e-4)


def ref_frame(env):
    return env.motion_lib.calc_motion_frame(env.get_motion_ids(), env.get_episode_time())


def check_sim_matches_reference(env):
    e, km, ref = env.engine, env.char_model, ref_frame(env)
    assert (e.get_root_pos() - ref.root_pos).abs().max() < 1e-5
    assert rot.quat_diff_angle(e.get_root_rot().double(), ref.root_rot.double()).max() < 1e-5
    # every joint's rotation: through the engine's hinge angles back to motion DoFs
    sim_rot = km.dof_to_local_rot(km.sim_to_dof(e.get_dof_pos().double()))
    ref_rot = km.dof_to_local_rot(ref.dof.double())
    assert rot.quat_diff_angle(sim_rot, ref_rot).max() < 1e-5
    assert (e.get_root_vel() - ref.root_vel).abs().max() < 1e-4
    assert (e.get_root_ang_vel() - ref.root_ang_vel).abs().max() < 1e-4
    # joint angular velocity, from MuJoCo's body velocities: w_child - w_parent = R_child w_local
    w = e.get_body_ang_vel()
    for j in km.movable_joints:
        if j.type == JointType.SPHERE:
            rel = w[:, j.body_id] - w[:, km.parent_indices[j.body_id]]
            want = rot.quat_rotate(e.get_body_rot()[:, j.body_id], ref.dof_vel[:, j.dof_offset:j.dof_offset + 3])
            assert (rel - want).abs().max() < 2e-3, j.name


def test_view_motion_reproduces_the_clips():
    env = ViewMotionEnv(dict(env_name="view_motion", char_file=CHAR, motion_file=DATASET), ENGINE, 4)
    assert env.obs_dim == expected_obs_dim(CHAR)[0]
    lib = env.motion_lib
    torch.manual_seed(3)
    env.reset()
    check_sim_matches_reference(env)
    lengths_seen = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(40):  # the longest clip (walk) is 38 steps: every env finishes once
        motion_ids = env.get_motion_ids()
        action = torch.randn(4, env.act_dim, generator=gen)  # ignored
        _, reward, done, info = env.step(action)
        check_sim_matches_reference(env)  # also after auto-resets (time 0 of a new clip)
        assert (reward == 0).all() and (done[info["done_ids"]] == DoneFlags.TIME).all()
        for i, n in zip(info["done_ids"].tolist(), info["episode_length"].tolist()):
            clip_len = float(lib.get_motion_length([motion_ids[i]]))
            assert abs(n * env.dt - clip_len) < env.dt
            lengths_seen.append(n)
    assert len(lengths_seen) >= 4


def test_view_motion_plays_from_the_start():
    env = build_env(str(REPO_ROOT / "data" / "envs" / "view_motion_humanoid_env.yaml"), ENGINE, 2,
                    overrides={"motion_file": WALK})
    env.reset()
    frame0 = env.motion_lib.calc_motion_frame([0, 0], [0.0, 0.0])
    assert torch.allclose(env.engine.get_root_pos(), frame0.root_pos, atol=1e-6)
    env.step(env.neutral_action())
    assert torch.allclose(env.get_episode_time(), torch.full((2,), env.dt))


def write_yaml(tmp_path, text, name="env.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_env_config_errors_name_key_and_file(tmp_path):
    base = "env_name: view_motion\nchar_file: %s\nmotion_file: %s\n" % (CHAR, WALK)
    bad = write_yaml(tmp_path, base + "episod_length: 2\n")
    with pytest.raises(ConfigError, match="episod_length.*did you mean 'episode_length'") as e:
        build_env(bad, ENGINE, 1)
    assert bad in str(e.value)
    nochar = write_yaml(tmp_path, "env_name: char\n", "nochar.yaml")
    with pytest.raises(ConfigError, match="nochar.yaml: missing required key.*char_file"):
        build_env(nochar, ENGINE, 1)
    gone = write_yaml(tmp_path, "env_name: view_motion\nchar_file: %s\nmotion_file: /nope/clip.pkl\n" % CHAR)
    with pytest.raises(ConfigError, match="/nope/clip.pkl"):
        build_env(gone, ENGINE, 1)
    with pytest.raises(ConfigError, match="env_name 'dance'"):
        build_env(write_yaml(tmp_path, "env_name: dance\n"), ENGINE, 1)
    body = write_yaml(tmp_path, "env_name: char\nchar_file: %s\ncontact_bodies: [right_foot, tail]\n" % CHAR)
    with pytest.raises(ConfigError, match="'tail'"):
        build_env(body, ENGINE, 1)
    char_cfg = write_yaml(tmp_path, "env_name: char\nchar_file: %s\n" % CHAR)
    with pytest.raises(ConfigError, match="--motion_file does not apply"):
        build_env(char_cfg, ENGINE, 1, overrides={"motion_file": WALK})


def test_env_config_variants_name_only_what_they_change(tmp_path):
    from mimickit.envs.env_builder import load_env_config
    parent = write_yaml(tmp_path, "env_name: char\nchar_file: %s\nepisode_length: 3.0\n" % CHAR, "parent.yaml")
    child = write_yaml(tmp_path, "base_config: %s\nepisode_length: 2.0\n" % parent, "child.yaml")
    cfg = load_env_config(child)
    assert cfg == {"env_name": "char", "char_file": CHAR, "episode_length": 2.0}
    assert build_env(child, ENGINE, 1).config["episode_length"] == 2.0
    typo = write_yaml(tmp_path, "base_config: %s\nepisod_length: 2.0\n" % parent, "typo.yaml")
    with pytest.raises(ConfigError, match="did you mean 'episode_length'"):
        build_env(typo, ENGINE, 1)
    loop = write_yaml(tmp_path, "base_config: %s\n" % (tmp_path / "loop.yaml"), "loop.yaml")
    with pytest.raises(ConfigError, match="leads back to itself"):
        load_env_config(loop)
    cartwheel = load_env_config(str(REPO_ROOT / "data" / "envs" / "deepmimic_humanoid_cartwheel_env.yaml"))
    assert cartwheel["env_name"] == "deepmimic" and "right_hand" in cartwheel["contact_bodies"]


def test_agent_config_variants_name_only_what_they_change(tmp_path):
    """Agent YAMLs take base_config too: a variant changes one key, a typo in it is still refused."""
    from mimickit.learning.agent_builder import build_agent
    env = build_env(write_yaml(tmp_path, "env_name: char\nchar_file: %s\n" % CHAR, "env.yaml"), ENGINE, 2)
    base = REPO_ROOT / "data" / "agents" / "deepmimic_humanoid_ppo_agent.yaml"
    child = write_yaml(tmp_path, "base_config: %s\ndiscount: 0.5\n" % base, "agent.yaml")
    agent = build_agent(child, env)
    assert agent.config["discount"] == 0.5 and agent.config["agent_name"] == "PPO"
    typo = write_yaml(tmp_path, "base_config: %s\ndiscout: 0.5\n" % base, "typo.yaml")
    with pytest.raises(ConfigError, match="discout"):
        build_agent(typo, env)
    env.close()
