"""MinibatchStep: one optimizer step on a minibatch, replayed as a CUDA graph on the GPU.

The graphed step must do exactly what the eager one does: same parameters after the same
minibatches, a minibatch of another size run eagerly, the stats of each step returned."""
import copy

import pytest
import torch
from torch import nn

from mimickit.learning.minibatch_step import MinibatchStep

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA graphs need a GPU")


def _net_and_step(device, use_graph, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 1)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, capturable=device == "cuda")
    opt.grad_clip = 0.5  # clipping is part of the captured step too

    def loss_fn(mb):
        err = net(mb["x"]).squeeze(-1) - mb["y"]
        return err.pow(2).mean(), {"max_err": err.abs().max()}
    return net, MinibatchStep(loss_fn, opt, net.parameters(), use_graph)


def _batches(device, sizes):
    g = torch.Generator().manual_seed(1)
    return [{"x": torch.randn(n, 6, generator=g).to(device), "y": torch.randn(n, generator=g).to(device)}
            for n in sizes]


def test_eager_step_is_one_adam_step_on_the_loss():
    net, step = _net_and_step("cpu", use_graph=False)
    ref = copy.deepcopy(net)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-2)
    (mb,) = _batches("cpu", [16])
    loss, stats = step(mb)
    ref_loss = (ref(mb["x"]).squeeze(-1) - mb["y"]).pow(2).mean()
    ref_opt.zero_grad()
    ref_loss.backward()
    nn.utils.clip_grad_norm_(ref.parameters(), 0.5)
    ref_opt.step()
    assert torch.allclose(loss, ref_loss.detach())
    assert stats["max_err"] > 0
    for p, q in zip(net.parameters(), ref.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


@CUDA
def test_graphed_steps_match_eager_ones():
    torch.backends.cuda.matmul.allow_tf32 = False
    sizes = [16] * 7 + [9, 16, 16]  # warm-up, capture, replays, one smaller minibatch (eager), replays
    eager_net, eager = _net_and_step("cuda", use_graph=False)
    graph_net, graphed = _net_and_step("cuda", use_graph=True)
    for mb in _batches("cuda", sizes):
        loss_e, stats_e = eager(mb)
        loss_g, stats_g = graphed(mb)
        assert torch.allclose(loss_e, loss_g, atol=1e-5)
        assert torch.allclose(stats_e["max_err"], stats_g["max_err"], atol=1e-5)
    assert graphed._graph is not None
    for p, q in zip(eager_net.parameters(), graph_net.parameters()):
        assert torch.allclose(p, q, atol=1e-5)
