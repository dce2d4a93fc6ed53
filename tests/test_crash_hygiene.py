"""Crash hygiene (issue 17, class 10): nothing keeps running or lingers after a kill -9."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) is not running
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_generation_workers_die_with_their_parent(tmp_path):
    """A process running the COST 2100 worker pool is killed with SIGKILL: its workers stop
    within seconds instead of running on as orphans."""
    script = textwrap.dedent("""
        import os, sys, time
        from concurrent.futures import ProcessPoolExecutor
        import multiprocessing
        from channels.cost2100 import die_with_parent

        def work(_):
            time.sleep(60)

        if __name__ == "__main__":
            ctx = multiprocessing.get_context("spawn")
            ex = ProcessPoolExecutor(2, mp_context=ctx, initializer=die_with_parent,
                                     initargs=(os.getpid(),))
            futs = [ex.submit(work, i) for i in range(2)]
            time.sleep(3)
            print(" ".join(str(p) for p in ex._processes), flush=True)
            time.sleep(60)
    """)
    (tmp_path / "pool.py").write_text(script)
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    proc = subprocess.Popen([sys.executable, str(tmp_path / "pool.py")], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=tmp_path)
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers)
    finally:
        proc.kill()
