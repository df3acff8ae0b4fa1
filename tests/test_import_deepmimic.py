"""The DeepMimic importer: every shipped clip converts and looks right, judged from FK."""
import json
import os
import subprocess
import sys

import mujoco
import numpy as np
import pytest
import torch

from mimickit.anim import clip_checks
from mimickit.anim import import_deepmimic as imp
from mimickit.anim.kin_char_model import KinCharModel, split_frames
from mimickit.anim.motion import LoopMode, MotionFormatError, load_motion
from mimickit.util import rotations as rot

pytest.importorskip("pybullet_data")


@pytest.fixture(scope="module")
def char():
    return KinCharModel(imp.DEFAULT_CHAR_FILE)


@pytest.fixture(scope="module")
def clips(tmp_path_factory, char):
    out = tmp_path_factory.mktemp("motions")
    paths = {c: imp.ensure_motion_file(str(out / ("humanoid_%s.pkl" % c))) for c in imp.CLIPS}
    return {c: load_motion(p) for c, p in paths.items()}


def _split(frames):
    return split_frames(torch.as_tensor(frames, dtype=torch.float32))


def test_all_fifteen_clips_import(clips, char):
    assert sorted(clips) == sorted(imp.CLIPS) and len(clips) == 15
    for name, m in clips.items():
        assert m.frame_size == char.frame_size, name
        assert m.num_frames > 10 and 15.0 <= m.fps <= 60.0, name


@pytest.mark.parametrize("clip", imp.CLIPS)
def test_clip_rests_on_ground(clips, char, clip):
    lowest_per_frame = clip_checks.lowest_points(char, clips[clip].frames)
    assert lowest_per_frame.min() >= -0.03, "a geom sinks below -3 cm"
    assert abs(lowest_per_frame.min()) <= 0.05, "the clip's lowest point is not near the ground"


@pytest.mark.parametrize("clip", imp.CLIPS)
def test_clip_respects_joint_limits(clips, char, clip):
    _, _, dof = _split(clips[clip].frames)
    excess = clip_checks.limit_excess(char, clips[clip].frames)  # [T, 28], in MuJoCo's joint coordinates
    hinge_angles = char.dof_to_sim(dof.double())
    assert excess.max() <= 0.05, "joint %s exceeds its limit by %.3f rad" % (
        char.sim_dof_names()[int(excess.max(dim=0).values.argmax())], excess.max())
    # the hinge angles reproduce the clip's rotations, so the check is about the real pose
    back = char.sim_to_dof(hinge_angles)
    assert rot.quat_diff_angle(char.dof_to_local_rot(back), char.dof_to_local_rot(dof.double())).max() < 1e-5


def test_walk_is_upright(clips, char):
    root_pos, root_rot, dof = _split(clips["walk"].frames[:1])
    body_pos, _ = char.forward_kinematics(root_pos, root_rot, dof)
    head_above_pelvis = body_pos[0, char.body_id("head"), 2] - body_pos[0, char.body_id("pelvis"), 2]
    assert head_above_pelvis > 0.4
    # walking goes forward along +x with z up: the root advances and stays at hip height
    first, last = clips["walk"].frames[0], clips["walk"].frames[-1]
    assert last[0] - first[0] > 0.5 and 0.7 < first[2] < 1.0


def test_fk_matches_mujoco_on_a_clip(clips, char):
    root_pos, root_rot, dof = split_frames(torch.as_tensor(clips["spinkick"].frames, dtype=torch.float64))
    body_pos, _ = char.forward_kinematics(root_pos, root_rot, dof)
    qpos = char.dof_to_qpos(root_pos, root_rot, dof)
    model = char.mjcf_model
    data = mujoco.MjData(model)
    worst = 0.0
    for t in range(qpos.shape[0]):
        data.qpos[:] = qpos[t].numpy()
        mujoco.mj_kinematics(model, data)
        worst = max(worst, float(np.abs(data.xpos[1:] - body_pos[t].numpy()).max()))
    assert worst < 1e-4


def test_loop_modes_follow_source(clips):
    assert clips["walk"].loop_mode == LoopMode.WRAP
    assert clips["getup_faceup"].loop_mode == LoopMode.CLAMP


def test_frame_change_is_exact_for_a_known_pose(tmp_path, char):
    # a synthetic DeepMimic frame: root yawed 90 degrees about y-up, right knee bent by -1 rad
    frame = [1.0 / 30, 0.1, 0.9, 0.2, np.cos(np.pi / 4), 0.0, np.sin(np.pi / 4), 0.0]
    for _, width, dst in imp.DM_JOINTS:
        frame += ([-1.0] if dst == "right_knee" else [0.0]) if width == 1 else [1.0, 0.0, 0.0, 0.0]
    src = tmp_path / "synthetic.txt"
    src.write_text(json.dumps({"Loop": "none", "Frames": [frame, frame]}))
    motion, shift = imp.import_clip(str(src), char, fix_ground=False)
    assert shift == 0.0
    f = motion.frames[0]
    np.testing.assert_allclose(f[:3], [0.1, -0.2, 0.9], atol=1e-6)  # (x, y, z)_dm -> (x, -z, y)
    np.testing.assert_allclose(f[3:6], [0.0, 0.0, np.pi / 2], atol=1e-6)  # yaw about y_dm is yaw about z
    knee = [j for j in char.joints if j.name == "right_knee"][0]
    assert f[6 + knee.dof_offset] == pytest.approx(1.0, abs=1e-6)  # axis (0,1,0) = -R z_dm flips the sign


def test_bad_source_files_are_named(tmp_path, char):
    bad = tmp_path / "short.txt"
    bad.write_text(json.dumps({"Loop": "wrap", "Frames": [[0.033, 1, 2, 3]]}))
    with pytest.raises(MotionFormatError, match="short.txt.*Frames.*44"):
        imp.import_clip(str(bad), char)
    with pytest.raises(FileNotFoundError, match="humanoid_nosuchclip.pkl"):
        imp.ensure_motion_file(str(tmp_path / "humanoid_nosuchclip.pkl"))


def test_cli_writes_a_loadable_clip(tmp_path):
    src = os.path.join(imp.deepmimic_motion_dir(), "humanoid3d_walk.txt")
    out = tmp_path / "walk.pkl"
    res = subprocess.run([sys.executable, "-m", "mimickit.anim.import_deepmimic", src, str(out)],
                         capture_output=True, text=True, cwd=imp.REPO_ROOT)
    assert res.returncode == 0, res.stderr
    assert "39 frames" in res.stdout
    assert load_motion(str(out)).num_frames == 39
