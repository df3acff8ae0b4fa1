"""Which starts a policy falls from: the test protocol, with each episode's start clip kept.

    python -m mimickit.learning.falls_by_clip --arg_file args/ase_humanoid_upright_args.txt \\
        --model_file data/models/ase_humanoid_upright.pt --episodes 1024 --seed 101

Episodes are played as ``BaseAgent.test`` plays them (deterministic policy; every env reset in each
round and only its first episode counted, so falls are not counted first), on the CPU engine unless
told. A motion env starts each episode at a dataset frame: its clip and clip time are read at the
reset, and the table gives, per clip, the starts, the episodes that ended before the time limit, and
when they ended. An env that starts some episodes standing (``init_pose_prob``) is refused: those starts
belong to no clip.
"""
import argparse
import os
import sys
from collections import namedtuple

import torch

from mimickit.envs.base_env import DoneFlags

# one per episode: clip index, clip time at the start (s), episode length (s), reached the time limit
StartOutcome = namedtuple("StartOutcome", "clip start_time length full")


@torch.no_grad()
def play_from_starts(env, agent, num_episodes):
    """num_episodes test episodes of agent on env (a motion env) -> [StartOutcome]."""
    if env.config.get("init_pose_prob", 0.0) > 0:
        raise ValueError("falls_by_clip: the env starts %.0f%% of its episodes standing (init_pose_prob), which "
                         "belong to no clip; use an env config with init_pose_prob 0"
                         % (100 * env.config["init_pose_prob"]))
    agent.model.eval()
    env.set_mode("test")
    out, n = [], env.num_envs
    while len(out) < num_episodes:
        obs, _ = env.reset()
        clips, starts = env.get_motion_ids().cpu(), env.motion_times().cpu()  # [N]
        counted = min(num_episodes - len(out), n)
        running = torch.arange(n) < counted  # [N] envs in their counted episode
        env.count_episodes_of(running.to(env.device))
        length, full = torch.zeros(n), torch.zeros(n, dtype=torch.bool)
        steps = 0
        while bool(running.any()):
            action, _ = agent.model.act(obs, deterministic=True)
            obs, _, done, _ = env.step(action)
            steps += 1
            done = done.cpu()
            ended = running & (done != DoneFlags.NULL)
            length[ended] = steps * env.dt
            full |= ended & (done == DoneFlags.TIME)
            running &= ~ended
        out += [StartOutcome(int(clips[i]), float(starts[i]), float(length[i]), bool(full[i])) for i in range(counted)]
    env.check_errors()
    return out


def table(outcomes, clip_names):
    """[StartOutcome], clip names -> rows (name, starts, falls, fall share, latest fall (s)), most falls first;
    "falls" are episodes that ended before the time limit."""
    rows = []
    for c, name in enumerate(clip_names):
        mine = [o for o in outcomes if o.clip == c]
        falls = [o.length for o in mine if not o.full]
        if mine:
            rows.append((name, len(mine), len(falls), len(falls) / len(mine), max(falls, default=float("nan"))))
    return sorted(rows, key=lambda r: (-r[2], r[0]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arg_file", required=True, help="the arg file naming env, agent and motion (run.py's)")
    p.add_argument("--model_file", required=True)
    p.add_argument("--engine_config", default="data/engines/mujoco_engine.yaml")
    p.add_argument("--num_envs", type=int, default=32)
    p.add_argument("--episodes", type=int, default=256)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from mimickit.run import player_from_arg_file, seed_everything
    seed_everything(args.seed)
    env, agent = player_from_arg_file(args.arg_file, args.model_file, args.num_envs, args.engine_config)
    outcomes = play_from_starts(env, agent, args.episodes)
    names = [os.path.splitext(os.path.basename(f))[0] for f in env.motion_lib.motion_files]
    env.close()
    full = sum(o.full for o in outcomes)
    print("episodes=%d full=%d (%.1f%%)" % (len(outcomes), full, 100.0 * full / len(outcomes)))
    print("%-24s %6s %6s %7s %14s" % ("start clip", "starts", "falls", "share", "latest fall (s)"))
    for name, starts, falls, share, latest in table(outcomes, names):
        print("%-24s %6d %6d %6.0f%% %14.2f" % (name, starts, falls, 100 * share, latest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
