"""Hostile programs: each must end with the right status, leave no process behind and the host untouched.

The whole module runs inside a guard cgroup (tests/sandbox_guard.py) so that a sandbox regression
fails a test instead of exhausting the machine.
"""

from __future__ import annotations

import os
import socket
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sandbox import Judge, Limits, Sandbox, Status
from tests.sandbox_guard import guard  # noqa: F401 - fixture

PROJECT = Path(__file__).resolve().parents[1]
FAST = Limits(wall_s=2.0, memory_mb=256, tmp_mb=8, file_mb=4, output_bytes=64 * 1024)


@pytest.fixture(scope="module")
def box(guard):  # noqa: F811 - the guard fixture
    with Sandbox(limits=FAST) as sb:
        yield sb


@pytest.fixture(autouse=True)
def no_strays(guard):  # noqa: F811
    yield
    assert guard.wait_no_strays() == [], "a sandboxed program left processes behind"


def py(box: Sandbox, code: str, **limits):
    return box.run(textwrap.dedent(code), "python", limits=Limits(**{**FAST.to_dict(), **limits}) if limits else None)


def cpp(box: Sandbox, code: str, **limits):
    return box.run(textwrap.dedent(code), "cpp", limits=Limits(**{**FAST.to_dict(), **limits}) if limits else None)


# -- processes ---------------------------------------------------------------------------------------

def test_python_fork_bomb_cannot_fork(box):
    r = py(box, """
        import os
        n = 0
        while True:
            try:
                os.fork()
                n += 1
            except OSError:
                pass
    """, wall_s=1.0)
    assert r.status is Status.TIMEOUT


def test_fork_failure_is_reported_to_the_program(box):
    r = py(box, """
        import os, subprocess
        for f in (os.fork, lambda: subprocess.run(["true"])):
            try:
                f(); print("forked")
            except OSError as e:
                print("denied", e.errno)
    """)
    assert r.status is Status.OK, r.stderr
    assert r.stdout.split("\n")[:2] == ["denied 11", "denied 11"]


def test_cpp_fork_bomb(box):
    r = cpp(box, """
        #include <unistd.h>
        int main() { for (;;) fork(); }
    """, wall_s=1.0)
    assert r.status is Status.TIMEOUT


def test_thread_bomb_is_bounded(box):
    r = py(box, """
        import threading, time
        n = 0
        try:
            while True:
                threading.Thread(target=time.sleep, args=(100,), daemon=True).start()
                n += 1
        except (RuntimeError, MemoryError) as e:
            print("stopped", n)
    """, wall_s=5.0)
    assert r.status in (Status.OK, Status.MEMORY_LIMIT, Status.RUNTIME_ERROR), r
    if r.status is Status.OK:
        assert r.stdout.startswith("stopped")


def test_busy_threads_are_killed_at_the_limit(box):
    start = time.monotonic()
    r = py(box, """
        import threading
        def spin():
            while True: pass
        for _ in range(8):
            threading.Thread(target=spin).start()
    """, wall_s=1.0)
    assert r.status is Status.TIMEOUT
    assert time.monotonic() - start < 5.0


def test_cpu_limit_is_a_timeout_even_when_threads_fail_to_start(box):
    # A tight address space makes some thread starts fail (each thread reserves a stack and a malloc
    # arena); the main thread dies with a traceback while the started threads spin to the CPU limit.
    r = py(box, """
        import threading
        def spin():
            while True: pass
        for _ in range(64):
            threading.Thread(target=spin).start()
    """, wall_s=3.0, cpu_s=1.0, memory_mb=128)
    assert r.status is Status.TIMEOUT, r
    assert r.wall_ms < 2900


def test_ignoring_sigxcpu_is_killed_one_second_later_and_still_a_timeout(box):
    r = py(box, """
        import signal
        signal.signal(signal.SIGXCPU, signal.SIG_IGN)
        while True: pass
    """, wall_s=5.0, cpu_s=1.0)
    if r.cpu_ms is None:
        pytest.skip("without a cpuacct cgroup a SIGKILL at the hard CPU limit cannot be told from another kill")
    assert r.status is Status.TIMEOUT, r
    assert r.signal == 9 and r.wall_ms < 4500


def test_setsid_daemon_dies_with_the_run(box, guard):  # noqa: F811
    # Process creation is denied for programs, so use the compiler's policy (processes allowed) to check
    # that the pid namespace still takes a detached daemon down when the run ends.
    from sandbox.languages import get_language

    code = textwrap.dedent("""
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(30)
            os._exit(0)
        print("parent done")
    """).encode()
    lang = get_language("python")
    r = box.execute_files(lang, {lang.source_name: code}, stdin=b"", limits=FAST, policy="compile")
    assert r.status is Status.OK and r.stdout == "parent done\n", r
    assert guard.wait_no_strays() == []


def test_kill_parent_and_everyone(box):
    r = py(box, """
        import os, signal
        for target in (os.getppid(), -1, 1):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError as e:
                print("denied", e.errno)
        print("alive")
    """)
    assert r.status in (Status.OK, Status.RUNTIME_ERROR)
    assert os.getpid() > 0  # the test process is still here


def test_ignoring_sigterm_does_not_help(box):
    r = py(box, """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.alarm(0)
        time.sleep(60)
    """, wall_s=1.0)
    assert r.status is Status.TIMEOUT and r.wall_ms < 2500


# -- time, memory, output ----------------------------------------------------------------------------

def test_infinite_loop_times_out(box):
    r = py(box, "while True: pass", wall_s=1.0)
    assert r.status is Status.TIMEOUT and r.signal == 9


def test_sleep_past_the_limit(box):
    r = py(box, "import time; time.sleep(100)", wall_s=0.5)
    assert r.status is Status.TIMEOUT and 450 <= r.wall_ms < 2000


def test_python_memory_bomb(box):
    r = py(box, """
        chunks = []
        while True:
            chunks.append(bytearray(10 ** 7))
    """)
    assert r.status is Status.MEMORY_LIMIT


def test_cpp_memory_bomb(box):
    r = cpp(box, """
        #include <cstring>
        int main() { for (;;) { char* p = new char[1 << 24]; std::memset(p, 1, 1 << 24); } }
    """)
    assert r.status is Status.MEMORY_LIMIT


def test_huge_stdout_is_cut_quickly(box):
    r = py(box, "import sys\nwhile True: sys.stdout.write('x' * 65536)", wall_s=5.0)
    assert r.status is Status.OUTPUT_LIMIT and r.truncated
    assert len(r.stdout) == FAST.output_bytes and r.wall_ms < 2000


def test_huge_stderr_is_cut(box):
    r = py(box, "import os\nwhile True: os.write(2, b'e' * 65536)", wall_s=5.0)
    assert r.status is Status.OUTPUT_LIMIT and len(r.stderr) == FAST.output_bytes


def test_filling_tmp_and_huge_files(box):
    r = py(box, """
        import errno
        try:
            with open("/tmp/fill", "wb") as f:
                while True:
                    f.write(b"0" * 1048576); f.flush()
        except OSError as e:
            print("full", errno.errorcode[e.errno])
    """)
    assert r.status is Status.OK and r.stdout.strip() in ("full ENOSPC", "full EFBIG"), r


def test_segfault_via_ctypes(box):
    r = py(box, "import ctypes\nctypes.string_at(0)")
    assert r.status is Status.RUNTIME_ERROR and r.signal == 11


def test_raising_rlimits_is_refused(box):
    r = py(box, """
        import resource
        for res in (resource.RLIMIT_AS, resource.RLIMIT_CPU, resource.RLIMIT_NOFILE):
            try:
                resource.setrlimit(res, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
                print("raised")
            except (ValueError, OSError):
                print("refused")
    """)
    assert r.status is Status.OK and r.stdout.split() == ["refused"] * 3


# -- filesystem, environment, network ------------------------------------------------------------------

def test_host_files_are_invisible(box):
    secret_dir = Path.home()
    r = py(box, f"""
        import os
        for path in ("/etc/shadow", "/etc/passwd", {str(PROJECT / 'pyproject.toml')!r}, {str(secret_dir)!r},
                     "/root", "/home", "/sys/fs/cgroup", "/proc/1/root/etc/shadow"):
            try:
                if os.path.isdir(path):
                    print(path, "listed", os.listdir(path))
                else:
                    open(path).read(); print(path, "READ")
            except OSError as e:
                print(path, "blocked")
    """)
    assert r.status is Status.OK, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 8 and all(line.endswith("blocked") for line in lines), r.stdout


def test_writes_outside_tmp_fail_and_host_is_untouched(box):
    target = PROJECT / "sandbox-escape-marker"
    r = py(box, f"""
        for path in ("/usr/x", "/x", "/box/x", "/dev/x", {str(target)!r}):
            try:
                open(path, "w").write("pwned"); print(path, "WROTE")
            except OSError:
                print(path, "blocked")
        try:
            open("/dev/shm/big", "wb").write(b"0" * 10**6); print("shm WROTE")
        except OSError:
            print("shm blocked")
        try:  # the sandbox's own UTS namespace, but /proc is read-only in there
            open("/proc/sys/kernel/hostname", "w").write("pwned"); print("hostname WROTE")
        except OSError:
            print("hostname blocked")
        open("/tmp/ok", "w").write("fine"); print("tmp ok")
    """)
    assert r.status is Status.OK, r.stderr
    assert "WROTE" not in r.stdout and "tmp ok" in r.stdout and "shm blocked" in r.stdout and "hostname blocked" in r.stdout
    assert not target.exists()
    assert socket.gethostname() != "pwned"


def test_symlinks_to_host_files_lead_nowhere(box):
    r = py(box, """
        import os
        os.symlink("/etc/shadow", "/tmp/s")
        os.symlink("/proc/1/environ", "/tmp/e")
        for p in ("/tmp/s", "/tmp/e"):
            try:
                data = open(p, "rb").read(); print(p, len(data))
            except OSError:
                print(p, "blocked")
    """)
    assert r.status is Status.OK
    assert "/tmp/s blocked" in r.stdout


def test_parent_environment_does_not_leak(box, monkeypatch):
    monkeypatch.setenv("RLTRAIN_TEST_SECRET", "hunter2-secret")
    r = py(box, """
        import os
        print(dict(os.environ))
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    print(open(f"/proc/{pid}/environ", "rb").read())
                except OSError as e:
                    print(pid, "blocked")
    """)
    assert r.status is Status.OK
    assert "hunter2" not in r.stdout and "RLTRAIN_TEST_SECRET" not in r.stdout


def test_proc_shows_only_the_sandbox(box):
    r = py(box, """
        import os
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        print(len(pids), open("/proc/self/status").read().count("NSpid"))
    """)
    assert r.status is Status.OK
    assert int(r.stdout.split()[0]) <= 3, r.stdout  # bwrap's init and the program, nothing of the host


def test_no_network_not_even_loopback(box):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.5)
    port = server.getsockname()[1]
    r = py(box, f"""
        import socket
        for family, addr in ((socket.AF_INET, ("127.0.0.1", {port})), (socket.AF_INET, ("1.1.1.1", 53)),
                             (socket.AF_UNIX, "/tmp/x")):
            try:
                s = socket.socket(family, socket.SOCK_STREAM); s.connect(addr); print("CONNECTED")
            except OSError as e:
                print("blocked", e.errno)
    """)
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()
    assert r.status is Status.OK and "CONNECTED" not in r.stdout and r.stdout.count("blocked") == 3


def test_dangerous_syscalls_are_denied(box):
    r = py(box, """
        import ctypes, fcntl, termios, errno
        libc = ctypes.CDLL(None, use_errno=True)
        checks = {"ptrace": (101, 0, 0, 0, 0), "io_uring_setup": (425, 8, 0), "unshare": (272, 0x20000),
                  "bpf": (321, 0, 0, 0), "process_vm_readv": (310, 1, 0, 0, 0, 0, 0)}
        for name, args in checks.items():
            rc = libc.syscall(*args)
            print(name, rc, errno.errorcode.get(ctypes.get_errno()))
        try:
            fcntl.ioctl(0, termios.TIOCSTI, b"x"); print("tiocsti ALLOWED")
        except OSError as e:
            print("tiocsti", errno.errorcode[e.errno])
    """)
    assert r.status is Status.OK, r.stderr
    for line in r.stdout.strip().splitlines():
        name, *rest = line.split()
        assert "ALLOWED" not in line and rest[-1] == "EPERM" or name == "tiocsti" and rest[-1] in ("EPERM", "ENOTTY"), line


def test_concurrent_jobs_cannot_see_each_other(box):
    writer = """
        import time
        open("/tmp/secret-a", "w").write("a-secret")
        time.sleep(1.0)
        print("written")
    """
    spy = """
        import os, time
        time.sleep(0.3)
        seen = os.listdir("/tmp") + os.listdir("/proc") + os.listdir("/dev/shm")
        print(seen)
    """
    with ThreadPoolExecutor(2) as pool:
        a = pool.submit(py, box, writer)
        b = pool.submit(py, box, spy)
        ra, rb = a.result(), b.result()
    assert ra.status is Status.OK and rb.status is Status.OK
    assert "secret-a" not in rb.stdout


# -- privileges: who the program is on the host, and /proc tunables ----------------------------------

#: Host-wide tunables a program must not even open for writing (nothing is ever written to them here).
PROC_TUNABLES = (
    "/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches", "/proc/sys/kernel/panic",
    "/proc/sys/vm/overcommit_memory", "/proc/sys/fs/file-max", "/proc/sys/kernel/hostname", "/proc/sysrq-trigger",
    "/proc/irq/default_smp_affinity", "/proc/sys/net/ipv4/ip_forward",
)
#: Opens each tunable write-only and closes it without writing: safe even if the sandbox regressed.
OPEN_TUNABLES = f"""
import os
for path in {PROC_TUNABLES!r}:
    try:
        os.close(os.open(path, os.O_WRONLY)); print(path, "OPENED")
    except OSError as e:
        print(path, "blocked", e.errno)
"""


def _assert_tunables_blocked(stdout: str) -> None:
    lines = stdout.strip().splitlines()
    assert len(lines) == len(PROC_TUNABLES), stdout
    assert not [line for line in lines if line.endswith("OPENED")], stdout


def test_proc_tunables_cannot_be_opened_for_writing(box):
    r = py(box, OPEN_TUNABLES)
    assert r.status is Status.OK, r.stderr
    _assert_tunables_blocked(r.stdout)


def test_proc_is_read_only_even_for_a_program_mapped_to_host_root(guard, monkeypatch):  # noqa: F811
    # Belt and braces: with the privilege drop switched off the program is host root again (as root), and
    # the read-only /proc alone must still refuse every tunable (EROFS). Nothing is ever written.
    from sandbox import executor

    monkeypatch.setattr(executor, "launch_identity", lambda run_as: None)
    with Sandbox(limits=FAST) as root_box:
        assert root_box.run_identity is None
        r = py(root_box, OPEN_TUNABLES + "\nprint(open('/proc/self/status').read().count('Uid'))")
    assert r.status is Status.OK, r.stderr
    _assert_tunables_blocked(r.stdout.rsplit("\n", 2)[0])
    assert r.stdout.count("blocked 30") >= 6, r.stdout  # EROFS: refused by the mount, not by the uid


def _host_ids(pid: int) -> dict[str, list[int]]:
    """The host's view of a process: its uids, gids, groups, and its user namespace's uid map."""
    ids: dict[str, list[int]] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "Groups"):
            ids[key] = [int(v) for v in value.split()]
    ids["uid_map_outside"] = [int(line.split()[1]) for line in Path(f"/proc/{pid}/uid_map").read_text().splitlines()]
    ids["gid_map_outside"] = [int(line.split()[1]) for line in Path(f"/proc/{pid}/gid_map").read_text().splitlines()]
    return ids


def _descendant_running(name: bytes) -> int | None:
    """The pid of a descendant of this process whose command line ends with ``name`` (not bwrap's)."""
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().rstrip(b"\0")
            if not cmdline.endswith(name) or b"--unshare-all" in cmdline:
                continue
            pid = int(entry.name)
            while pid > 1:
                pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                if pid == me:
                    return int(entry.name)
        except (OSError, ValueError, IndexError):
            continue
    return None


def test_programs_run_as_an_unprivileged_host_uid(box):
    # Seen from the host (the only view that resolves every nested user namespace), the program and its
    # user namespace map to an unprivileged uid and gid, with no supplementary group, whoever the caller is.
    with ThreadPoolExecutor(1) as pool:
        run = pool.submit(py, box, "import time; time.sleep(3); print('done')", wall_s=6.0)
        deadline = time.monotonic() + 5.0
        pid = None
        while pid is None and time.monotonic() < deadline and not run.done():
            pid = _descendant_running(b"/box/main.py")
            time.sleep(0.02)
        assert pid is not None, "the sandboxed program was not found among this process's descendants"
        ids = _host_ids(pid)
        assert run.result().status is Status.OK
    assert 0 not in ids["Uid"] and 0 not in ids["Gid"], ids
    assert 0 not in ids["Groups"], ids
    assert ids["uid_map_outside"] and 0 not in ids["uid_map_outside"], ids
    assert ids["gid_map_outside"] and 0 not in ids["gid_map_outside"], ids
    assert box.report.run_uid == ids["Uid"][0] and box.report.run_gid == ids["Gid"][0]


def test_compiled_programs_run_unprivileged_too(box):
    r = cpp(box, """
        #include <cstdio>
        #include <fcntl.h>
        int main() {
            int fd = open("/proc/sys/kernel/core_pattern", O_WRONLY);
            std::printf("%s\\n", fd < 0 ? "blocked" : "OPENED");
        }
    """)
    assert r.status is Status.OK and r.stdout == "blocked\n", r


def test_served_runs_cannot_open_proc_tunables(box):
    from sandbox.client import SandboxClient
    from sandbox.server import build_service

    service, app = build_service(box, port=0, workers=1, queue=1)
    service.start()
    try:
        r = SandboxClient(service.url).run(textwrap.dedent(OPEN_TUNABLES), "python")
    finally:
        service.shutdown()
        app.close()
    assert r.ok, r.stderr
    _assert_tunables_blocked(r.stdout)


def test_self_test_reports_the_unprivileged_outside_uid(box):
    from sandbox import self_test

    report = self_test()
    assert report.level == "bwrap+seccomp"
    assert report.run_uid not in (None, 0) and report.run_gid not in (None, 0), report
    assert report.to_dict()["run_uid"] == report.run_uid


def test_self_test_refuses_isolation_when_programs_would_map_to_host_root(box, monkeypatch):
    # Launch the probe without dropping privileges (as the sandbox did before), as root: the probe
    # must see the program map to host uid 0 and refuse the level.
    from sandbox import isolation

    monkeypatch.setattr(isolation, "launch_identity", lambda run_as: None)
    report = isolation.probe_isolation(isolation.DEFAULT_RUN_AS)
    assert report.level == "unsafe-none", report
    assert report.run_uid == 0 and "host uid 0" in report.detail, report


# -- C++ compile-time attacks ------------------------------------------------------------------------

def test_cpp_include_dev_zero_is_a_compile_error(box):
    start = time.monotonic()
    r = box.run('#include "/dev/zero"\nint main(){}', "cpp", limits=Limits(compile_wall_s=10, compile_memory_mb=512))
    assert r.status is Status.COMPILE_ERROR
    assert time.monotonic() - start < 12


def test_cpp_include_host_secret_leaks_nothing(box):
    r = box.run('#include "/etc/shadow"\nint main(){}', "cpp")
    assert r.status is Status.COMPILE_ERROR
    assert "root:" not in r.stderr and "No such file" in r.stderr


# -- reward hacks --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def judge(box):
    return Judge(box)


def test_always_equal_object_fails(judge):
    code = """
class Liar(int):
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __hash__ = int.__hash__
def add(a, b): return Liar(0)
"""
    result = judge.judge(code, "python", ["assert add(1, 2) == 3", {"call": "add(2, 2)", "expected": 4}])
    assert result.passed == 0


def test_early_exit_and_fake_pass_fail(judge):
    exit_early = "import os\ndef add(a, b):\n    os._exit(0)"
    fake = "import atexit, os\natexit.register(lambda: os.write(1, b'PASS\\ntrue\\n3\\n'))\ndef add(a, b):\n    raise SystemExit(0)"
    for code in (exit_early, fake):
        result = judge.judge(code, "python", ["assert add(1, 2) == 3", "assert add(1, 2)"])
        assert result.passed == 0, result.to_dict()


def test_os_write_does_not_forge_a_call_result(judge):
    code = "import os\ndef add(a, b):\n    os.write(1, b'3\\n')\n    return None"
    assert judge.judge(code, "python", ["assert add(1, 2) == 3"]).passed == 0


def test_stdio_exit_zero_without_output_fails(judge):
    result = judge.judge("import sys; sys.exit(0)", "python", [{"input": "1 2", "output": "3"}])
    assert result.tests[0].verdict == "wrong_answer"


# -- load ----------------------------------------------------------------------------------------------

def test_sleepers_beside_a_fork_bomb_do_not_fail(box):
    sleeper = "import time; time.sleep(0.3); print('ok')"
    bomb = "import os\nwhile True:\n    try: os.fork()\n    except OSError: pass"
    with ThreadPoolExecutor(6) as pool:
        bombs = [pool.submit(py, box, bomb, wall_s=2.0) for _ in range(2)]
        sleepers = [pool.submit(py, box, sleeper, wall_s=5.0) for _ in range(16)]
        results = [f.result() for f in sleepers]
        assert all(f.result().status is Status.TIMEOUT for f in bombs)
    assert [r.status for r in results] == [Status.OK] * 16
    assert all(r.stdout == "ok\n" for r in results)


def test_many_quick_runs_on_one_thread_all_succeed(guard):  # noqa: F811
    # A finished run's tasks can stay charged to the slot's pids cgroup for a second or more after they
    # are reaped (the kernel releases them in lazily batched RCU callbacks); the next runs' cap must not
    # count them, or a thread launching runs quickly fails them at bubblewrap's first fork.
    # A small task cap makes the lingering charges of a few dozen runs enough to show it.
    with Sandbox(limits=Limits(**{**FAST.to_dict(), "tasks": 8}), max_parallel=1) as one_thread:
        results = [one_thread.run("pass", "python") for _ in range(100)]
    failed = [r for r in results if r.status is not Status.OK]
    assert failed == [], f"{len(failed)} of 100 failed, e.g. {failed[0]}"


def test_a_slot_charged_for_many_dead_tasks_is_replaced_and_removed(guard, monkeypatch):  # noqa: F811
    # Past the limit of lingering charges a thread moves to a fresh slot (bounding how far a run's task
    # cap can exceed its own); every generation is gone once the sandbox closes.
    from sandbox import cgroups

    monkeypatch.setattr(cgroups, "LINGER_LIMIT", 4)
    with Sandbox(limits=Limits(**{**FAST.to_dict(), "tasks": 8}), max_parallel=1) as one_thread:
        results = [one_thread.run("pass", "python") for _ in range(40)]
        (slot,) = one_thread._slots._slots.values()
        generations = slot._generation
        dirs = [*slot.dirs.values(), *slot.retired]
        cap = int((slot.dirs["pids"] / "pids.max").read_text())
    assert [r.status for r in results] == [Status.OK] * 40
    assert generations > 0 and cap <= 8 + 2 + 4
    assert not [d for d in dirs if d.exists()]
