"""Where a run's units execute: in this process (the default) or on a Ray cluster.

A *unit* is one independent piece of a run whose result is a cache entry or a value: generating
one data split, training one model, evaluating one sweep chunk (:mod:`linksim.units`). Every
unit is a module-level function of picklable arguments, deterministic given the scenario seed,
so it gives the same result wherever it runs. An executor maps a list of units to their results,
in the order given:

* :class:`LocalExecutor` calls them one after the other in this process (no Ray needed);
* :class:`RayExecutor` submits them as Ray tasks, each with the CPUs (threads) and GPUs it
  declares, retries a unit whose worker died, and shows one progress bar over all workers.

``linksim run SCENARIO --executor ray [--address ADDR]`` picks Ray; without an address it starts
a local Ray instance. Ray is the optional extra ``pip install "linksim[ray]"``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tqdm.auto import tqdm

from linksim.errors import LinksimInputError

#: The install command printed when Ray is asked for but not installed.
RAY_INSTALL = 'pip install "linksim[ray]"'
#: Seconds to wait for a Ray head at ``--address`` before giving up (exit code 2).
CONNECT_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Unit:
    """One independent piece of a run.

    ``fn(*args)`` computes it; ``fn`` must be a module-level function so that a Ray worker can
    import it. ``threads`` is the number of CPU threads the unit may use (its Ray ``num_cpus``,
    and the limit set on torch and the BLAS pools while it runs, so that units sharing a node do
    not oversubscribe it); ``gpus`` its Ray ``num_gpus`` (1 for training on a GPU or
    generating a split on one, else 0).
    """

    kind: str
    name: str
    fn: Callable[..., Any]
    args: tuple = ()
    threads: int = 1
    gpus: float = 0.0


def call_with_threads(fn: Callable[..., Any], args: tuple, threads: int) -> Any:
    """``fn(*args)`` with torch and the BLAS/OpenMP pools limited to ``threads`` threads."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            return fn(*args)
    finally:
        torch.set_num_threads(before)


class LocalExecutor:
    """Runs the units one after the other in this process: the default, no Ray needed."""

    name = "local"

    def map(self, units: list[Unit], progress: bool = False, desc: str = "units") -> list:
        """The results of ``units``, in their order."""
        out = []
        for u in tqdm(units, desc=desc, unit="unit", disable=not progress or not units,
                      leave=False):
            out.append(u.fn(*u.args))
        return out

    def close(self) -> None:
        """Nothing to release."""


def parse_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of a Ray head address ``[ray://]host:port``; bad input otherwise."""
    rest = address.removeprefix("ray://")
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit():
        raise LinksimInputError(f"--address {address!r}: expected host:port (e.g. 10.0.0.1:6379 "
                                "or ray://10.0.0.1:10001)")
    return host, int(port)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Bad input naming ``address`` when nothing accepts a TCP connection there within
    ``timeout_s`` seconds (Ray itself would retry for a minute or more)."""
    host, port = parse_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        raise LinksimInputError(f"--address {address}: no Ray head reachable there within "
                                f"{timeout_s:g} s ({exc.strerror or exc})") from exc


class RayExecutor:
    """Runs the units as Ray tasks on a cluster (``address``) or a local Ray instance.

    Each task reserves ``unit.threads`` CPUs and ``unit.gpus`` GPUs; a task whose worker process
    dies is retried up to ``max_retries`` times (an exception raised by the unit itself is not
    retried: it is re-raised here, bad input included).
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 max_retries: int = 3):
        try:
            import ray
        except ImportError as exc:
            raise LinksimInputError(f"--executor ray: Ray is not installed; install the extra "
                                    f"with `{RAY_INSTALL}`") from exc
        if address is not None and address != "auto":
            check_reachable(address)
        self._ray = ray
        self.max_retries = max_retries
        self._started = not ray.is_initialized()
        if self._started:
            env = {"OMP_NUM_THREADS": "1", "KERAS_BACKEND": os.environ.get("KERAS_BACKEND",
                                                                            "torch")}
            ray.init(address=address, num_cpus=None if address else num_cpus,
                     include_dashboard=False, log_to_driver=False,
                     runtime_env={"env_vars": env})

    def map(self, units: list[Unit], progress: bool = False, desc: str = "units") -> list:
        """The results of ``units``, in their order; one progress bar over every worker."""
        ray = self._ray
        task = ray.remote(call_with_threads)
        refs = [task.options(num_cpus=u.threads, num_gpus=u.gpus, max_retries=self.max_retries,
                             retry_exceptions=False, name=f"{u.kind}:{u.name}")
                .remote(u.fn, u.args, u.threads) for u in units]
        index = {ref: i for i, ref in enumerate(refs)}
        out: list = [None] * len(refs)
        pending = list(refs)
        with tqdm(total=len(refs), desc=f"{desc} (ray)", unit="unit",
                  disable=not progress or not refs, leave=False) as bar:
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                for ref in done:
                    try:
                        out[index[ref]] = ray.get(ref)
                    except ray.exceptions.RayTaskError as exc:
                        cause = getattr(exc, "cause", None)
                        if isinstance(cause, BaseException):  # the unit's own exception
                            raise cause from None
                        raise
                    bar.update(1)
        return out

    def close(self) -> None:
        """Shut down the Ray instance this executor started (a cluster it joined stays up)."""
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()


def make_executor(kind: str = "local", address: str | None = None,
                  num_cpus: int | None = None) -> LocalExecutor | RayExecutor:
    """The executor named ``kind`` (``local`` or ``ray``); bad input for anything else, for
    ``--address`` without Ray, or for an unreachable address."""
    if kind == "local":
        if address is not None:
            raise LinksimInputError("--address: only meaningful with --executor ray")
        return LocalExecutor()
    if kind == "ray":
        return RayExecutor(address, num_cpus=num_cpus)
    raise LinksimInputError(f"--executor {kind!r}: expected 'local' or 'ray'")
