"""Returns and advantages: TD(lambda) / GAE over a rollout of T steps from N envs.

    delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
    A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
    R_t     = A_t + V(s_t)        (the TD(lambda) return, the critic's target)

done_t = terminated_t or truncated_t ends the recursion at an episode boundary. A terminated
episode (a fall) has no future, so V(s_{t+1}) is dropped; a truncated one (time limit) still has
one, so it bootstraps from V of the final observation (next_values holds it).
"""
import torch


def compute_gae(rewards, values, next_values, terminated, truncated, gamma, lam):
    """All inputs [T, N]; terminated / truncated are bool. -> (advantages [T, N], returns [T, N])."""
    not_terminated = (~terminated).to(rewards.dtype)
    not_done = (~(terminated | truncated)).to(rewards.dtype)
    deltas = rewards + gamma * next_values * not_terminated - values
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = deltas[t] + gamma * lam * not_done[t] * running
        advantages[t] = running
    return advantages, advantages + values
