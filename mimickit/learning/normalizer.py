"""Running mean / std normalizer for observations, frozen after a number of samples."""
import torch
from torch import nn


class Normalizer(nn.Module):
    """x -> clip((x - mean) / std, -clip, clip). Statistics are buffers, so they are saved in
    checkpoints with the model; update() stops once `max_samples` samples have been seen."""

    def __init__(self, shape, max_samples=None, clip=5.0, eps=1e-4):
        super().__init__()
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.max_samples = max_samples
        self.clip = clip
        self.eps = eps
        # the count mirrored on the host, so update() never waits for the GPU; re-read after loading
        self._host_count = None
        self.register_load_state_dict_post_hook(lambda module, keys: setattr(module, "_host_count", None))
        # entries passed through unchanged (keep_as_is); not saved: the owner sets it when it builds
        self.register_buffer("_kept", torch.zeros(shape, dtype=torch.bool), persistent=False)

    def keep_as_is(self, index):
        """Leave the entries at index (e.g. a slice of the observation) unnormalized: mean 0, std 1.
        They are still clipped to +-clip."""
        self._kept[index] = True
        self._pin_kept()

    @torch.no_grad()
    def _pin_kept(self):
        self.mean.masked_fill_(self._kept, 0.0)
        self.var.masked_fill_(self._kept, 1.0 - self.eps)  # sqrt(var + eps) = 1 exactly

    def _count(self):
        if self._host_count is None:
            self._host_count = float(self.count.item())
        return self._host_count

    @property
    def frozen(self):
        return self.max_samples is not None and self._count() >= self.max_samples

    @torch.no_grad()
    def update(self, x):
        """x [batch, *shape]: merge the batch's moments into the running ones (Chan et al.)."""
        if self.frozen:
            return
        x = x.reshape(-1, *self.mean.shape).to(self.mean.dtype)
        n = x.shape[0]
        if n == 0:
            return
        b_mean = x.mean(0)
        b_var = x.var(0, unbiased=False)
        count = self._count()
        total = count + n
        delta = b_mean - self.mean
        w = n / total
        self.mean += delta * w
        self.var.copy_(self.var * (count / total) + b_var * w + delta ** 2 * (count * n / total ** 2))
        self.count += n
        self._host_count = total
        self._pin_kept()

    def normalize(self, x):
        std = torch.sqrt(self.var + self.eps)
        return ((x - self.mean) / std).clamp(-self.clip, self.clip)

    def unnormalize(self, x):
        return x * torch.sqrt(self.var + self.eps) + self.mean
