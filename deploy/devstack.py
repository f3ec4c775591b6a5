"""The whole development stack in the foreground: ``python -m deploy.devstack`` (``make run``).

Starts an embedded PostgreSQL (data kept in ``.data/postgres``) unless ``DATABASE_URL`` is
set, an embedded Kafka-protocol broker on 127.0.0.1:9092 unless ``KAFKA_BOOTSTRAP_SERVERS`` is
set, then every service (``services/<name>/__main__.py``) and every example clinic system
(``examples/<name>/__main__.py``). The broker is Tansu, in memory, unless ``KAFKA=apache``: then
it is Apache Kafka (KRaft, one node, data kept in ``.data/kafka``; ``deploy/apache_kafka.py``)
and the services run with production's idempotent producer.

Ctrl-C (SIGINT), SIGTERM or SIGHUP stop everything in order: services and examples, then
the broker, then PostgreSQL (fast shutdown), and exit 0. If any child dies on its own,
the rest is stopped too and the exit status is 1. Children run in their own sessions so
that only this supervisor sees the terminal's Ctrl-C, and (on Linux) are killed by the
kernel should this supervisor itself be killed with ``kill -9``.

Only the standard library and httpx are used here, besides ``deploy.local_infra`` and the
list of development API keys from ``shared.settings``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

import httpx

from deploy.apache_kafka import install_hint, start_kafka_cluster
from deploy.local_infra import (
    HOST,
    InfraError,
    ManagedProcess,
    PortInUseError,
    port_is_free,
    spawn,
    start_postgres,
    start_tansu,
)
from shared.settings import DEVELOPMENT_API_KEYS, DEVELOPMENT_NOTIFIER_KEY, DEVELOPMENT_REQUEST_SERVICE_KEY

REPO = Path(__file__).resolve().parent.parent
#: Where the stack keeps its data and logs (``DONGUI_DEV_DATA_DIR``: elsewhere, e.g. a test's own).
DATA_DIR = Path(os.environ.get("DONGUI_DEV_DATA_DIR") or REPO / ".data").resolve()
LOG_DIR = DATA_DIR / "logs"

DEFAULT_PG_PORT = 54329
#: Fixed by the project: every service's default KAFKA_BOOTSTRAP_SERVERS points here
#: (``DONGUI_DEV_KAFKA_PORT`` moves it, for a second stack beside the first, as the tests run one).
BROKER_PORT = int(os.environ.get("DONGUI_DEV_KAFKA_PORT") or 9092)
#: Apache Kafka's controller listener (KAFKA=apache), Kafka's own customary port.
DEFAULT_CONTROLLER_PORT = 9093
#: KAFKA=<one of these> chooses the embedded broker; the first is the default.
BROKERS = ("tansu", "apache")
#: Known services start in this order and on these ports; any other follows, alphabetically.
SERVICE_PORTS = {"consent": 8001, "dsr": 8002, "notifier": 8003}

HEALTH_TIMEOUT = 60.0
SERVICE_STOP_TIMEOUT = 10.0
#: PostgreSQL's fast shutdown ends with a checkpoint; SIGKILL would mean crash recovery.
INFRA_STOP_TIMEOUT = 30.0


class StartupError(Exception):
    """The stack cannot start; the message tells the developer what to do."""


class _Stack:
    """The children started so far, in start order."""

    def __init__(self) -> None:
        self.infra: list[ManagedProcess] = []  # PostgreSQL, broker
        self.apps: list[ManagedProcess] = []  # services, examples
        self.examples: set[str] = set()
        #: Settings the broker asks of its clients (Apache Kafka: the idempotent producer).
        self.broker_env: dict[str, str] = {}

    def all(self) -> list[ManagedProcess]:
        return [*self.infra, *self.apps]


class _StopRequested(BaseException):
    """Raised in the main thread by our signal handler (like KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _log(message: str) -> None:
    try:
        print(f"[devstack] {message}", file=sys.stderr, flush=True)
    except OSError:  # terminal gone (SIGHUP): logging must not abort the shutdown
        pass


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    # From now on further signals only print: a second Ctrl-C must not interrupt the
    # ordered shutdown half-way and leave a server running.
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _on_repeat_signal)
    raise _StopRequested(signum)


def _on_repeat_signal(signum: int, frame: FrameType | None) -> None:
    _log("already stopping; waiting for the children to exit")


# ------------------------------------------------------------------------ discovery


def discover(folder: str) -> list[str]:
    """Names of ``<folder>/<name>/__main__.py`` packages: known services first, then A-Z."""
    root = REPO / folder
    if not root.is_dir():
        return []
    names = sorted(
        p.parent.name for p in root.glob("*/__main__.py") if p.parent.name.isidentifier()
    )
    known = [n for n in SERVICE_PORTS if n in names]
    return known + [n for n in names if n not in SERVICE_PORTS]


def service_ports(services: list[str]) -> dict[str, int]:
    """Each service's port: ``<NAME>_PORT`` if set, else its fixed default (8004+ for new ones)."""
    ports: dict[str, int] = {}
    next_port = max(SERVICE_PORTS.values()) + 1
    for name in services:
        default = SERVICE_PORTS.get(name)
        if default is None:
            default, next_port = next_port, next_port + 1
        ports[name] = _int_env(f"{name.upper()}_PORT", default)
    return ports


def _int_env(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise StartupError(f"{name}={raw!r} is not a port number.") from None


def _redact(dsn: str) -> str:
    """The DSN without its password, for printing."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


# ----------------------------------------------------------------------- start-up


def _start_database(stack: _Stack) -> tuple[str, str]:
    """DATABASE_URL to give the services, and how to describe it in the banner."""
    external = os.environ.get("DATABASE_URL")
    if external:
        return external, "(from DATABASE_URL)"
    port = _int_env("DONGUI_DEV_PG_PORT", DEFAULT_PG_PORT)
    log_path = LOG_DIR / "postgres.log"
    _log(f"starting PostgreSQL on {HOST}:{port} (data in {DATA_DIR / 'postgres'})")
    try:
        proc = start_postgres(DATA_DIR / "postgres", port, log_path=log_path)
    except PortInUseError as exc:
        raise StartupError(
            f"Port {port} is already in use, so the embedded PostgreSQL cannot start.\n"
            f"  Use another port:           DONGUI_DEV_PG_PORT=<port> make run\n"
            f"  Or use an existing server:  "
            f"DATABASE_URL=postgresql://user:pass@host:port/db make run"
        ) from exc
    stack.infra.append(proc)
    return proc.url, f"(embedded; data in {_shown(DATA_DIR / 'postgres')}, log in {_shown(log_path)})"


def _start_broker(stack: _Stack) -> tuple[str, str]:
    """KAFKA_BOOTSTRAP_SERVERS to give the services, and its banner description."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        return external, "(from KAFKA_BOOTSTRAP_SERVERS)"
    kind = os.environ.get("KAFKA", "").strip().lower() or BROKERS[0]
    if kind not in BROKERS:
        raise StartupError(f"KAFKA={kind!r} names no broker this stack runs: KAFKA=apache, or leave it unset for Tansu.")
    in_use = (
        f"Port {BROKER_PORT} is already in use, so the embedded broker cannot start.\n"
        f"  Stop whatever listens on {BROKER_PORT}, or, if it is a Kafka broker you want "
        f"to use, point the stack at it:\n"
        f"    KAFKA_BOOTSTRAP_SERVERS={HOST}:{BROKER_PORT} make run"
    )
    if kind == "apache":
        controller = _int_env("DONGUI_DEV_KAFKA_CONTROLLER_PORT", DEFAULT_CONTROLLER_PORT)
        _log(f"starting Apache Kafka (KRaft, one node) on {HOST}:{BROKER_PORT}, its controller on {controller}")
        try:
            cluster = start_kafka_cluster(DATA_DIR / "kafka", [BROKER_PORT], controller_ports=[controller], log_dir=LOG_DIR)
        except PortInUseError as exc:
            if exc.port == BROKER_PORT:
                raise StartupError(in_use) from exc
            raise StartupError(f"Port {exc.port} for Apache Kafka's controller is in use: "
                               "DONGUI_DEV_KAFKA_CONTROLLER_PORT=<port> KAFKA=apache make run") from exc
        except InfraError as exc:
            raise StartupError(f"{exc}\n{install_hint()}") from exc
        stack.infra.extend(cluster.processes)
        stack.broker_env["KAFKA_IDEMPOTENT_PRODUCER"] = "true"  # what production runs, as production does
        log = _shown(cluster.nodes[0].log_path)
        return cluster.bootstrap, f"(embedded Apache Kafka, data in {_shown(DATA_DIR / 'kafka')}, log in {log})"
    log_path = LOG_DIR / "tansu.log"
    _log(f"starting the Kafka-protocol broker (Tansu) on {HOST}:{BROKER_PORT}")
    try:
        proc = start_tansu(BROKER_PORT, log_path=log_path)
    except PortInUseError as exc:
        raise StartupError(in_use) from exc
    stack.infra.append(proc)
    return proc.url, f"(embedded Tansu, in memory; log in {_shown(log_path)})"


def _shown(path: Path) -> str:
    """``path`` as the banner shows it: relative to the repository when it lies inside."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _wait_healthy(proc: ManagedProcess, port: int) -> None:
    """Wait until the service answers GET /healthz with any status, or fail clearly."""
    url = f"http://{HOST}:{port}/healthz"
    deadline = time.monotonic() + HEALTH_TIMEOUT
    # trust_env=False: an HTTP(S)_PROXY from the shell must not intercept loopback calls.
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            code = proc.poll()
            if code is not None:
                raise StartupError(
                    f"{proc.name} exited with code {code} while starting (see its output above)."
                )
            try:
                client.get(url)
                return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{proc.name} did not answer {url} within {HEALTH_TIMEOUT:.0f} s."
                )
            time.sleep(0.2)


def _start_python_module(
    kind: str, name: str, env: dict[str, str], stack: _Stack, url: str = ""
) -> ManagedProcess:
    proc = spawn(
        name,
        [sys.executable, "-m", f"{kind}.{name}"],
        url=url,
        env=env,
        cwd=REPO,  # `python -m examples.x` imports from the working directory
        log_path=None,  # services log JSON lines to the console
    )
    stack.apps.append(proc)
    return proc


def _banner(
    services: dict[str, int], examples: list[str], db: tuple[str, str], broker: tuple[str, str]
) -> str:
    lines = ["", "=" * 78, " Dongui development stack is running. Press Ctrl-C to stop it.", ""]
    if services:
        for name, port in services.items():
            base = f"http://{HOST}:{port}"
            lines.append(f"   {name:<10} {base:<24} API docs: {base}/docs")
    else:
        lines.append("   (no services yet: none of services/<name>/__main__.py exists)")
    for name in examples:
        lines.append(f"   {name:<10} example clinic system (python -m examples.{name})")
    lines += [
        "",
        f"   PostgreSQL  {_redact(db[0])}  {db[1]}",
        f"   Kafka       {broker[0]}  {broker[1]}",
        "",
        " Development API keys (header 'Authorization: Bearer <key>'):",
    ]
    notes = {"system": "  (acts as the example system 'website')"}
    services_keys = {DEVELOPMENT_REQUEST_SERVICE_KEY: "  (the request service's: opens sealed data)",
                     DEVELOPMENT_NOTIFIER_KEY: "  (the notifier's: tells requesters)"}
    lines += [f"   {key:<12} role {role.value}" + services_keys.get(key, notes.get(role.value, ""))
              for key, role in DEVELOPMENT_API_KEYS]
    if "dsr" in services:  # each clinic system's own key, issued by the privacy manager
        lines += ["", " A clinic system's own key (shown once; revoke with DELETE .../keys/<key_id>):",
                  f"   curl -s -X POST http://{HOST}:{services['dsr']}/v1/systems/emr/keys \\",
                  "     -H 'Authorization: Bearer dev-manager' -H 'Content-Type: application/json' \\",
                  "     -d '{\"name\": \"emr on my machine\"}'"]
    if "dsr" in services:  # the staff dashboard's development account (DsrSettings defaults)
        lines += ["", f" Staff dashboard: http://{HOST}:{services['dsr']}/dashboard/",
                  "   user manager   password dev-manager-password   role privacy_manager"]
    lines += ["=" * 78, ""]
    return "\n".join(lines)


# ------------------------------------------------------------------------ shutdown


def _shutdown(stack: _Stack) -> None:
    """Stop services and examples (together), then the broker, then PostgreSQL."""
    # Apps go first so they can still flush to the broker and database while stopping;
    # signalling them all at once bounds the wait to one timeout, not one per service.
    for proc in reversed(stack.apps):
        if proc.running:
            _log(f"stopping {proc.name}")
        proc.signal_stop()
    deadline = time.monotonic() + SERVICE_STOP_TIMEOUT
    for proc in stack.apps:
        proc.stop(timeout=deadline - time.monotonic())  # SIGKILL once the shared time is up
    for proc in reversed(stack.infra):
        if proc.running:
            _log(f"stopping {proc.name}")
        proc.stop(timeout=INFRA_STOP_TIMEOUT)


# ---------------------------------------------------------------------------- main


def _run(stack: _Stack) -> int:
    services = discover("services")
    examples = discover("examples")
    ports = service_ports(services)
    # Check the service ports first: a service would otherwise die on start-up, or
    # worse, /healthz would be answered by an older instance still running there.
    for name, port in ports.items():
        if not port_is_free(port):
            raise StartupError(
                f"Port {port} for the {name} service is already in use (an earlier stack "
                f"still running?). Stop it, or choose another port: "
                f"{name.upper()}_PORT=<port> make run"
            )

    db = _start_database(stack)
    broker = _start_broker(stack)

    env = dict(os.environ)
    env["DATABASE_URL"] = db[0]
    env["KAFKA_BOOTSTRAP_SERVERS"] = broker[0]
    for key, value in stack.broker_env.items():
        env.setdefault(key, value)
    env.setdefault("DONGUI_ENVIRONMENT", "development")
    env.setdefault("PYTHONUNBUFFERED", "1")  # logs appear at once even when piped
    # Every child learns every service's port, so services and examples can find each other.
    env.update({f"{name.upper()}_PORT": str(port) for name, port in ports.items()})

    for name, port in ports.items():
        _log(f"starting service {name} on {HOST}:{port}")
        proc = _start_python_module("services", name, env, stack, f"http://{HOST}:{port}")
        _wait_healthy(proc, port)
    for name in examples:
        _log(f"starting example {name}")
        stack.examples.add(name)
        _start_python_module("examples", name, env, stack)

    print(_banner(ports, examples, db, broker), flush=True)

    while True:
        for proc in stack.all():
            code = proc.poll()
            if code is None:
                continue
            if code == 0 and proc.name in stack.examples:
                # An example may be a one-shot script (seeding data, a demo run).
                _log(f"example {proc.name} finished")
                stack.apps.remove(proc)
                continue
            _log(f"{proc.name} exited unexpectedly with code {code}; stopping the stack")
            return 1
        time.sleep(0.5)


def main() -> int:
    """Run the stack until a stop signal or a child's death; return the exit status."""
    stack = _Stack()
    for sig in _STOP_SIGNALS:
        signal.signal(sig, _on_stop_signal)
    status = 1
    try:
        status = _run(stack)
    except _StopRequested as stop:
        _log(f"received {signal.Signals(stop.signum).name}, stopping")
        status = 0
    except (StartupError, InfraError) as exc:
        _log(f"cannot start: {exc}")
        status = 1
    finally:
        # Nothing may interrupt the ordered shutdown (see _on_stop_signal); a signal
        # arriving while the handlers are swapped has swapped them itself.
        try:
            for sig in _STOP_SIGNALS:
                signal.signal(sig, _on_repeat_signal)
        except _StopRequested:
            pass
        _shutdown(stack)
    if status == 0:
        _log("stopped")
    return status


if __name__ == "__main__":
    sys.exit(main())
