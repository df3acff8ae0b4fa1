"""ASEEnv (Peng et al. 2022): the AMP env with a skill latent z in every env's observation.

ASE learns one policy pi(a | s, z) whose latent z, a unit vector of ``latent_dim`` numbers, picks
the skill. The env keeps each env's latent [N, latent_dim] and appends it to the observation (after
the character's; the agent's normalizer leaves it as it is):

- at every reset an env draws a fresh latent, uniform on the unit sphere (a normalized Gaussian);
- while training, it draws a new one every ``latent_steps_min``..``latent_steps_max`` control steps
  (a uniform integer per draw), so the policy learns to switch skills in mid-motion;
- in test mode (``set_mode("test")``, which the agent's test episodes use) an episode keeps the latent
  it started with, unless ``test_latent_steps`` says to resample as in training;
- ``set_latent(env_ids, z)`` sets latents from code (a notebook's picker, an evaluation) and holds them
  (no reset or timer replaces them) until ``release_latent``.

Everything else (the discriminator's windows, reference state initialization, early termination) is
the AMP env's.
"""
import torch

from mimickit.engines.engine import ConfigError
from mimickit.envs.amp_env import AMPEnv


def sample_unit_latents(n, dim, device="cpu", generator=None):
    """-> [n, dim] latents uniform on the unit sphere (isotropic Gaussian samples, normalized)."""
    z = torch.randn(n, dim, device=device, generator=generator)
    return z / z.norm(dim=-1, keepdim=True).clamp_min(1e-8)


class ASEEnv(AMPEnv):
    CONFIG_KEYS = dict(AMPEnv.CONFIG_KEYS, **{
        "latent_dim": 64,
        "latent_steps_min": 1,  # control steps a latent lasts while training: uniform in [min, max]
        "latent_steps_max": 150,
        "test_latent_steps": False,  # test mode: resample on the timer too (else one latent per episode)
    })

    def __init__(self, config, engine_config_file, num_envs, device="cpu", visualize=False,
                 path="<env config>"):
        super().__init__(config, engine_config_file, num_envs, device, visualize, path)
        cfg = self.config
        for key in ("latent_dim", "latent_steps_min", "latent_steps_max"):
            if isinstance(cfg[key], bool) or not isinstance(cfg[key], int) or cfg[key] < 1:
                raise ConfigError("%s: %s is %r; expected a positive integer" % (path, key, cfg[key]))
        if cfg["latent_steps_min"] > cfg["latent_steps_max"]:
            raise ConfigError("%s: latent_steps_min (%d) is larger than latent_steps_max (%d)"
                              % (path, cfg["latent_steps_min"], cfg["latent_steps_max"]))
        self.latent_dim = cfg["latent_dim"]
        n = self.num_envs
        self._latents = sample_unit_latents(n, self.latent_dim, self.device)  # [N, latent_dim]
        self._latent_left = torch.zeros(n, dtype=torch.long, device=self.device)  # [N] steps until a new one
        self._latent_held = torch.zeros(n, dtype=torch.bool, device=self.device)  # [N] set from code

    @property
    def obs_dim(self):
        return super().obs_dim + self.latent_dim

    @property
    def latent_obs_slice(self):
        """Where the latent sits in the observation (its last latent_dim numbers)."""
        return slice(self.obs_dim - self.latent_dim, self.obs_dim)

    # ---------------- latents from code ----------------
    def set_latent(self, env_ids, z):
        """Give env_ids (None: all) the latent(s) z ([latent_dim] for all of them, or [K, latent_dim]),
        scaled to unit length, and hold them until release_latent. The next observation carries them
        (``get_obs()`` shows them at once)."""
        ids = self._ids(env_ids)
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.dim() == 1:
            z = z.expand(len(ids), -1)
        if tuple(z.shape) != (len(ids), self.latent_dim):
            raise ValueError("set_latent: z must be [latent_dim] = [%d] or [len(env_ids), latent_dim] = [%d, %d]; "
                             "got %s" % (self.latent_dim, len(ids), self.latent_dim, list(z.shape)))
        norm = z.norm(dim=-1, keepdim=True)
        if bool((norm < 1e-6).any()) or not bool(torch.isfinite(z).all()):
            raise ValueError("set_latent: every latent must be finite and non-zero (it is scaled to unit length)")
        self._latents[ids] = z / norm
        self._latent_held[ids] = True

    def release_latent(self, env_ids=None):
        """Back to random latents for env_ids (None: all), the next one drawn at the next step."""
        ids = self._ids(env_ids)
        self._latent_held[ids] = False
        self._latent_left[ids] = 0

    def get_latents(self):
        """-> [N, latent_dim] the current latents."""
        return self._latents.clone()

    # ---------------- resampling ----------------
    def _new_latents_where(self, mask):
        """Draw latents (and their durations) for every env; take them where mask [N] and not held."""
        n, cfg = self.num_envs, self.config
        take_new = (mask & ~self._latent_held).unsqueeze(-1)
        self._latents = torch.where(take_new, sample_unit_latents(n, self.latent_dim, self.device), self._latents)
        steps = torch.randint(cfg["latent_steps_min"], cfg["latent_steps_max"] + 1, (n,), device=self.device)
        self._latent_left = torch.where(mask, steps, self._latent_left)

    def _redraw_where(self, mask):
        super()._redraw_where(mask)
        self._new_latents_where(mask)

    def _update_state(self):
        super()._update_state()
        if self.mode == "test" and not self.config["test_latent_steps"]:
            return  # one latent per test episode
        self._latent_left = self._latent_left - 1
        self._new_latents_where(self._latent_left <= 0)

    # ---------------- observation ----------------
    def _compute_obs(self, env_ids=None):
        z = self._latents if env_ids is None else self._latents[env_ids]
        return torch.cat([super()._compute_obs(env_ids), z], dim=-1)
