"""Two probes of a tracking policy (BENCHMARKS.md, "DeepMimic vs ADD"), both on the CPU engine, both from the
run's arg file and actor:

    python tools/tracking_probes.py breakdown --arg_file args/compare/add_walk_gpu_args.txt --model_file RUNS/add_walk/model_actor.pt
    python tools/tracking_probes.py disc --arg_file args/compare/add_spinkick_gpu_args.txt --model_file RUNS/add_spinkick/model_actor.pt

breakdown: where the tracking error comes from. Deterministic rollouts from the clip's start (no random
reset, early termination as the env has it); per step, averaged over envs and steps: the tracking error
(mean body distance to the reference, as the env logs it), the root's ground-plane distance from the
reference root, the bodies' error about their own root (each side's body positions minus its root), and the
heading difference. Any tracking env (DeepMimic's too).

disc (ADD): does a discriminator rank the policy's own states by tracking error, however it is trained? The
policy (stochastic actions, as in training) plays; its differential observations are split in half. Fresh
discriminators (the agent config's network) learn the first half against the zero difference with Adam (as
our agent trains D) or with SGD and momentum (as the ADD authors' implementation does: momentum 0.9, loss
weighted 5), for several numbers of steps; each is judged on the second half by the rank correlation of its
reward with the tracking error.
"""
import argparse
import copy
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def train_fresh_disc(disc, fake, optimizer, steps, batch, penalty=1.0):
    """A copy of disc with new weights trained on fake [S, F] (raw differences) against zeros -> the copy."""
    import torch

    from mimickit.learning.discriminator import disc_loss, gradient_penalty
    d = copy.deepcopy(disc)
    for m in d.body.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    d.out.reset_parameters()
    params = list(d.body.parameters()) + list(d.out.parameters())
    opt, weight = ((torch.optim.Adam(params, lr=1e-4), 1.0) if optimizer == "adam"
                   else (torch.optim.SGD(params, lr=1e-4, momentum=0.9), 5.0))
    for _ in range(steps):
        x_fake = d.obs_norm.normalize(fake[torch.randint(0, len(fake), (batch,))]).requires_grad_(True)
        d_fake = d(x_fake)
        loss = (disc_loss("logistic", d(torch.zeros(1, fake.shape[1])), d_fake) + penalty * gradient_penalty(d_fake, x_fake)
                + 0.01 * d.logit_weights().pow(2).sum() + 1e-4 * sum(w.pow(2).sum() for w in d.weight_matrices()))
        opt.zero_grad()
        (weight * loss).backward()
        opt.step()
    return d


def breakdown(env, agent, steps):
    """-> {tracking, drift, about_root, heading}: means over envs and steps of deterministic play."""
    import torch

    from mimickit.util import rotations as rot
    obs, _ = env.reset()
    sums = dict(tracking=0.0, drift=0.0, about_root=0.0, heading=0.0)
    with torch.no_grad():
        for _ in range(steps):
            obs, _, _, info = env.step(agent.model.act(obs, deterministic=True)[0])
            ref, e = env.ref_frame(), env.engine
            root, body = e.get_root_pos(), e.get_body_pos()  # [N, 3], [N, B, 3]
            about = (body - root[:, None]) - (ref.body_pos - ref.root_pos[:, None])
            turn = rot.calc_heading(e.get_root_rot()) - rot.calc_heading(ref.root_rot)
            sums["tracking"] += float(info["tracking_error_m"].mean())
            sums["drift"] += float((root - ref.root_pos)[:, :2].norm(dim=-1).mean())
            sums["about_root"] += float(about.norm(dim=-1).mean())
            sums["heading"] += float(torch.atan2(torch.sin(turn), torch.cos(turn)).abs().mean())
    m = {k: v / steps for k, v in sums.items()}
    print("tracking_error_m=%.3f root_drift_m=%.3f body_error_about_root_m=%.3f heading_error_rad=%.2f"
          % (m["tracking"], m["drift"], m["about_root"], m["heading"]))
    return m


def disc_probe(env, agent, steps, disc_steps, batch):
    """-> {(optimizer, disc steps): rank correlation of the fresh D's reward with the tracking error}."""
    import torch

    from mimickit.learning.discriminator import rank_correlation, style_reward
    obs, _ = env.reset()
    diffs, errors = [], []
    with torch.no_grad():
        for _ in range(steps):
            obs, _, _, info = env.step(agent.model.act(obs)[0])
            diffs.append(info["disc_obs"].clone())
            errors.append(info["tracking_error_m"].clone())
    diffs, errors = torch.cat(diffs), torch.cat(errors)  # [S, F], [S]
    print("states=%d tracking_error_mean=%.3f q10=%.3f q90=%.3f" % (len(errors), errors.mean(), errors.quantile(0.1),
                                                                    errors.quantile(0.9)))
    agent.disc.obs_norm.update(diffs)
    half = torch.randperm(len(errors))
    train, test = half[: len(errors) // 2], half[len(errors) // 2:]
    results = {}
    for n in disc_steps:
        for optimizer in ("adam", "sgd"):
            d = train_fresh_disc(agent.disc, diffs[train], optimizer, n, batch)
            with torch.no_grad():
                reward = style_reward("logistic", d.output(diffs[test]))
            results[(optimizer, n)] = rank_correlation(reward, errors[test])
            print("optimizer=%s disc_steps=%d reward_mean=%.3f reward_std=%.3f rank_corr=%.3f"
                  % (optimizer, n, reward.mean(), reward.std(), results[(optimizer, n)]))
    return results


def main(argv=None):
    import torch

    from mimickit.run import player_from_arg_file
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("probe", choices=("breakdown", "disc"))
    p.add_argument("--arg_file", required=True, help="the run's arg file (env, agent config, motion file)")
    p.add_argument("--model_file", required=True)
    p.add_argument("--num_envs", type=int, default=None, help="default: 16 (breakdown), 64 (disc)")
    p.add_argument("--steps", type=int, default=None, help="default: 300 (breakdown), 150 (disc)")
    p.add_argument("--disc_steps", type=int, nargs="+", default=[100, 400, 1600])
    p.add_argument("--batch", type=int, default=2048)
    a = p.parse_args(argv)
    torch.manual_seed(0)
    os.chdir(ROOT)  # the arg file's paths are from the repository root
    first = a.probe == "breakdown"
    num_envs = a.num_envs or (16 if first else 64)
    overrides = {"rand_reset": False} if first else {}
    env, agent = player_from_arg_file(a.arg_file, a.model_file, num_envs, **overrides)
    try:
        if first:
            return breakdown(env, agent, a.steps or 300)
        return disc_probe(env, agent, a.steps or 150, a.disc_steps, a.batch)
    finally:
        env.close()


if __name__ == "__main__":
    main()
