"""WorkerPool: ordered results, hard timeouts, errors, dead workers, use from threads."""

from __future__ import annotations

import os
import threading
import time

import pool_helpers as h
import pytest

from verifiers.pool import Outcome, WorkerPool, shared_pool


@pytest.fixture(scope="module")
def pool():
    with WorkerPool(workers=2) as p:
        yield p


def test_results_come_back_in_input_order(pool: WorkerPool) -> None:
    # Later items finish first; outcomes must still follow the input order.
    items = [(i, 0.05 * (4 - i)) for i in range(5)]
    outcomes = pool.map(h.slow_square, items, timeout=10)
    assert outcomes == [Outcome("ok", value=i * i) for i in range(5)]


def test_empty_input_starts_nothing() -> None:
    with WorkerPool(workers=1) as p:
        assert p.map(h.square, [], timeout=1) == []
        assert "0 started" in repr(p)


def test_sleeping_item_times_out_and_pool_keeps_working(pool: WorkerPool) -> None:
    start = time.monotonic()
    outcomes = pool.map(h.sleep_forever, [()], timeout=0.5)
    assert time.monotonic() - start < 0.5 + 1.0
    assert outcomes[0].status == "timed_out"
    assert pool.map(h.square, [(3,), (4,)], timeout=30) == [Outcome("ok", 9), Outcome("ok", 16)]


def test_busy_loop_is_killed_and_others_in_the_batch_finish(pool: WorkerPool) -> None:
    start = time.monotonic()
    outcomes = pool.map(h.spin_forever, [()], timeout=0.5)
    assert time.monotonic() - start < 0.5 + 1.0
    assert outcomes[0].status == "timed_out" and "0.5s" in outcomes[0].error

    outcomes = pool.map(h.slow_square, [(2, 0.0), (5, 60.0), (3, 0.0)], timeout=0.5)
    assert [o.status for o in outcomes] == ["ok", "timed_out", "ok"]
    assert outcomes[0].value == 4 and outcomes[2].value == 9


def test_exception_gives_errored_with_type_and_message(pool: WorkerPool) -> None:
    (outcome,) = pool.map(h.raise_value_error, [("bad input",)], timeout=10)
    assert outcome == Outcome("errored", error="ValueError: bad input")
    assert pool.map(h.square, [(5,)], timeout=10)[0].value == 25


def test_dead_worker_gives_errored_and_is_replaced(pool: WorkerPool) -> None:
    outcomes = pool.map(h.hard_exit, [(7,)], timeout=30)
    assert outcomes[0].status == "errored"
    assert outcomes[0].error == "worker died: exit code 7"
    assert pool.map(h.square, [(6,), (7,)], timeout=30) == [Outcome("ok", 36), Outcome("ok", 49)]


def test_unpicklable_result_is_reported(pool: WorkerPool) -> None:
    (outcome,) = pool.map(h.unpicklable_result, [()], timeout=10)
    assert outcome.status == "errored" and "cannot be sent back" in outcome.error


def test_local_function_is_rejected_up_front(pool: WorkerPool) -> None:
    with pytest.raises(TypeError, match="module level"):
        pool.map(lambda x: x, [(1,)], timeout=1)


def test_map_from_non_main_threads(pool: WorkerPool) -> None:
    results: dict[int, list[Outcome]] = {}

    def run(k: int) -> None:
        results[k] = pool.map(h.square, [(k,), (k + 1,)], timeout=30)

    threads = [threading.Thread(target=run, args=(k,)) for k in (10, 20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {10: [Outcome("ok", 100), Outcome("ok", 121)], 20: [Outcome("ok", 400), Outcome("ok", 441)]}


def test_timeout_enforced_from_a_thread(pool: WorkerPool) -> None:
    box: dict[str, object] = {}

    def run() -> None:
        start = time.monotonic()
        box["outcomes"] = pool.map(h.sleep_forever, [()], timeout=0.5)
        box["elapsed"] = time.monotonic() - start

    t = threading.Thread(target=run)
    t.start()
    t.join(30)
    assert box["outcomes"][0].status == "timed_out"  # type: ignore[index]
    assert box["elapsed"] < 1.5  # type: ignore[operator]


def test_workers_are_reused_and_retired_after_max_tasks() -> None:
    with WorkerPool(workers=1, max_tasks_per_worker=2) as p:
        pids = [o.value for o in p.map(h.worker_pid, [()] * 3, timeout=30)]
        assert pids[0] == pids[1] != pids[2]
        assert all(pid != os.getpid() for pid in pids)


def test_close_kills_workers_and_rejects_use() -> None:
    p = WorkerPool(workers=1)
    (pid,) = [o.value for o in p.map(h.worker_pid, [()], timeout=30)]
    p.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"worker {pid} still alive after close()")
    with pytest.raises(RuntimeError, match="closed"):
        p.map(h.square, [(1,)], timeout=1)
    p.close()  # idempotent


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="workers"):
        WorkerPool(workers=0)
    with WorkerPool(workers=1) as p, pytest.raises(ValueError, match="timeout"):
        p.map(h.square, [(1,)], timeout=0)


def test_shared_pool_is_per_process_singleton() -> None:
    assert shared_pool() is shared_pool()
    assert shared_pool().workers >= 1


def test_worker_start_failure_is_reported_not_hung() -> None:
    with WorkerPool(workers=1, preload=("no_such_module_for_the_pool_test",)) as p:
        outcomes = p.map(h.square, [(1,), (2,)], timeout=5)
    assert [o.status for o in outcomes] == ["errored", "errored"]
    assert "worker failed to start" in outcomes[0].error and "no_such_module_for_the_pool_test" in outcomes[0].error


def test_interrupted_map_leaves_the_pool_usable(monkeypatch: pytest.MonkeyPatch) -> None:
    import verifiers.pool as pool_module

    with WorkerPool(workers=1) as p:
        assert p.map(h.square, [(2,)], timeout=30)[0].value == 4  # worker started
        real_wait = pool_module.wait
        calls = {"n": 0}

        def interrupting_wait(*args: object, **kwargs: object) -> object:
            calls["n"] += 1
            if calls["n"] == 1:
                raise KeyboardInterrupt
            return real_wait(*args, **kwargs)

        monkeypatch.setattr(pool_module, "wait", interrupting_wait)
        with pytest.raises(KeyboardInterrupt):
            p.map(h.slow_square, [(3, 60.0)], timeout=60)
        monkeypatch.setattr(pool_module, "wait", real_wait)
        assert p.map(h.square, [(5,)], timeout=30) == [Outcome("ok", 25)]


def test_death_and_timeout_are_seen_without_a_pidfd(monkeypatch: pytest.MonkeyPatch) -> None:
    # Where os.pidfd_open is missing, a dead worker shows as the end of its connection instead.
    import verifiers.pool as pool_module

    monkeypatch.setattr(pool_module, "_exit_handle", lambda pid: None)
    with WorkerPool(workers=1) as p:
        assert p.map(h.hard_exit, [(3,)], timeout=30)[0].error == "worker died: exit code 3"
        assert p.map(h.sleep_forever, [()], timeout=0.5)[0].status == "timed_out"
        assert p.map(h.square, [(4,)], timeout=30) == [Outcome("ok", 16)]


def test_workers_run_in_their_own_session_without_the_parents_stdin() -> None:
    with WorkerPool(workers=1) as p:
        (outcome,) = p.map(h.session_and_stdin, [()], timeout=30)
    pid, sid, stdin_target = outcome.value
    assert sid == pid != os.getsid(0)  # a timeout's killpg reaches only the worker's own processes
    assert stdin_target == os.devnull
