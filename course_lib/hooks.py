"""One hook mechanism for the whole course: look at activations, change the ReLU's backward.

Everything that reaches inside a network goes through ``hooks_removed_after``: hooks
are registered inside ``try`` and removed in ``finally``, so a model is never left
modified, not even when the block raises (pattern: captum's hook-removal tests).

* ``evaluating(net)``: eval mode inside a block (no dropout, no BatchNorm updates), each
  module's own mode restored after, the same way.
* ``capture(layers)``: records the output of named modules during a forward pass.
* ``activation_and_gradient(module)``: the output A of one module and, after a backward
  pass, dS/dA (Grad-CAM).
* ``relu_backward_rule(net, rule)``: keeps every ReLU's forward pass and replaces its
  backward pass by ``rule``. The three rules of the lecture live in
  ``RELU_BACKWARD_RULES`` (slides "Deconvolutional networks #2" and "Saliency Maps #3-4").

In-place ReLUs (torchvision's VGG and AlexNet use ``inplace=True``) overwrite their
input; both tools copy the tensors they keep, so they see what the layer computed.
"""
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from .i18n import tr

# rule(g, passes) -> gradient w.r.t. the ReLU input; g: gradient w.r.t. its output,
# passes: where the forward ReLU let the signal through (0 < x, and x < 6 for ReLU6).
RELU_BACKWARD_RULES = {
    "gradient": lambda g, passes: g * passes,                  # plain backprop (Simonyan et al.)
    "deconvnet": lambda g, passes: g.clamp(min=0),             # ReLU on the backward signal (Zeiler & Fergus)
    "guided": lambda g, passes: g.clamp(min=0) * passes,       # both at once (Springenberg et al.)
}


def hook_count(net: nn.Module) -> int:
    """Number of hooks of any kind on ``net`` and its submodules (0 after every tool here)."""
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(getattr(m, "_backward_pre_hooks", {}))
        for m in net.modules()
    )


@contextmanager
def evaluating(net: nn.Module):
    """Eval mode inside the block (no dropout, no BatchNorm updates); each module's mode restored after."""
    modes = [(m, m.training) for m in net.modules()]
    try:
        net.eval()
        yield
    finally:
        for m, training in modes:
            m.training = training


@contextmanager
def hooks_removed_after(register):
    """Run ``register()`` (which returns hook handles); remove them all on exit, raised or not."""
    handles = []
    try:
        handles.extend(register())
        yield
    finally:
        for handle in handles:
            handle.remove()


class _StopForward(Exception):
    """Raised by a capture hook once every requested layer has been seen."""


@contextmanager
def capture(layers: dict, stop_early: bool = False):
    """Yield a dict that fills with {name: output} of the modules in ``layers`` ({name: module}).

    With ``stop_early`` the forward pass is cut short (via ``run_until_captured``) after
    the last requested layer, which saves the rest of the network's compute.
    """
    outputs = {}

    def make_hook(name):
        def hook(module, inputs, output):
            outputs[name] = output.clone()  # a copy: a following in-place ReLU would overwrite it
            if stop_early and len(outputs) == len(layers):
                raise _StopForward

        return hook

    with hooks_removed_after(lambda: [m.register_forward_hook(make_hook(n)) for n, m in layers.items()]):
        yield outputs


@contextmanager
def activation_and_gradient(module: nn.Module):
    """Yield a dict that fills with "A" (the module's output, a copy) and, after a backward pass, "dA" = dS/dA.

    The gradient is caught by a hook on the output tensor itself, registered before any in-place ReLU
    that follows can overwrite it: it is the gradient with respect to what the module computed."""
    kept = {}

    def hook(module, inputs, output):
        kept["A"] = output.detach().clone()
        if output.requires_grad:
            output.register_hook(lambda g: kept.__setitem__("dA", g.detach().clone()))  # dies with the graph

    with hooks_removed_after(lambda: [module.register_forward_hook(hook)]):
        yield kept


def run_until_captured(net: nn.Module, x: torch.Tensor):
    """Forward pass that ends quietly when a ``capture(..., stop_early=True)`` has all it needs."""
    try:
        return net(x)
    except _StopForward:
        return None


def is_relu(module: nn.Module) -> bool:
    return isinstance(module, nn.ReLU) or (isinstance(module, nn.Hardtanh) and module.min_val == 0)


class _ReluWithRule(torch.autograd.Function):
    """Forward: pass on the ReLU's own output y. Backward: rule(g, passes) instead of g * passes."""

    @staticmethod
    def forward(ctx, x, y, rule, upper):
        ctx.save_for_backward(x)
        ctx.rule, ctx.upper = rule, upper
        return y.clone()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        passes = ((x > 0) & (x < ctx.upper)).to(g.dtype)
        return ctx.rule(g, passes), None, None, None


@contextmanager
def relu_backward_rule(net: nn.Module, rule):
    """Inside the block every ReLU / ReLU6 module of ``net`` back-propagates with ``rule``.

    ``rule`` is a name from ``RELU_BACKWARD_RULES`` or a function rule(g, passes).
    The forward values are unchanged; the ReLU's own backward is bypassed.
    """
    if isinstance(rule, str):
        if rule not in RELU_BACKWARD_RULES:
            raise ValueError(tr("unknown ReLU rule {rule!r}; choose one of {rules}", rule=rule, rules=sorted(RELU_BACKWARD_RULES)))
        rule = RELU_BACKWARD_RULES[rule]
    relus = [m for m in net.modules() if is_relu(m)]
    inputs = {id(m): [] for m in relus}  # a stack per module: a ReLU may be called several times

    def keep_input(module, args):
        x = args[0]
        inputs[id(module)].append(x)
        if getattr(module, "inplace", False):
            return (x.clone(),)  # let the in-place ReLU overwrite a copy, keep x intact

    def apply_rule(module, args, y):
        x = inputs[id(module)].pop()
        upper = module.max_val if isinstance(module, nn.Hardtanh) else float("inf")
        return _ReluWithRule.apply(x, y.detach(), rule, upper)

    def register():
        handles = [m.register_forward_pre_hook(keep_input) for m in relus]
        handles += [m.register_forward_hook(apply_rule) for m in relus]
        return handles

    with hooks_removed_after(register):
        yield


_FUNCTIONAL_RELUS = {F.relu, F.relu_, torch.relu, torch.relu_, F.relu6, F.hardtanh, torch.Tensor.relu, torch.Tensor.relu_}


class _CountRelusOutsideModules(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.depth = 0  # > 0 while inside a ReLU module's forward
        self.calls = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _FUNCTIONAL_RELUS and self.depth == 0:
            self.calls.append(getattr(func, "__name__", str(func)))
        return func(*args, **(kwargs or {}))


def functional_relus(net: nn.Module, x: torch.Tensor) -> list:
    """Names of ReLU calls made outside ReLU modules during ``net(x)``.

    Hooks cannot reach a ``F.relu`` written inside a ``forward``, so a backward rule would
    silently not apply there; tools call this first and refuse such networks clearly.
    """
    relus = [m for m in net.modules() if is_relu(m)]
    mode = _CountRelusOutsideModules()

    def enter(module, args):
        mode.depth += 1

    def leave(module, args, output):
        mode.depth -= 1

    def register():
        return [m.register_forward_pre_hook(enter) for m in relus] + [m.register_forward_hook(leave) for m in relus]

    with hooks_removed_after(register), torch.no_grad(), mode:
        net(x)
    return mode.calls
