"""A ring buffer of past samples on the device, sampled uniformly.

AMP keeps the policy's discriminator observations of earlier iterations in one: training D on the
policy's past motion as well as its current motion keeps D from forgetting what the policy used to do
(and the policy from cycling back to it). It is not saved in checkpoints (hundreds of MB on the GPU):
a resumed run refills it within a few iterations."""
import torch


class ReplayBuffer:
    def __init__(self, capacity, dim, device="cpu"):
        if int(capacity) < 1:
            raise ValueError("replay buffer capacity must be at least 1; got %s" % capacity)
        self.capacity = int(capacity)
        self.data = torch.zeros(self.capacity, int(dim), device=device)  # [capacity, dim]
        self._head = 0  # next row to write
        self._size = 0  # rows holding samples (host-side counts: no device round trip)

    def __len__(self):
        return self._size

    @property
    def full(self):
        return self._size == self.capacity

    def push(self, x):
        """Append x [n, dim], overwriting the oldest rows once full (only the last `capacity` rows of
        a larger x are kept)."""
        x = x[-self.capacity:]
        n = x.shape[0]
        rows = (self._head + torch.arange(n, device=self.data.device)) % self.capacity
        self.data[rows] = x
        self._head = (self._head + n) % self.capacity
        self._size = min(self._size + n, self.capacity)

    def sample(self, n):
        """[n, dim] rows drawn uniformly with replacement from those written."""
        if self._size == 0:
            raise ValueError("sample() from an empty replay buffer")
        idx = torch.randint(0, self._size, (int(n),), device=self.data.device)
        return self.data[idx]
