"""Running mean / std normalizer for observations, frozen after a number of samples."""
import torch
from torch import nn

from mimickit.learning import distributed


def _pooled_means(x, *maps):
    """In a distributed run: x [n, *shape] on each worker -> (the workers' total n, [the mean of m(x) over
    every worker's samples, float64 [*shape], for each map m]), from their counts and sums added up exactly
    in float64."""
    xd = x.double()
    sums = distributed.sum_(torch.cat([xd.new_full((1,), float(x.shape[0]))] + [m(xd).sum(0).flatten() for m in maps]))
    n, f = int(sums[0].item()), sums[1:].numel() // len(maps)
    return n, [(sums[1 + k * f:1 + (k + 1) * f] / max(n, 1)).view(x.shape[1:]) for k in range(len(maps))]


def _batch_moments(x):
    """x [n, *shape] -> (n, mean, variance) of the batch; in a distributed run, of every worker's batch
    together (_pooled_means)."""
    if not distributed.active():
        return x.shape[0], x.mean(0), x.var(0, unbiased=False)
    n, (mean, mean_sq) = _pooled_means(x, lambda v: v, lambda v: v * v)
    if n == 0:
        return 0, None, None
    return n, mean.to(x.dtype), (mean_sq - mean * mean).clamp_min(0.0).to(x.dtype)


class _CountedStats(nn.Module):
    """Running statistics with a sample count buffer, mirrored on the host so that update() never waits for
    the GPU (re-read after loading), and frozen once max_samples samples have been seen."""

    def __init__(self, max_samples):
        super().__init__()
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.max_samples = max_samples
        self._host_count = None
        self.register_load_state_dict_post_hook(lambda module, keys: setattr(module, "_host_count", None))

    def _count(self):
        if self._host_count is None:
            self._host_count = float(self.count.item())
        return self._host_count

    @property
    def frozen(self):
        return self.max_samples is not None and self._count() >= self.max_samples

    def _add_count(self, n):
        total = self._count() + n
        self.count += n
        self._host_count = total


class Normalizer(_CountedStats):
    """x -> clip((x - mean) / std, -clip, clip). Statistics are buffers, so they are saved in
    checkpoints with the model; update() stops once `max_samples` samples have been seen."""

    def __init__(self, shape, max_samples=None, clip=5.0, eps=1e-4):
        super().__init__(max_samples)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.register_buffer("mean", torch.zeros(shape))
        self.register_buffer("var", torch.ones(shape))
        self.clip = clip
        self.eps = eps
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

    @torch.no_grad()
    def update(self, x):
        """x [batch, *shape]: merge the batch's moments into the running ones (Chan et al.)."""
        if self.frozen:
            return
        x = x.reshape(-1, *self.mean.shape).to(self.mean.dtype)
        n, b_mean, b_var = _batch_moments(x)
        if n == 0:
            return
        count = self._count()
        total = count + n
        delta = b_mean - self.mean
        w = n / total
        self.mean += delta * w
        self.var.copy_(self.var * (count / total) + b_var * w + delta ** 2 * (count * n / total ** 2))
        self._add_count(n)
        self._pin_kept()

    def normalize(self, x):
        std = torch.sqrt(self.var + self.eps)
        return ((x - self.mean) / std).clamp(-self.clip, self.clip)

    def unnormalize(self, x):
        return x * torch.sqrt(self.var + self.eps) + self.mean


class ScaleNormalizer(_CountedStats):
    """x -> x / max(E|x|, min_scale), per entry: a scale without a shift, for differences whose zero must
    stay zero (ADD's discriminator: its one positive sample, perfect tracking, is the zero vector, and a
    shift by a mean would move it). Running mean of |x| over the samples seen, frozen after
    ``max_samples``; saved in checkpoints like Normalizer's statistics. No clipping."""

    def __init__(self, shape, max_samples=None, min_scale=1e-4):
        super().__init__(max_samples)
        shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.register_buffer("mean_abs", torch.ones(shape))
        self.min_scale = min_scale

    @torch.no_grad()
    def update(self, x):
        """x [batch, *shape]: merge the batch's mean |x| into the running one."""
        if self.frozen:
            return
        x = x.reshape(-1, *self.mean_abs.shape).to(self.mean_abs.dtype)
        if distributed.active():  # several workers: the batch is all of theirs
            n, (b_mean_abs,) = _pooled_means(x, torch.abs)
            b_mean_abs = b_mean_abs.to(self.mean_abs.dtype)
        else:
            n, b_mean_abs = x.shape[0], x.abs().mean(0)
        if n == 0:
            return
        count = self._count()
        if count == 0:
            self.mean_abs.copy_(b_mean_abs)  # the initial ones are placeholders, not samples
        else:
            self.mean_abs.lerp_(b_mean_abs, n / (count + n))
        self._add_count(n)

    def scale(self):
        return self.mean_abs.clamp_min(self.min_scale)

    def normalize(self, x):
        return x / self.scale()

    def unnormalize(self, x):
        return x * self.scale()
