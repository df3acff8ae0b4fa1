"""Characters in other conventions (tests/assets/humanoid_tpose.xml, MimicKit's: T-pose rest, root at the
origin, x-y-z hinges, <motor> actuators with PD gains as joint stiffness and damping; and
tests/assets/humanoid_ball.xml, ball joints): loading, the start height, standing, clips converted between
rest poses, training, and what the loader refuses."""
import os
import re

import numpy as np
import pytest
import torch

from mimickit.anim import clip_checks
from mimickit.anim.kin_char_model import KinCharModel, split_frames
from mimickit.anim.motion import load_motion
from mimickit.anim.retarget_rest import main as retarget_main
from mimickit.anim.retarget_rest import retarget_frames
from mimickit.engines.engine_builder import build_engine
from mimickit.envs.env_builder import build_env

from conftest import REPO_ROOT, bounded_cli_run

TPOSE = str(REPO_ROOT / "tests" / "assets" / "humanoid_tpose.xml")
BALL = str(REPO_ROOT / "tests" / "assets" / "humanoid_ball.xml")
OURS = str(REPO_ROOT / "data" / "assets" / "humanoid" / "humanoid.xml")
WALK = str(REPO_ROOT / "data" / "motions" / "humanoid" / "humanoid_walk.pkl")
ENGINE = str(REPO_ROOT / "data" / "engines" / "mujoco_engine.yaml")
CHAR_ENV = str(REPO_ROOT / "data" / "envs" / "char_humanoid_env.yaml")
VIEW_ENV = str(REPO_ROOT / "data" / "envs" / "view_motion_humanoid_env.yaml")


@pytest.fixture(scope="module")
def tpose_walk(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("clips") / "walk_tpose.pkl")
    assert retarget_main([OURS, TPOSE, WALK, out]) == 0
    return out


def test_the_tpose_file_is_what_the_generator_writes():
    import importlib.util
    spec = importlib.util.spec_from_file_location("gen", str(REPO_ROOT / "tools" / "gen_humanoid_mjcf.py"))
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert open(TPOSE).read() == gen.build(tpose=True)
    assert open(OURS).read() == gen.build(tpose=False)


def test_motors_become_pd_drives_with_one_line(capsys, tmp_path):
    engine = build_engine(ENGINE, TPOSE, 1)
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r".*humanoid_tpose\.xml: 28 <motor> actuators driven as PD position servos with the joints' "
                        r"stiffness and damping as gains \(the joints' passive springs and dampers removed; torque "
                        r"limits from actuatorfrcrange and gear\)", line), line
    m = engine.model
    ours = build_engine(ENGINE, OURS, 1).model
    # the same drives as our <position> humanoid's, hinge for hinge (the hinge orders differ: match by name)
    names = lambda model: [model.actuator(a).name for a in range(model.nu)]
    order = [names(m).index(n) for n in names(ours)]
    np.testing.assert_allclose(m.actuator_gainprm[order, 0], ours.actuator_gainprm[:, 0])
    np.testing.assert_allclose(m.actuator_biasprm[order, :3], ours.actuator_biasprm[:, :3])
    np.testing.assert_allclose(m.actuator_forcerange[order], ours.actuator_forcerange)
    assert (m.jnt_stiffness == 0).all() and (m.dof_damping == 0).all()
    torque_yaml = tmp_path / "torque.yaml"
    torque_yaml.write_text("engine_name: mujoco\ncontrol_mode: torque\n")
    torque = build_engine(str(torque_yaml), TPOSE, 1)
    np.testing.assert_allclose(torque.model.actuator_ctrlrange[order], ours.actuator_forcerange)
    assert (torque.model.actuator_biasprm == 0).all() and (torque.model.actuator_gainprm[:, 0] == 1).all()


def test_start_on_the_ground_and_stand_for_5_s():
    env = build_env(CHAR_ENV, ENGINE, 1, overrides={"char_file": TPOSE})
    km = env.char_model
    assert km.mjcf_model.body_pos[1, 2] == 0.0  # the file puts the root at the origin
    env.reset()
    start = env.engine.get_root_pos()[0].clone()
    lowest = clip_checks.pose_lowest_points(km, start, env.engine.get_root_rot()[0],
                                            km.sim_to_dof(env.engine.get_dof_pos()[0]))
    assert abs(float(lowest)) < 1e-5  # touching, not in the floor
    for _ in range(150):  # 5 s at 30 Hz
        _, _, done, _ = env.step(env.neutral_action())
        assert int(done[0]) == 0
    assert float((env.engine.get_root_pos()[0] - start).norm()) < 0.05
    env.close()


def test_init_pose_is_a_clip_frame_placed_on_the_ground():
    frame = load_motion(WALK).frames[0].copy()
    frame[2] += 1.0  # whatever its height, the lowest geom goes to the ground
    env = build_env(CHAR_ENV, ENGINE, 1, overrides={"init_pose": frame.tolist()})
    env.reset()
    km = env.char_model
    lowest = clip_checks.pose_lowest_points(km, env.engine.get_root_pos()[0], env.engine.get_root_rot()[0],
                                            km.sim_to_dof(env.engine.get_dof_pos()[0]))
    assert abs(float(lowest)) < 1e-4
    np.testing.assert_allclose(km.sim_to_dof(env.engine.get_dof_pos()[0]).numpy(), frame[6:], atol=1e-4)
    env.close()
    from mimickit.engines.engine import ConfigError
    with pytest.raises(ConfigError, match="init_pose has 3 numbers; expected 34"):
        build_env(CHAR_ENV, ENGINE, 1, overrides={"init_pose": [0.0, 0.0, 1.0]})


def test_the_converted_walk_rests_on_the_ground_within_limits_and_converts_back(tpose_walk):
    tpose = KinCharModel(TPOSE)
    frames = load_motion(tpose_walk).frames
    assert abs(float(clip_checks.lowest_points(tpose, frames).min())) <= 0.05
    assert float(clip_checks.limit_excess(tpose, frames).max()) <= 0.05
    back = retarget_frames(tpose, KinCharModel(OURS), frames).numpy()
    np.testing.assert_allclose(back, load_motion(WALK).frames, atol=1e-5)
    # the arms really are posed differently in the two files: the same pose, other numbers
    assert np.abs(frames[:, 6:] - load_motion(WALK).frames[:, 6:]).max() > 1.0


def test_the_converted_walk_plays_in_view_motion(tpose_walk):
    env = build_env(VIEW_ENV, ENGINE, 1, overrides={"char_file": TPOSE, "motion_file": tpose_walk})
    env.reset()
    km = env.char_model
    for _ in range(10):
        env.step(env.neutral_action())
    # the simulator shows the clip's pose: the hands where the arms-down character's clip puts them
    ours = KinCharModel(OURS)
    dof = km.sim_to_dof(env.engine.get_dof_pos()[0])
    pos, _ = km.forward_kinematics(env.engine.get_root_pos()[0], env.engine.get_root_rot()[0], dof)
    ref, _ = ours.forward_kinematics(*split_frames(torch.as_tensor(load_motion(WALK).frames, dtype=torch.float32)))
    hand = km.body_id("right_hand")
    assert float((ref[:, hand] - pos[hand]).norm(dim=-1).min()) < 0.02
    env.close()


@pytest.mark.parametrize("char", ["tpose", "ball"])
def test_deepmimic_trains_on_it(tmp_path, request, char):
    """A bounded DeepMimic run: on the T-pose character with our walk converted to it, and on the ball-joint
    character with our walk as it is."""
    char_file, clip = (TPOSE, request.getfixturevalue("tpose_walk")) if char == "tpose" else (BALL, WALK)
    env_yaml = tmp_path / "env.yaml"
    env_yaml.write_text("base_config: %s\nchar_file: %s\nmotion_file: %s\n"
                        % (REPO_ROOT / "data" / "envs" / "deepmimic_humanoid_env.yaml", char_file, clip))
    args = tmp_path / "args.txt"
    args.write_text("--env_config %s\n--agent_config %s\n--engine_config %s\n"
                    % (env_yaml, REPO_ROOT / "data" / "agents" / "deepmimic_humanoid_ppo_agent.yaml", ENGINE))
    log, out = bounded_cli_run(tmp_path, str(args))
    assert np.isfinite(log["actor_loss"]).all() and "tracking_error_m=" in out


def _variant(tmp_path, old, new, count=1):
    text = open(TPOSE).read()
    assert text.count(old) >= count, old
    path = tmp_path / "variant.xml"
    path.write_text(text.replace(old, new, count))
    return str(path)


@pytest.mark.parametrize("old,new,message", [
    ('stiffness="300" damping="30"', 'damping="30"',
     "joint 'right_elbow' has a <motor> but no stiffness: PD control needs the joint's stiffness"),
    ('    <motor name="neck_x" joint="neck_x" gear="50" ctrlrange="-1 1"/>\n', "",
     "joint 'neck_x' has no actuator; every joint of the character needs exactly one actuator"),
    ('gear="60" ctrlrange="-1 1"', 'gear="0" ctrlrange="-1 1"',
     "actuator 'right_elbow' on joint 'right_elbow' has no torque limit"),
    ("  </actuator>", '    <motor name="extra" joint="neck_x" gear="5"/>\n  </actuator>',
     "joint 'neck_x' has 2 actuators"),
    ("  <actuator>", '  <tendon><fixed name="tie"><joint joint="neck_x" coef="1"/></fixed></tendon>\n  <actuator>',
     "tendon 'tie': tendons are not supported"),
])
def test_what_cannot_be_driven_stops_with_one_line_naming_it(tmp_path, old, new, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build_engine(ENGINE, _variant(tmp_path, old, new), 1)


def test_clips_for_another_tree_are_refused_naming_the_first_difference(tmp_path):
    renamed = _variant(tmp_path, 'name="left_hand"', 'name="left_paw"')
    with pytest.raises(ValueError, match="body 8 is 'left_hand' in .* but 'left_paw' in"):
        retarget_frames(KinCharModel(OURS), KinCharModel(renamed), load_motion(WALK).frames)
    assert retarget_main([OURS, renamed, WALK, str(tmp_path / "out.pkl")]) == 1
    assert not os.path.exists(str(tmp_path / "out.pkl"))


# ---------------- ball joints (tests/assets/humanoid_ball.xml) ----------------


def test_ball_joints_stand_play_our_walk_and_convert_exactly():
    """Our humanoid with its 3-DoF joints as ball joints (three servos each, gears along x, y, z): PD standing
    holds it, our walk needs no conversion (same rest pose and tree: retarget_rest gives the frames back),
    and view_motion shows the clip's pose."""
    ball, ours = KinCharModel(BALL), KinCharModel(OURS)
    assert [j.name for j in ball.movable_joints] == [j.name for j in ours.movable_joints]
    assert sum(j.is_ball for j in ball.movable_joints) == 8
    walk = load_motion(WALK).frames
    np.testing.assert_allclose(retarget_frames(ours, ball, walk).numpy(), walk, atol=1e-5)
    assert abs(float(clip_checks.lowest_points(ball, walk).min())) <= 0.05

    env = build_env(CHAR_ENV, ENGINE, 1, overrides={"char_file": BALL})
    env.reset()
    start = env.engine.get_root_pos()[0].clone()
    for _ in range(150):  # 5 s at 30 Hz
        _, _, done, _ = env.step(env.neutral_action())
        assert int(done[0]) == 0
    assert float((env.engine.get_root_pos()[0] - start).norm()) < 0.05
    env.close()

    env = build_env(VIEW_ENV, ENGINE, 1, overrides={"char_file": BALL, "motion_file": WALK})
    env.reset()
    for _ in range(10):
        env.step(env.neutral_action())
    km = env.char_model
    dof = km.sim_to_dof(env.engine.get_dof_pos()[0])
    pos, _ = km.forward_kinematics(env.engine.get_root_pos()[0], env.engine.get_root_rot()[0], dof)
    ref, _ = ours.forward_kinematics(*split_frames(torch.as_tensor(walk, dtype=torch.float32)))
    for body in ("right_hand", "left_foot"):
        assert float((ref[:, km.body_id(body)] - pos[km.body_id(body)]).norm(dim=-1).min()) < 0.02, body
    env.close()


@pytest.mark.parametrize("old,new,message", [
    ('    <position name="neck_y" joint="neck" gear="0 1 0" kp="100" kv="10" forcerange="-50 50"/>\n', "",
     "joint 'neck' has 2 actuators; every ball joint of the character needs exactly three actuators, with gears "
     "along its x, y and z axes"),
    ('name="neck_y" joint="neck" gear="0 1 0"', 'name="neck_y" joint="neck" gear="0 0.6 0.8"',
     "actuator 'neck_y' on ball joint 'neck' has gear 0 0.6 0.8; expected one of the axes 1 0 0, 0 1 0, 0 0 1"),
    ('name="neck_y" joint="neck" gear="0 1 0"', 'name="neck_y" joint="neck" gear="1 0 0"',
     "ball joint 'neck' has two actuators on one axis"),
])
def test_ball_joints_that_cannot_be_driven_stop_with_one_line(tmp_path, old, new, message):
    text = open(BALL).read()
    assert text.count(old) == 1, old
    path = tmp_path / "variant.xml"
    path.write_text(text.replace(old, new))
    with pytest.raises(ValueError, match=re.escape(message)):
        build_engine(ENGINE, str(path), 1)
