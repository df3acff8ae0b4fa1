"""How an actor-only checkpoint stores its weights: fp32, fp16 (the default) or int8.

int8 keeps each weight matrix W [out, in] as integers q = round(W / s) in [-127, 127] with one fp32 scale per
output row, s = max_j |W_ij| / 127, so that every weight is within s / 2 of its value (at most 0.4% of the
row's largest weight): half of fp16's size, which is what lets all the shipped models fit their 20 MB. The
normalizers and the biases stay fp32 (they are small, and an observation's scale matters more than a weight's).
``dequantize`` turns either form back into fp32 tensors for ``load_state_dict``.
"""
import torch

PRECISIONS = ("fp32", "fp16", "int8")
INT8_MAX = 127


def _kept_exact(key, value):
    """Normalizer statistics and non-float buffers stay as they are in every precision."""
    return key.startswith("obs_norm") or not value.is_floating_point()


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
