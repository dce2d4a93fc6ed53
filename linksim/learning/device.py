"""Where the tensors live: ``training.device`` resolved to a PyTorch device, and the placement of
models, batches and Keras' own tensors on it (``docs/devices.md``).

``training.device`` is ``auto`` (a CUDA GPU when PyTorch sees one, else the CPU), ``cpu``,
``cuda`` (the current CUDA device, normally ``cuda:0``) or ``cuda:N``. A run
(:meth:`linksim.pipeline.Run.execute`, through :func:`on_training_device`) resolves it before any
work and runs inside :func:`placed_on`: Keras (PyTorch backend) creates its variables and the
tensors of its ops on that device, and the PyTorch training engine
(:mod:`linksim.learning.training`) and CSI-INR's meta-learning put their batches where the model's
weights are (:func:`weights_device`, :func:`as_tensor`).

Random initial weights are drawn on the CPU and then moved (:func:`built_on_cpu`): CUDA's
generator draws other numbers than the CPU's for the same seed, so a model initialised on the
GPU would start from other weights. Saved weights go through NumPy (Keras' ``.keras`` files,
``get_weights``), so a model trained on a GPU loads on a machine without one.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from linksim.errors import LinksimInputError

#: The scenario field this module resolves (named in every error message).
FIELD = "training.device"

_SPEC = re.compile(r"(auto|cpu|cuda)(?::(\d+))?")

T = TypeVar("T")


def parse_device(spec: str) -> tuple[str, int | None]:
    """The syntax of a ``training.device`` value: ``(kind, index)``, kind ``auto``, ``cpu`` or
    ``cuda``; ``index`` is ``N`` of ``cuda:N``, else ``None``.

    Raises
    ------
    ValueError
        Anything else (pydantic reports it under the field's name).
    """
    m = _SPEC.fullmatch(spec) if isinstance(spec, str) else None
    if m is None or (m.group(2) is not None and m.group(1) != "cuda"):
        raise ValueError(f"{spec!r} is not a device; give auto, cpu, cuda or cuda:N")
    return m.group(1), None if m.group(2) is None else int(m.group(2))


def resolve_device(spec: str = "auto"):
    """The ``torch.device`` that ``training.device = spec`` means on this machine.

    ``auto`` is ``cuda:0`` when ``torch.cuda.is_available()``, else ``cpu`` (never Apple's MPS,
    which Keras itself would pick); ``cuda`` is ``cuda:<current CUDA device>``.

    Raises
    ------
    LinksimInputError
        A malformed value, or ``cuda``/``cuda:N`` where PyTorch sees no GPU (or fewer than
        ``N + 1``); the message names ``training.device``.
    """
    import torch

    try:
        kind, index = parse_device(spec)
    except ValueError as exc:
        raise LinksimInputError(f"{FIELD}: {exc}") from None
    available = torch.cuda.is_available()
    if kind == "cpu" or (kind == "auto" and not available):
        return torch.device("cpu")
    if not available:
        raise LinksimInputError(
            f"{FIELD}: {spec!r} asked for, but PyTorch sees no CUDA GPU (torch "
            f"{torch.__version__}, built for CUDA {torch.version.cuda or 'none'}); use auto or "
            "cpu, or install PyTorch's CUDA build (docs/devices.md)")
    count = torch.cuda.device_count()
    index = torch.cuda.current_device() if index is None else index
    if index >= count:
        raise LinksimInputError(f"{FIELD}: {spec!r} asked for, but PyTorch sees {count} CUDA "
                                f"GPU{'s' if count != 1 else ''} (cuda:0 .. cuda:{count - 1})")
    return torch.device("cuda", index)


def _keras_on_torch() -> bool:
    import keras

    return keras.backend.backend() == "torch"


@contextlib.contextmanager
def placed_on(device) -> Iterator:
    """Within the block, Keras creates variables and the results of its ops on ``device``
    (``keras.device``; a ``torch.device`` or its name); yields the ``torch.device``.

    Keras' scope is per thread. Nested scopes restore the outer one on exit.
    """
    import keras
    import torch

    device = torch.device(device)
    with keras.device(str(device)):
        yield device


def current_device():
    """The ``torch.device`` on which Keras creates tensors here and now (the innermost
    :func:`placed_on`, else Keras' default); ``cpu`` on a backend other than PyTorch."""
    import torch

    if not _keras_on_torch():
        return torch.device("cpu")
    from keras.src.backend.torch.core import get_device

    return torch.device(get_device())


def weights_device(variables: Iterable):
    """Where the first of ``variables`` (Keras variables) lives; ``current_device()`` if there
    are none. The training engines put their batches there."""
    for v in variables:
        return v.value.device
    return current_device()


def as_tensor(x, device):
    """``x`` (array-like) as a contiguous float32 ``torch.Tensor`` on ``device``, sharing the
    array's memory on the CPU."""
    import numpy as np
    import torch

    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)


def move_variables(variables: Iterable, device) -> None:
    """Move Keras variables (PyTorch backend) to ``device`` in place: each gets a new leaf
    tensor there holding its value (trainability kept); variables already there, and repeated
    ones, are left as they are.

    Only before anything holds the variables' tensors (an optimizer, a
    :class:`linksim.learning.torch_graph.TorchProgram`): those would keep the old ones.
    """
    import torch

    device = torch.device(device)
    for v in variables:
        if v.value.device != device:
            # Keras' torch Variable adopts a Parameter as its value as it is (no copy)
            v._initialize(torch.nn.Parameter(v.value.detach().to(device),
                                             requires_grad=v.trainable))


def codec_variables(codec) -> list:
    """Every Keras variable of a codec's encoder and decoder, each once (shared layers, e.g.
    CSI-INR's base network, appear in both)."""
    seen: dict[int, object] = {}
    for model in (codec.encoder, codec.decoder):
        for v in model.variables:
            seen.setdefault(id(v), v)
    return list(seen.values())


def built_on_cpu(build: Callable[[], T]) -> T:
    """``build()`` (a codec factory) with its random initial weights drawn on the CPU, the same
    numbers on every machine for a seed, then moved to :func:`current_device`.

    On a backend other than PyTorch, just ``build()``.
    """
    if not _keras_on_torch():
        return build()
    target = current_device()
    with placed_on("cpu"):
        codec = build()
    move_variables(codec_variables(codec), target)
    return codec


def sionna_device(device) -> str:
    """A ``torch.device`` (or its name) as Sionna names devices: ``cpu`` or ``cuda:N``
    (``sionna.phy.config.available_devices``)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        return f"cuda:{index}"
    return device.type


def on_training_device(method: Callable[..., T]) -> Callable[..., T]:
    """Decorator of :meth:`linksim.pipeline.Run.execute`: resolve the scenario's
    ``training.device`` (bad input raised before any work; :func:`resolve_device`) and run the
    method inside :func:`placed_on` it (:func:`current_device` there names it)."""

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        with placed_on(resolve_device(self.sc.training.device)):
            return method(self, *args, **kwargs)

    return run


def on_weights_device(variables: Iterable):
    """:func:`placed_on` the device of ``variables`` (:func:`weights_device`): what Keras
    computes in the block runs where the model's weights are (a backend other than PyTorch:
    nothing changes)."""
    if not _keras_on_torch():
        return contextlib.nullcontext()
    return placed_on(weights_device(variables))
