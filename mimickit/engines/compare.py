"""Sim-to-sim agreement of two engines: both drive the same character towards the same random PD
targets from the same start, and the largest state differences are recorded."""
import torch


def max_state_diff(engine_a, engine_b, steps, seed=0, hold=10):
    """Steps both engines `steps` control steps, drawing new targets in the middle 30% of each
    joint's range every `hold` steps; -> {"root_pos", "dof_pos", "body_pos": max abs difference}."""
    gen = torch.Generator().manual_seed(seed)
    lim = engine_b.get_dof_limits().cpu()  # [D, 2]
    n, d = engine_b.num_envs, engine_b.num_dofs
    worst = {"root_pos": 0.0, "dof_pos": 0.0, "body_pos": 0.0}
    for i in range(steps):
        if i % hold == 0:
            target = lim[:, 0] + (lim[:, 1] - lim[:, 0]) * (0.35 + 0.3 * torch.rand(n, d, generator=gen))
        for engine in (engine_a, engine_b):
            engine.set_cmd(target.to(engine.device))
            engine.step()
        for name in worst:
            a, b = getattr(engine_a, "get_" + name)().cpu(), getattr(engine_b, "get_" + name)().cpu()
            worst[name] = max(worst[name], (a - b).abs().max().item())
    return worst
