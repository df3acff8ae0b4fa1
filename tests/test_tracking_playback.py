"""mimickit.viz.tracking_playback: a tracking policy played beside its reference (notebooks 04 and 07)."""
import html as html_lib
import os

import torch

from mimickit.learning.agent_builder import build_agent, load_player
from mimickit.viz.tracking_playback import beside_reference_html, build_playback_env, play_beside_reference

from conftest import REPO_ROOT, decode_commands

ENV_FILE = os.path.join(REPO_ROOT, "data", "envs", "deepmimic_humanoid_env.yaml")
AGENT_FILE = os.path.join(REPO_ROOT, "data", "agents", "deepmimic_humanoid_ppo_agent.yaml")
WALK_MODEL = os.path.join(REPO_ROOT, "data", "models", "deepmimic_humanoid_walk_ppo.pt")
CHAR_FILE = os.path.join(REPO_ROOT, "data", "assets", "humanoid", "humanoid.xml")


def test_shipped_walk_plays_beside_its_reference_from_the_clip_start():
    """30 steps: the character starts on the reference's first frame and stays within 0.1 m of it (measured:
    0.079 m at most, as it gets going from the first frame); every pose, reward and error is recorded, the
    start included."""
    torch.manual_seed(0)
    env = build_playback_env(ENV_FILE)
    agent = load_player(AGENT_FILE, env, WALK_MODEL)
    p = play_beside_reference(agent, env, 30)
    clip_start = env.motion_lib.calc_motion_frame(torch.zeros(1, dtype=torch.long), torch.zeros(1))
    env.close()
    num_bodies = p.sim_pos.shape[1]
    assert p.sim_pos.shape == p.ref_pos.shape == (31, num_bodies, 3)
    assert p.sim_rot.shape == p.ref_rot.shape == (31, num_bodies, 4)
    assert p.reward.shape == p.tracking_error.shape == (30,)
    assert torch.allclose(p.ref_pos[0], clip_start.body_pos[0], atol=1e-5)  # the clip's first frame
    assert (p.sim_pos[0] - p.ref_pos[0]).norm(dim=-1).max() < 1e-3  # started on the reference
    assert float(p.tracking_error.max()) < 0.1 and float(p.reward.min()) > 0.5
    assert p.ref_offset.tolist() == [0.0, 1.5, 0.0]


def test_a_fall_plays_to_the_end_and_the_animation_holds_both_characters():
    """An untrained policy falls, and playback goes on past it (no early or pose termination): its error
    grows far beyond any termination distance. The animation keys both characters on every third frame."""
    torch.manual_seed(0)
    env = build_playback_env(ENV_FILE)
    agent = build_agent(AGENT_FILE, env)  # untrained
    p = play_beside_reference(agent, env, 60)
    env.close()
    assert p.tracking_error.shape == (60,)
    assert float(p.sim_pos[-1, 0, 2]) < 0.5 and float(p.tracking_error[-1]) > 0.3  # on the ground, left behind
    page = beside_reference_html(p, CHAR_FILE, frame_step=3, height=300).data
    cmds = decode_commands(html_lib.unescape(page))
    objects = set(c["path"] for c in cmds if c["type"] == "set_object")
    assert any(o.startswith("/meshcat/sim/") for o in objects) and any(o.startswith("/meshcat/ref/") for o in objects)
    anims = [c for c in cmds if c["type"] == "set_animation"]
    clips = {a["path"]: a["clip"] for a in anims[0]["animations"]}
    assert any(k.startswith("/meshcat/sim/") for k in clips) and any(k.startswith("/meshcat/ref/") for k in clips)
    assert all(len(t["keys"]) == 21 for c in clips.values() for t in c["tracks"])  # frames 0, 3, ..., 60
