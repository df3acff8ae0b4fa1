"""Networks named in agent configs, e.g. ``fc_2layers_1024units``: fully connected layers of
equal width with ReLU, as in MimicKit's agent YAMLs."""
import re

import torch
from torch import nn

_FC = re.compile(r"^fc_(?P<layers>\d+)layers_(?P<units>\d+)units$")
_ACTIVATIONS = {"relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh, "silu": nn.SiLU}


def parse_net_name(name):
    """'fc_2layers_512units' -> [512, 512]."""
    m = _FC.match(str(name))
    if m is None:
        raise ValueError("unknown network '%s'; expected a name like fc_2layers_1024units" % name)
    return [int(m.group("units"))] * int(m.group("layers"))


def build_mlp(name, input_dim, activation="relu"):
    """-> (nn.Sequential ending in an activation, output width)."""
    if activation not in _ACTIVATIONS:
        raise ValueError("unknown activation '%s'; expected one of %s" % (activation, sorted(_ACTIVATIONS)))
    layers, width = [], int(input_dim)
    for units in parse_net_name(name):
        layers += [nn.Linear(width, units), _ACTIVATIONS[activation]()]
        width = units
    return nn.Sequential(*layers), width
