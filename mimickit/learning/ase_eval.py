"""Rollouts of an ASE policy under chosen latents, and how different its skills are.

    python -m mimickit.learning.ase_eval --model_file data/models/ase_humanoid_upright.pt \\
        [--num_latents 16 --runs 3 --seconds 5 --figure paths.png --over_time]

Diversity: ``num_latents`` random latents, each run ``runs`` times for ``seconds`` from the same standing
start (the character's initial pose, at rest) with the stochastic policy, on the CPU engine. The
distance between two runs a and b is

    mean over time of |p_a(t) - p_b(t)|  (m: the root's ground-plane position relative to the start, in the
                                          start's heading frame)
  + mean over time and movable joints of the angle between the two joint rotations (rad)

and the figure is the mean distance between runs of *different* latents over the mean distance between
runs of the *same* latent: how much more the latent decides than the policy's own noise. The
notebook 06 uses the same rollouts to play and plot latents.
"""
import argparse
import math
import os
import sys
from collections import namedtuple

import torch

from mimickit.util import rotations as rot

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV_CFG = os.path.join(REPO_ROOT, "data", "envs", "ase_humanoid_env.yaml")
AGENT_CFG = os.path.join(REPO_ROOT, "data", "agents", "ase_humanoid_agent.yaml")
ENGINE_CFG = os.path.join(REPO_ROOT, "data", "engines", "mujoco_engine.yaml")
FALLEN_ROOT_M = 0.5  # a run whose root drops below this has fallen (standing: ~0.9 m)
OVER_TIME_S = (0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 20.0)  # divergence_over_time's times, those within a rollout

# [T + 1, N, ...] of every env, the start included: root_pos [3], root_rot [4] xyzw, joint_rot [J, 4] local
# rotations of the movable joints, frames [6 + num_dofs] (MimicKit motion frames), body_pos [B, 3] and
# body_rot [B, 4] (world, for playback in a CharViewer)
LatentRollout = namedtuple("LatentRollout", "root_pos root_rot joint_rot frames body_pos body_rot dt")


def build_latent_env(num_envs, seconds, env_config=ENV_CFG, engine_config=ENGINE_CFG, device="cpu"):
    """An ASE env for rollouts of `seconds`: no early termination and no time limit inside them, so each
    env runs one uninterrupted episode."""
    from mimickit.envs.env_builder import build_env
    return build_env(env_config, engine_config, num_envs, device,
                     overrides={"enable_early_termination": False, "episode_length": float(seconds) + 1.0})


def standing_start(env):
    """Reset every env, then put each character in its initial pose at rest (the same start for all);
    -> obs [N, obs_dim]."""
    env.reset()
    ids = torch.arange(env.num_envs, device=env.device)
    env.set_char_state(ids, *env._initial_state(env.num_envs))
    return env.get_obs()


def rollout_latents(agent, latents, seconds, stochastic=False, start="standing"):
    """Run the envs of agent.env for `seconds` with latents [N, latent_dim] held (one per env) -> LatentRollout.
    start: "standing" (standing_start) or "dataset" (the env's reset: a random dataset frame)."""
    env = agent.env
    env.set_latent(None, latents)
    obs = standing_start(env) if start == "standing" else env.reset()[0]
    agent.model.eval()
    km, ids = env.char_model, [j.body_id for j in env.char_model.movable_joints]
    fields = ("root_pos", "root_rot", "joint_rot", "frames", "body_pos", "body_rot")
    out = {k: [] for k in fields}

    def record():
        e = env.engine
        out["root_pos"].append(e.get_root_pos().clone())
        out["root_rot"].append(e.get_root_rot().clone())
        out["joint_rot"].append(km.dof_to_local_rot(km.sim_to_dof(e.get_dof_pos()))[:, ids])
        out["frames"].append(env.motion_frames())
        out["body_pos"].append(e.get_body_pos().clone())
        out["body_rot"].append(e.get_body_rot().clone())

    record()
    with torch.no_grad():
        for _ in range(int(round(seconds / env.dt))):
            action, _ = agent.model.act(obs, deterministic=not stochastic)
            obs, _, _, _ = env.step(action)
            record()
    env.release_latent()
    return LatentRollout(*[torch.stack(out[k]) for k in fields], env.dt)


def great_circle(a, b, t):
    """The latent a fraction t in [0, 1] of the way from unit latent a [D] to b [D] along the great circle
    (spherical interpolation; every point is a unit vector)."""
    cos = float((a * b).sum().clamp(-1.0, 1.0))
    angle = torch.acos(torch.tensor(cos))
    if float(angle) < 1e-6:
        return a.clone()
    if float(angle) > math.pi - 1e-4:
        raise ValueError("great_circle: a and b are opposite; no single great circle joins them")
    return (torch.sin((1 - t) * angle) * a + torch.sin(t * angle) * b) / torch.sin(angle)


def speed_and_height(r):
    """-> root speed over the ground [T, N] (m/s, between frames) and root height [T + 1, N] (m) of a rollout."""
    speed = (r.root_pos[1:, :, :2] - r.root_pos[:-1, :, :2]).norm(dim=-1) / r.dt
    return speed, r.root_pos[..., 2]


def ground_path(r):
    """[T + 1, N, 2]: each env's root over the ground relative to its start, in the start's heading frame."""
    heading_inv = rot.heading_quat_inv(r.root_rot[0])  # [N, 4]
    rel = r.root_pos - r.root_pos[0]
    return rot.quat_rotate(heading_inv.expand(rel.shape[0], -1, -1), rel)[..., :2]


def quat_angle(a, b):
    """Angle (rad) of the rotation between unit quaternions a and b [..., 4]."""
    return 2.0 * torch.acos((a * b).sum(-1).abs().clamp(max=1.0))


def run_distance_parts(r):
    """-> ([N, N] mean ground-path distance in m, [N, N] mean joint rotation angle difference in rad) between
    every two envs of a rollout."""
    path = ground_path(r)  # [T + 1, N, 2]
    pos = (path.unsqueeze(2) - path.unsqueeze(1)).norm(dim=-1).mean(0)  # [N, N]
    jr = r.joint_rot  # [T + 1, N, J, 4]
    ang = quat_angle(jr.unsqueeze(2), jr.unsqueeze(1)).mean(dim=(0, 3))  # [N, N]
    return pos, ang


def run_distances(r):
    """-> [N, N] the run distance (module docstring) between every two envs of a rollout."""
    pos, ang = run_distance_parts(r)
    return pos + ang


def _run_pairs(latent_of_env):
    """latent_of_env [N] -> [N, N] masks of the pairs of runs (each once) of the same latent and of different ones."""
    pair = torch.ones(len(latent_of_env), len(latent_of_env), dtype=torch.bool).triu(1)
    same_latent = latent_of_env.unsqueeze(1) == latent_of_env.unsqueeze(0)
    return pair & same_latent, pair & ~same_latent


def divergence_over_time(result, times=OVER_TIME_S):
    """When and how runs part, from a diversity() result: for each time t (s) within the rollout -> a row (t,
    mean ground distance at t between runs of the same latent and between runs of different latents (m), and
    the same two means of the heading difference at t (deg)). Runs of one latent part only through the
    policy's noise; a heading difference, once there, grows into a path difference, as nothing in the policy's
    heading-relative observation turns it back."""
    r = result["rollout"]
    same, diff = _run_pairs(result["latent_of_env"])
    path, heading = ground_path(r).cpu(), rot.calc_heading(r.root_rot).cpu()  # [T + 1, N, 2], [T + 1, N]
    rows = []
    for t in times:
        i = int(round(t / r.dt))
        if i >= path.shape[0]:
            continue  # after the rollout's end
        dist = (path[i].unsqueeze(1) - path[i].unsqueeze(0)).norm(dim=-1)  # [N, N]
        turn = rot.wrap_to_pi(heading[i].unsqueeze(1) - heading[i].unsqueeze(0)).abs()  # [N, N]
        rows.append((i * r.dt, float(dist[same].mean()), float(dist[diff].mean()),
                     math.degrees(float(turn[same].mean())), math.degrees(float(turn[diff].mean()))))
    return rows


def diversity(agent, num_latents=16, runs=3, seconds=5.0, seed=0):
    """num_latents random latents, each run `runs` times (the envs of agent.env: num_latents * runs of them)
    -> {same, different, ratio: the mean run distance between runs of one latent and of different ones, and their
    quotient; same_path, different_path (m) and same_joint, different_joint (rad): the two parts of each;
    lowest_root [N] (m): each run's lowest root height; rollout; latent_of_env [N]}."""
    from mimickit.envs.ase_env import sample_unit_latents
    env = agent.env
    if env.num_envs != num_latents * runs:
        raise ValueError("diversity: the env needs num_latents * runs = %d envs; it has %d"
                         % (num_latents * runs, env.num_envs))
    torch.manual_seed(seed)
    z = sample_unit_latents(num_latents, env.latent_dim, env.device)
    latent_of_env = torch.arange(num_latents).repeat_interleave(runs)  # [N]: envs k*runs .. k*runs+runs-1
    r = rollout_latents(agent, z[latent_of_env.to(env.device)], seconds, stochastic=True)
    pos, ang = (x.cpu() for x in run_distance_parts(r))  # [N, N] each
    same_pairs, diff_pairs = _run_pairs(latent_of_env)
    out = {"same_path": float(pos[same_pairs].mean()), "different_path": float(pos[diff_pairs].mean()),
           "same_joint": float(ang[same_pairs].mean()), "different_joint": float(ang[diff_pairs].mean())}
    s = out["same_path"] + out["same_joint"]  # the mean of the run distances: the sum of the means of its parts
    d = out["different_path"] + out["different_joint"]
    out.update(same=s, different=d, ratio=d / s if s > 0 else float("inf"), rollout=r, latent_of_env=latent_of_env,
               lowest_root=r.root_pos[..., 2].min(dim=0).values.cpu())
    return out


def plot_paths(result, runs, path=None, ax=None):
    """The root paths of a diversity() result, one colour per latent."""
    import matplotlib.pyplot as plt
    xy = ground_path(result["rollout"]).cpu()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 6))
    cmap = plt.get_cmap("tab20")
    for env_id, k in enumerate(result["latent_of_env"].tolist()):
        ax.plot(xy[:, env_id, 0], xy[:, env_id, 1], color=cmap(k % 20), lw=1.2,
                label="latent %d" % k if env_id % runs == 0 else None)
    ax.plot([0], [0], "ko", ms=5)
    ax.set(xlabel="forward (m)", ylabel="left (m)", aspect="equal",
           title="root paths: %d latents x %d runs (same colour: same latent)" % (len(set(result["latent_of_env"].tolist())), runs))
    ax.legend(fontsize=6, ncol=2, loc="best")
    if path:
        ax.figure.savefig(path, dpi=120, bbox_inches="tight")
    return ax


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model_file", required=True)
    p.add_argument("--agent_config", default=AGENT_CFG)
    p.add_argument("--env_config", default=ENV_CFG)
    p.add_argument("--engine_config", default=ENGINE_CFG)
    p.add_argument("--num_latents", type=int, default=16)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--figure", default=None, help="save the root paths here (PNG)")
    p.add_argument("--over_time", action="store_true",
                   help="also print how far runs of one latent and of different latents are apart over time")
    args = p.parse_args(argv)
    env = build_latent_env(args.num_latents * args.runs, args.seconds, args.env_config, args.engine_config)
    from mimickit.learning.agent_builder import load_player
    agent = load_player(args.agent_config, env, args.model_file)
    result = diversity(agent, args.num_latents, args.runs, args.seconds, args.seed)
    print("latents=%d runs=%d seconds=%g same_latent_dist=%.3f different_latent_dist=%.3f ratio=%.2f"
          % (args.num_latents, args.runs, args.seconds, result["same"], result["different"], result["ratio"]))
    print("  ground path (m): same %.3f different %.3f; joint angle (rad): same %.3f different %.3f; lowest root"
          " %.2f m, %d of %d runs below %.1f m" % (result["same_path"], result["different_path"], result["same_joint"],
                                                  result["different_joint"], float(result["lowest_root"].min()),
                                                  int((result["lowest_root"] < FALLEN_ROOT_M).sum()),
                                                  len(result["lowest_root"]), FALLEN_ROOT_M))
    if args.over_time:
        print("  over time: t (s), ground distance (m) same / different latent, heading difference (deg) same / "
              "different latent")
        for row in divergence_over_time(result):
            print("  %5.2f  %6.3f / %6.3f  %5.1f / %5.1f" % row)
    if args.figure:
        import matplotlib
        matplotlib.use("Agg")
        plot_paths(result, args.runs, args.figure)
        print("figure:", args.figure)
    env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
