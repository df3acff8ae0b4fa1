"""A tracking policy (DeepMimic, ADD) played beside its reference, for notebooks and reports.

One env starts at the beginning of the clip (``rand_reset: false``) with early and pose termination off, so
the whole motion shows, a fall included. Each step records the simulated bodies and the reference's, the
reward and the tracking error; ``beside_reference_html`` turns that into a self-contained meshcat animation,
the reference a translucent blue ghost offset sideways by the env's ``ref_char_offset``.

    env = build_playback_env("data/envs/add_humanoid_env.yaml", motion_file="data/motions/humanoid/humanoid_backflip.pkl")
    agent = load_player("data/agents/add_humanoid_agent.yaml", env, MODEL)
    playback = play_beside_reference(agent, env, steps=150)
    display(beside_reference_html(playback, "data/assets/humanoid/humanoid.xml"))
"""
import os
from collections import namedtuple

import torch

# sim_pos, ref_pos [T + 1, B, 3] and sim_rot, ref_rot [T + 1, B, 4] (world, xyzw) of env env_id, the start
# included; reward and tracking_error [T] (m, mean body distance) after each step; dt (s) a step; ref_offset [3]
TrackingPlayback = namedtuple("TrackingPlayback",
                              "sim_pos sim_rot ref_pos ref_rot reward tracking_error dt ref_offset")

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENGINE_FILE = os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml")


def build_playback_env(env_file, engine_file=ENGINE_FILE, num_envs=1, motion_file=None):
    """A tracking env for playback: from the clip's start, never cut short by a fall."""
    from mimickit.envs.env_builder import build_env
    overrides = {"rand_reset": False, "enable_early_termination": False, "pose_termination": False}
    if motion_file:
        overrides["motion_file"] = motion_file
    return build_env(env_file, engine_file, num_envs, overrides=overrides)


def play_beside_reference(agent, env, steps, env_id=0, deterministic=True):
    """Reset env, run agent's policy for `steps` control steps -> TrackingPlayback of env env_id."""
    def bodies():
        ref = env.ref_frame()
        return (env.engine.get_body_pos()[env_id].clone(), env.engine.get_body_rot()[env_id].clone(),
                ref.body_pos[env_id].clone(), ref.body_rot[env_id].clone())

    agent.model.eval()
    obs, _ = env.reset()
    frames, reward, error = [bodies()], [], []
    with torch.no_grad():
        for _ in range(steps):
            action, _ = agent.model.act(obs, deterministic=deterministic)
            obs, r, _, info = env.step(action)
            frames.append(bodies())
            reward.append(float(r[env_id]))
            error.append(float(info["tracking_error_m"][env_id]))
    sim_pos, sim_rot, ref_pos, ref_rot = (torch.stack(x).cpu() for x in zip(*frames))
    offset = torch.tensor(env.config["ref_char_offset"], dtype=torch.float32)
    return TrackingPlayback(sim_pos, sim_rot, ref_pos, ref_rot, torch.tensor(reward), torch.tensor(error),
                            env.dt, offset)


def beside_reference_html(playback, char_file, frame_step=1, height=450):
    """A meshcat animation (IPython HTML) of the simulated character and, offset sideways, its reference;
    every frame_step-th frame, slowed down to keep real time. The camera looks between the two."""
    from mimickit.viz.char_viewer import REFERENCE_GHOST, CharViewer
    p, offset = playback, playback.ref_offset
    center = torch.cat([p.sim_pos[:, 0], p.ref_pos[:, 0]]).mean(dim=0) * torch.tensor([1.0, 1.0, 0.0])
    center = center + 0.5 * offset
    with CharViewer() as viewer:  # a short-lived viewer, closed at the end of the block
        viewer.add_character("sim", char_file)
        viewer.add_character("ref", char_file, offset=offset, **REFERENCE_GHOST)
        viewer.set_camera_position((0.5, -4.2, 1.0))
        return viewer.animation_html({"sim": (p.sim_pos[::frame_step] - center, p.sim_rot[::frame_step]),
                                      "ref": (p.ref_pos[::frame_step] - center, p.ref_rot[::frame_step])},
                                     fps=1.0 / (p.dt * frame_step), height=height)
