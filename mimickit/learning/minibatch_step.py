"""One optimizer step on a minibatch, replayed as a CUDA graph on the GPU.

A PPO update is dozens of minibatch steps, each a forward pass, a backward pass and an Adam step:
hundreds of small kernels launched one by one from Python. With thousands of envs the GPU finishes
them faster than Python can launch them. On CUDA, after a few ordinary (eager) steps, the step is
captured once as a CUDA graph, which the GPU then replays in a single launch:

    static inputs  <- this minibatch (one gather per field)
    graph.replay()    forward, loss, backward, Adam: the same kernels, the same math

Everything the graph reads must stay at the same address: the minibatch goes into static buffers,
the parameters and Adam's state are updated in place, and Adam keeps its step count on the device
(``capturable=True``). A minibatch of another size (a last, smaller one) runs eagerly.
"""
import os

import torch

from mimickit.learning import distributed


def graphs_enabled(device, config_flag=True):
    return bool(config_flag) and torch.device(device).type == "cuda" \
        and os.environ.get("MIMICKIT_CUDA_GRAPHS", "1") != "0"


class MinibatchStep:
    """step(batch) -> (loss, {stat: tensor}): loss_fn(batch) -> (loss, {stat: tensor}), then one step
    of optimizer on params. batch is a dict of [M, ...] tensors. The returned tensors are overwritten by
    the next graphed step: read or accumulate them before calling again."""

    WARMUP_STEPS = 3  # eager steps (on a side stream) before capturing, as CUDA graph capture needs

    def __init__(self, loss_fn, optimizer, params, use_graph):
        self.loss_fn, self.optimizer = loss_fn, optimizer
        self.params = [p for p in params if p.requires_grad]
        self.use_graph = use_graph
        self._warm = 0
        self._graph = self._static_in = self._static_out = None

    def __call__(self, batch):
        if not self.use_graph:
            return self._eager(batch)
        if self._graph is not None:
            if {k: v.shape for k, v in batch.items()} != {k: v.shape for k, v in self._static_in.items()}:
                return self._eager(batch)
            for k, v in batch.items():
                self._static_in[k].copy_(v)
            self._graph.replay()
            return self._static_out
        if self._warm < self.WARMUP_STEPS:
            self._warm += 1
            return self._on_side_stream(batch)
        self._capture(batch)
        self._graph.replay()
        return self._static_out

    def _eager(self, batch):
        loss, stats = self.loss_fn(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward(inputs=self.params)  # only the parameters' gradients (not, e.g., a penalized input's)
        distributed.average_gradients(self.params)  # several workers: the mean over all of them
        if self.optimizer.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.params, self.optimizer.grad_clip)
        self.optimizer.step()
        return loss.detach(), {k: v.detach() for k, v in stats.items()}  # tensors: no host values in a graph

    def _on_side_stream(self, batch):
        side, main = torch.cuda.Stream(), torch.cuda.current_stream()
        side.wait_stream(main)
        with torch.cuda.stream(side):
            out = self._eager(batch)
        main.wait_stream(side)
        return out

    def _capture(self, batch):
        self._static_in = {k: v.clone() for k, v in batch.items()}
        self.optimizer.zero_grad(set_to_none=True)  # gradients are then allocated inside the graph
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._static_out = self._eager(self._static_in)
        self._graph = graph
