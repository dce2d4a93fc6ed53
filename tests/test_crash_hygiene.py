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
        from linksim.channels.cost2100 import die_with_parent

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


def test_leftovers_of_killed_runs_are_found_and_pruned(tmp_path):
    """What a kill -9 leaves (a run's ``.partial`` directory, a cache entry's ``.tmp`` file, a
    model's temporary directory) is stale once no process holds its lock; work in progress,
    whose lock is held, is never touched."""
    import filelock

    from linksim.housekeeping import prune, run_lock, stale_items

    out, cache = tmp_path / "runs", tmp_path / "cache"
    (out / ".dead-20261203T000000.partial").mkdir(parents=True)
    (out / ".dead-20261203T000000.partial" / "results.csv").write_text("x" * 100)
    (out / ".live-20261203T000000.partial").mkdir()
    (cache / "models" / ".csinet_cr4_a-0123.k3j4").mkdir(parents=True)
    (cache / ".uma-train-abc.h5.x8y7.tmp").write_bytes(b"0" * 50)
    (cache / ".uma-test-def.h5.q1w2.tmp").write_bytes(b"0" * 50)
    live_run = run_lock(out / "live-20261203T000000")
    live_entry = filelock.FileLock(cache / "uma-test-def.h5.lock")
    with live_run, live_entry:
        stale = stale_items(cache, out)
        assert sorted(i.path.name for i in stale) == [
            ".csinet_cr4_a-0123.k3j4", ".dead-20261203T000000.partial", ".uma-train-abc.h5.x8y7.tmp"]
        assert prune(stale) == 150
        assert stale_items(cache, out) == []
    assert (out / ".live-20261203T000000.partial").is_dir()
    assert (cache / ".uma-test-def.h5.q1w2.tmp").is_file()
    # once their owners are gone, they are leftovers too
    assert len(stale_items(cache, out)) == 2


def test_run_start_prunes_leftovers_and_cache_command_lists_them(tmp_path):
    from click.testing import CliRunner

    from linksim.cli import main
    from tests import scenarios

    path = scenarios.write(tmp_path, {"codecs": [], "baselines": []})
    dead = tmp_path / "runs" / ".old-20261203T000000.partial"
    dead.mkdir(parents=True)
    res = CliRunner().invoke(main, ["cache", "--cache-dir", str(tmp_path / "cache"),
                                    "--output-dir", str(tmp_path / "runs")])
    assert res.exit_code == 0, res.output
    assert str(dead) in res.output and "unfinished run directory" in res.output
    assert dead.is_dir()  # listing removes nothing
    res = CliRunner().invoke(main, ["run", str(path), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "removed 1 leftovers of interrupted runs" in res.output and not dead.exists()
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and not runs[0].name.startswith(".")  # no lock file, no partial
    (tmp_path / "cache" / ".x.h5.abcd.tmp").write_bytes(b"1")
    res = CliRunner().invoke(main, ["cache", "--cache-dir", str(tmp_path / "cache"), "--prune"])
    assert res.exit_code == 0 and "removed 1" in res.output
    assert not (tmp_path / "cache" / ".x.h5.abcd.tmp").exists()
