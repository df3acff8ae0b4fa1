"""Reference wrappers and test inputs for exercises whose student function has a simpler signature than
the library's: the library computes the answer, these only adapt the arguments."""
import torch

from mimickit.anim.motion_lib import MotionFrame
from mimickit.envs import deepmimic_env
from mimickit.util import rotations as rot

TERMS = deepmimic_env.REWARD_TERMS
FIELDS = ("root_pos", "root_rot", "root_vel", "root_ang_vel", "joint_rot", "dof_vel", "body_pos")


def _cfg(weights, scales):
    cfg = dict(deepmimic_env.DeepMimicEnv.CONFIG_KEYS)
    for t in TERMS:
        cfg["reward_%s_w" % t], cfg["reward_%s_scale" % t] = float(weights[t]), float(scales[t])
    return cfg


def deepmimic_reward_reference(sim, ref, joint_w, dof_w, key_ids, weights, scales):
    """The library's compute_deepmimic_reward on the exercise's arguments."""
    frame = MotionFrame(root_pos=ref["root_pos"], root_rot=ref["root_rot"], root_vel=ref["root_vel"],
                        root_ang_vel=ref["root_ang_vel"], joint_rot=ref["joint_rot"], dof=None,
                        dof_vel=ref["dof_vel"], body_pos=ref["body_pos"], body_rot=None)
    return deepmimic_env.compute_deepmimic_reward(_cfg(weights, scales), sim["root_pos"], sim["root_rot"],
                                                  sim["root_vel"], sim["root_ang_vel"], sim["joint_rot"],
                                                  sim["dof_vel"], sim["body_pos"], frame, joint_w, dof_w, key_ids)


def random_tracking_case(g, n=4, bodies=15, dofs=28, noise=0.1, random_weights=False):
    """(sim, ref, joint_w, dof_w, key_ids, weights, scales): ref random, sim = ref plus noise."""
    def unit(*shape):
        q = torch.randn(*shape, 4, generator=g)
        return q / q.norm(dim=-1, keepdim=True)

    ref = {"root_pos": torch.randn(n, 3, generator=g), "root_rot": unit(n), "root_vel": torch.randn(n, 3, generator=g),
           "root_ang_vel": torch.randn(n, 3, generator=g), "joint_rot": unit(n, bodies),
           "dof_vel": torch.randn(n, dofs, generator=g), "body_pos": torch.randn(n, bodies, 3, generator=g)}
    sim = {}
    for k, v in ref.items():
        if k in ("root_rot", "joint_rot"):
            turn = rot.exp_map_to_quat(noise * torch.randn(*v.shape[:-1], 3, generator=g))
            sim[k] = rot.quat_mul(turn, v)
        else:
            sim[k] = v + noise * torch.randn(v.shape, generator=g)
    joint_w = torch.rand(bodies, generator=g) if random_weights else torch.ones(bodies)
    dof_w = torch.rand(dofs, generator=g) if random_weights else torch.ones(dofs)
    key_ids = torch.tensor([5, 8, 11, 14])
    defaults = deepmimic_env.DeepMimicEnv.CONFIG_KEYS
    weights = {t: float(torch.rand((), generator=g)) if random_weights else defaults["reward_%s_w" % t] for t in TERMS}
    scales = {t: defaults["reward_%s_scale" % t] * (0.5 + float(torch.rand((), generator=g)) if random_weights else 1.0)
              for t in TERMS}
    return sim, ref, joint_w, dof_w, key_ids, weights, scales


def deepmimic_env_adapter(student_fn):
    """A drop-in for deepmimic_env.compute_deepmimic_reward that calls the student's function."""
    def reward(cfg, root_pos, root_rot, root_vel, root_ang_vel, joint_rot, joint_vel, body_pos, ref, joint_w, dof_w,
               key_ids, joint_angle_err=None):
        sim = dict(zip(FIELDS, (root_pos, root_rot, root_vel, root_ang_vel, joint_rot, joint_vel, body_pos)))
        ref_d = {k: getattr(ref, k) for k in FIELDS}
        weights = {t: float(cfg["reward_%s_w" % t]) for t in TERMS}
        scales = {t: float(cfg["reward_%s_scale" % t]) for t in TERMS}
        return student_fn(sim, ref_d, joint_w, dof_w, key_ids, weights, scales)
    return reward


def disc_loss_with_penalty_reference(disc, x_real, x_fake, objective, w_gp):
    """AMP's discriminator loss plus the gradient penalty on the real samples, from the library's pieces."""
    from mimickit.learning import discriminator as D
    x_real = x_real.clone().requires_grad_(True)
    d_real, d_fake = disc(x_real), disc(x_fake)
    penalty = D.gradient_penalty(d_real, x_real)
    return D.disc_loss(objective, d_real, d_fake) + w_gp * penalty, penalty


def encoder_reward_reference(z, enc_out, scale):
    """ASE's encoder reward from raw encoder outputs: scale * z . mu, mu = enc_out at unit length."""
    from mimickit.learning.encoder import latent_match
    return scale * latent_match(z, torch.nn.functional.normalize(enc_out, dim=-1))


def random_state_rows(g, n, num_joints=12, num_dofs=28, num_keys=4):
    """Raw state rows (amp_env.disc_frame) [n, frame_size] of random states, and their layout."""
    from mimickit.envs.amp_env import disc_frame

    def unit(*shape):
        q = torch.randn(*shape, 4, generator=g)
        return q / q.norm(dim=-1, keepdim=True)

    root_pos = torch.randn(n, 3, generator=g)
    rows = disc_frame(root_pos, unit(n), torch.randn(n, 3, generator=g), torch.randn(n, 3, generator=g),
                      unit(n, num_joints), torch.randn(n, num_dofs, generator=g),
                      root_pos.unsqueeze(1) + torch.randn(n, num_keys, 3, generator=g))
    return rows, (num_joints, num_dofs, num_keys)
