"""Engine conformance: the same tests against every engine that imports here, on our humanoid and on the
test character in MimicKit's conventions (tests/assets/humanoid_tpose.xml) and the one with ball joints
(tests/assets/humanoid_ball.xml). ``mujoco`` runs everywhere;
``mujoco_warp`` runs where Warp imports (on the GPU on the device machine, on the CPU, slowly, in CI);
``isaac_gym`` where NVIDIA Isaac Gym is installed. Each test names the engine it failed on.

    pytest tests/test_engine_conformance.py -k mujoco_warp      # one engine
"""
import importlib.util
import math

import pytest
import torch

from mimickit.anim.kin_char_model import KinCharModel
from mimickit.engines.engine_builder import build_engine

from conftest import REPO_ROOT

CHARS = {"ours": str(REPO_ROOT / "data" / "assets" / "humanoid" / "humanoid.xml"),
         "tpose": str(REPO_ROOT / "tests" / "assets" / "humanoid_tpose.xml"),
         "ball": str(REPO_ROOT / "tests" / "assets" / "humanoid_ball.xml")}
FEET = ("right_foot", "left_foot")
G = 9.81


def _available(name):
    package = {"mujoco": "mujoco", "mujoco_warp": "mujoco_warp", "isaac_gym": "isaacgym"}[name]
    return importlib.util.find_spec(package) is not None


ENGINES = [pytest.param(name, marks=pytest.mark.skipif(not _available(name), reason=name + " is not installed"))
           for name in ("mujoco", "mujoco_warp", "isaac_gym")]


@pytest.fixture(params=ENGINES)
def make(request, tmp_path):
    """make(char, num_envs, control_mode="pos") -> an engine of this test's kind."""
    name = request.param
    device = "cuda:0" if name != "mujoco" and torch.cuda.is_available() else "cpu"

    def build(char, num_envs, control_mode="pos"):
        cfg = tmp_path / ("%s_%s.yaml" % (name, control_mode))
        cfg.write_text("engine_name: %s\ncontrol_mode: %s\n" % (name, control_mode))
        return build_engine(str(cfg), CHARS[char], num_envs, device=device)
    return build


def _hold(engine, seconds):
    targets = engine.get_dof_pos().clone()
    for _ in range(int(round(seconds / engine.control_timestep))):
        engine.set_cmd(targets)
        engine.step()


@pytest.mark.parametrize("char", sorted(CHARS))
def test_state_round_trips_for_a_subset_of_envs(make, char):
    engine = make(char, 5)
    _hold(engine, 0.2)
    ids = torch.tensor([1, 3], device=engine.device)
    rest = torch.tensor([0, 2, 4], device=engine.device)
    before = {k: getattr(engine, "get_" + k)()[rest].clone() for k in ("root_pos", "dof_pos", "body_pos")}
    gen = torch.Generator().manual_seed(0)
    rnd = lambda *shape: (torch.rand(*shape, generator=gen) - 0.5).to(engine.device)
    pos = torch.tensor([[0.3, -0.2, 1.1], [1.0, 2.0, 0.95]], device=engine.device)
    quat = torch.nn.functional.normalize(rnd(2, 4) + torch.tensor([0, 0, 0, 1.0], device=engine.device), dim=-1)
    vel, ang = rnd(2, 3), 2.0 * rnd(2, 3)
    lim = engine.get_dof_limits()
    lim = torch.where(torch.isfinite(lim), lim, lim.sign())  # a ball's exp map coordinates: within +-1
    dof = lim[:, 0] + (rnd(2, engine.num_dofs) + 0.5) * (lim[:, 1] - lim[:, 0])  # inside the ranges
    dof_vel = rnd(2, engine.num_dofs)
    engine.set_root_state(ids, pos, quat, vel, ang)
    engine.set_dof_state(ids, dof, dof_vel)
    engine.refresh_after_reset()
    close = lambda a, b, tol: float((a - b).abs().max()) < tol
    assert close(engine.get_root_pos()[ids], pos, 1e-5)
    sign = torch.sign((engine.get_root_rot()[ids] * quat).sum(-1, keepdim=True))  # q and -q are one rotation
    assert close(engine.get_root_rot()[ids] * sign, quat, 1e-5)
    assert close(engine.get_root_vel()[ids], vel, 1e-5) and close(engine.get_root_ang_vel()[ids], ang, 1e-4)
    assert close(engine.get_dof_pos()[ids], dof, 1e-5) and close(engine.get_dof_vel()[ids], dof_vel, 1e-5)
    assert close(engine.get_body_pos()[ids, 0], pos, 1e-5)  # the derived body state follows the write
    for k, v in before.items():
        assert torch.equal(getattr(engine, "get_" + k)()[rest], v), k  # the other envs are untouched


@pytest.mark.parametrize("char", sorted(CHARS))
def test_pd_standing_on_the_feet_that_carry_the_weight(make, char):
    engine = make(char, 3)
    km = KinCharModel(CHARS[char])
    start = engine.get_root_pos().clone()
    _hold(engine, 2.0)
    assert float((engine.get_root_pos() - start).norm(dim=-1).max()) < 0.05
    forces = engine.get_contact_forces().cpu()  # [N, B, 3]
    feet = [km.body_id(b) for b in FEET]
    weight = float(km.body_masses.sum()) * G
    fz = forces[:, feet, 2].sum(-1)
    assert float(((fz - weight) / weight).abs().max()) < 0.05, (fz, weight)
    assert (forces[:, feet, 2] > 0).all()
    others = [b for b in range(engine.num_bodies) if b not in feet]
    assert float(forces[:, others].abs().max()) < 1e-3 * weight


@pytest.mark.parametrize("char", sorted(CHARS))
def test_torque_mode_falls_without_torque_and_turns_a_knee_with_one(make, char):
    engine = make(char, 2, "torque")
    km = KinCharModel(CHARS[char])
    assert torch.allclose(engine.get_torque_limits().cpu()[km.sim_dof_names().index("right_knee")],
                          torch.tensor(150.0))
    knee = km.sim_dof_names().index("right_knee")
    cmd = torch.zeros(2, engine.num_dofs, device=engine.device)
    cmd[1, knee] = 50.0
    engine.set_cmd(cmd)
    engine.step()
    dq = engine.get_dof_vel().cpu()
    assert float(dq[1, knee] - dq[0, knee]) > 1.0
    lowest = math.inf
    engine.set_cmd(torch.zeros_like(cmd))
    for _ in range(90):  # 3 s with no torque at all
        engine.step()
        lowest = min(lowest, float(engine.get_root_pos()[:, 2].max()))
    assert lowest < 0.5
