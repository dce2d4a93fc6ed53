"""linksim.fsutil: a file or directory written atomically appears whole or not at all, and
nothing is left beside it when the writer fails."""

import pytest

from linksim.fsutil import atomic_directory, atomic_path


def test_atomic_path_renames_on_success_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "a.npz"
    with atomic_path(target, suffix=".npz") as tmp:
        assert tmp.parent == target.parent and tmp.name.endswith(".npz")
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("writer failed")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.npz"]


def test_atomic_directory_replaces_the_old_one_or_leaves_it(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_directory(target, suffix=".partial") as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith(".partial")
        assert not any(tmp.iterdir())
        (tmp / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    with pytest.raises(KeyboardInterrupt), atomic_directory(target) as tmp:
        (tmp / "half.txt").write_text("half")
        raise KeyboardInterrupt
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
