"""How checkpoints store their weights: actor files at fp32, fp16 (the default) or int8, and slim checkpoints.

int8 keeps each weight matrix W [out, in] as integers q = round(W / s) in [-127, 127] with one fp32 scale per
output row, s = max_j |W_ij| / 127, so that every weight is within s / 2 of its value (at most 0.4% of the
row's largest weight): half of fp16's size, room for more shipped models within the 20 MB of them all. The
normalizers and the biases stay fp32 (they are small, and an observation's scale matters more than a weight's).
``dequantize`` turns either form back into fp32 tensors for ``load_state_dict``.

A **slim checkpoint** (``slim``) is a full training checkpoint without its optimizer states, its weights in
fp16: the actor, the critic and a discriminator or encoder, about a fifth of the full file. Training starts
from it with ``--init_model_file`` (fresh optimizers, counters at zero) and keeps what the critic and the
discriminator had learnt, which an actor file cannot; it cannot resume a run (``--model_file``).
"""
import os

import torch

PRECISIONS = ("fp32", "fp16", "int8")
INT8_MAX = 127


def _is_norm_stat(key):
    """A normalizer's statistics (obs_norm.mean, .var, .count; a discriminator's too): kept exact."""
    return key.startswith("obs_norm") or ".obs_norm." in key


def _kept_exact(key, value):
    """Normalizer statistics and non-float buffers stay as they are in every precision."""
    return _is_norm_stat(key) or not value.is_floating_point()


def quantize(model_state, precision):
    """{key: tensor} of an actor -> ({key: tensor} to save, {key: [out] fp32 row scales} of the int8 ones)."""
    if precision not in PRECISIONS:
        raise ValueError("actor precision %r; expected one of %s" % (precision, ", ".join(PRECISIONS)))
    saved, scales = {}, {}
    for k, v in model_state.items():
        v = v.detach()
        if _kept_exact(k, v):
            saved[k] = v
        elif precision == "fp16":
            saved[k] = v.half()
        elif precision == "int8" and v.dim() == 2:
            scale = v.float().abs().amax(dim=1).clamp_min(1e-12) / INT8_MAX  # [out]
            saved[k] = torch.round(v.float() / scale.unsqueeze(1)).clamp(-INT8_MAX, INT8_MAX).to(torch.int8)
            scales[k] = scale
        else:  # fp32, and int8's biases
            saved[k] = v.float()
    return saved, scales


def dequantize(saved, scales=None):
    """The inverse of ``quantize``: every floating or int8 weight as fp32 [same shape]."""
    scales = scales or {}
    out = {}
    for k, v in saved.items():
        if k in scales:
            out[k] = v.float() * scales[k].float().unsqueeze(1).to(v.device)
        else:
            out[k] = v.float() if v.is_floating_point() else v
    return out


def slim(state):
    """A full checkpoint's state dict -> its slim form (module docstring): no "*optimizer" entries, every
    network's floating weights fp16, normalizer statistics as they are, and "slim": True."""
    def halve(weights):
        return {k: (v.half() if v.is_floating_point() and not _is_norm_stat(k) else v) for k, v in weights.items()}
    out = {}
    for key, value in state.items():
        if key.endswith("optimizer"):
            continue
        out[key] = halve(value) if isinstance(value, dict) and value and all(
            isinstance(v, torch.Tensor) for v in value.values()) else value
    out["slim"] = True
    return out


def slim_file(src, dst):
    """Write the slim form of the full checkpoint src to dst; returns (src bytes, dst bytes)."""
    state = torch.load(str(src), map_location="cpu", weights_only=True)
    if state.get("actor_only"):
        raise ValueError("%s: an actor-only file has no critic to keep; its slim form is itself" % src)
    torch.save(slim(state), str(dst))
    return os.path.getsize(str(src)), os.path.getsize(str(dst))


if __name__ == "__main__":
    import sys
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m mimickit.learning.checkpoint_precision FULL_CHECKPOINT SLIM_OUT")
    sizes = slim_file(sys.argv[1], sys.argv[2])
    print("wrote %s: %.1f MB (the full checkpoint: %.1f MB)" % (sys.argv[2], sizes[1] / 1e6, sizes[0] / 1e6))
