"""A faster copy of a frozen network for the maps that run it hundreds of times (occlusion, integrated gradients).

In eval mode a BatchNorm after a convolution is a fixed affine map per output channel,

    BN(W * x + b) = gamma (W * x + b - mu) / sqrt(var + eps) + beta
                  = (s W) * x + s (b - mu) + beta,          s = gamma / sqrt(var + eps)

so the pair is one convolution with weights s W and bias s (b - mu) + beta: the same function, one pass over
the feature map fewer (forward and backward). ``inference_model(model)`` returns a ``CourseModel`` whose net is
a deep copy with every such pair folded, its weights stored channels-last (only the memory layout changes), its
ReLUs in place, its stride-1 TensorFlow-"same" convolutions padding by themselves (no padded copy of the input),
and the same layer names, so ``layer=`` and ``features`` work unchanged. The user's network is never touched.
A new copy must give the network's outputs on a random input (else the network itself is used).

The copy is cached per network and rebuilt when the network changes (weights edited in place, as the sanity
check's randomisation does, or modules swapped); while the network carries hooks of its own (a user's
ablation, another tool's rule) the original is used, since the copy would not run them. A net with no
BatchNorm (VGG, AlexNet) is used as it is. Measured by ``python -m benchmarks attribution``.
"""
import copy
import dataclasses
import weakref

import torch
import torch.nn as nn

from .course_model import CourseModel
from .efficientnet_lite import Conv2dSame
from .hooks import evaluating, hook_count, hooks_removed_after

PROBE = (2, 3, 64, 64)               # the random input on which a new copy must agree with the network
_cache = weakref.WeakKeyDictionary()  # {net: (fingerprint, snapshot of its tensors, fast CourseModel)}


def conv_bn_pairs(net: nn.Module, probe: torch.Tensor) -> list:
    """[(conv name, BatchNorm name)] where the BatchNorm reads exactly the convolution's output tensor.

    Found by running the net once and noting which tensor each module returns and receives: no guess
    from attribute names, so any architecture's pairs are found (EfficientNet, GoogLeNet's BasicConv2d).
    """
    produced, pairs = {}, []

    def conv_out(name):
        return lambda m, args, out: produced.__setitem__(id(out), (name, out))

    def bn_in(bn_name):
        def read(m, args):
            conv_name, out = produced.get(id(args[0]), (None, None))
            if out is args[0]:                  # (the outputs are kept alive, so an id is never reused)
                pairs.append((conv_name, bn_name))
        return read

    def register():
        return [m.register_forward_hook(conv_out(name)) if isinstance(m, nn.Conv2d) else m.register_forward_pre_hook(bn_in(name))
                for name, m in net.named_modules()
                if isinstance(m, nn.Conv2d) or (isinstance(m, nn.BatchNorm2d) and m.track_running_stats and m.affine)]

    with hooks_removed_after(register), torch.inference_mode():
        net(probe)
    return list(dict.fromkeys(pairs))           # a module called twice reports once


def fold_(net: nn.Module, pairs) -> None:
    """Fold each BatchNorm into its convolution (in place, on the copy) and put an Identity in its place."""
    modules = dict(net.named_modules())
    for conv_name, bn_name in pairs:
        conv, bn = modules[conv_name], modules[bn_name]
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)                            # [C_out]
        b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        conv.weight = nn.Parameter(conv.weight * s.view(-1, *[1] * (conv.weight.dim() - 1)), requires_grad=False)
        conv.bias = nn.Parameter(s * (b - bn.running_mean) + bn.bias, requires_grad=False)
        parent, _, leaf = bn_name.rpartition(".")
        setattr(modules[parent] if parent else net, leaf, nn.Identity())


def symmetric_padding_(net: nn.Module) -> None:
    """A TensorFlow-"same" convolution (``Conv2dSame``) of stride 1 and odd kernel k pads (k - 1)/2 on each side:
    the plain convolution with that padding computes the same without a padded copy of its input."""
    modules = dict(net.named_modules())
    for name, m in modules.items():
        if isinstance(m, Conv2dSame) and m.stride == (1, 1) and m.dilation == (1, 1) and all(k % 2 for k in m.kernel_size):
            plain = nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, padding=tuple(k // 2 for k in m.kernel_size),
                              groups=m.groups, bias=m.bias is not None, device=m.weight.device)
            plain.weight, plain.bias = m.weight, m.bias
            parent, _, leaf = name.rpartition(".")
            setattr(modules[parent] if parent else net, leaf, plain)


def fingerprint(model: CourseModel) -> tuple:
    """What the copy was built from: every module (same objects), every tensor (same storage, same shape)."""
    return (tuple((name, id(m)) for name, m in model.net.named_modules()),
            tuple((name, id(m)) for name, m in model.layers.items()),
            tuple((name, t.data_ptr(), tuple(t.shape)) for name, t in model.net.state_dict(keep_vars=True).items()))


def build(model: CourseModel) -> CourseModel:
    net = model.net
    with evaluating(net), torch.no_grad():     # the maps are eval-mode functions; BatchNorm must not update
        probe = torch.rand(PROBE, generator=torch.Generator().manual_seed(0)).to(model.device)
        shown = {id(m) for m in model.layers.values()}         # a layer the user may watch keeps its own output
        pairs = [(c, b) for c, b in conv_bn_pairs(net, probe)
                 if id(net.get_submodule(c)) not in shown and id(net.get_submodule(b)) not in shown]
        if not pairs:
            return model
        fast = copy.deepcopy(net).eval()       # (no hooks come along: inference_model builds only for a net without)
        fold_(fast, pairs)
        symmetric_padding_(fast)
        for m in fast.modules():
            if isinstance(m, (nn.ReLU, nn.Hardtanh)):       # (ReLU6 is a Hardtanh) its input is the conv's alone
                m.inplace = True
        fast.to(memory_format=torch.channels_last)
        for p in fast.parameters():
            p.requires_grad_(False)
        expected = net(probe)
        if not torch.allclose(fast(probe), expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item()):
            return model                       # a conv output read elsewhere too: folding would change the net
    where = {id(m): name for name, m in net.named_modules()}           # a layer is found by its place in the net
    if any(id(m) not in where for m in model.layers.values()):
        return model
    return dataclasses.replace(model, net=fast, layers={n: fast.get_submodule(where[id(m)]) for n, m in model.layers.items()})


def inference_model(model: CourseModel) -> CourseModel:
    """The same classifier with BatchNorm folded and channels-last weights (or ``model`` itself, see above)."""
    net = model.net
    if hook_count(net):
        return model
    key = fingerprint(model)
    state = [t.detach() for t in net.state_dict(keep_vars=True).values()]
    cached = _cache.get(net)
    if cached is not None and cached[0] == key and all(torch.equal(a, b) for a, b in zip(cached[1], state)):
        return cached[2]
    fast = build(model)
    _cache[net] = (key, [t.clone() for t in state] if fast is not model else [], fast)
    return fast
