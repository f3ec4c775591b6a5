"""The production deployment files parse, validate against their official schemas, and agree with
the code: setting names, ports, health paths, service modules, topics and the lock file.

Offline and fast: the Dockerfile is read by Docker's own parser (the ``dockerfile`` package
wraps BuildKit's), the Compose file is checked against the Compose Specification schema vendored
in deploy/schemas/, the Kubernetes manifests against the schemas ``kubernetes-validate`` ships.
``make deploy-check`` installs deploy/requirements.lock into a throwaway virtualenv (network).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import dockerfile
import jsonschema
import kubernetes_validate
import pytest
import yaml
from dotenv import dotenv_values
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from pydantic import AliasChoices, ValidationError

from deploy.apache_kafka import kafka_version
from services.consent.settings import ConsentSettings
from services.dsr.settings import DsrSettings
from services.notifier.settings import NotifierSettings
from shared.events import Topic
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SETTINGS: dict[str, type[ServiceSettings]] = {
    "consent": ConsentSettings,
    "dsr": DsrSettings,
    "notifier": NotifierSettings,
}
#: Variables a service container may set that are not Dongui settings (none: uvicorn's own
#: FORWARDED_ALLOW_IPS is refused at start-up, for DONGUI_FORWARDED_ALLOW_IPS).
OTHER_VARIABLES: set[str] = set()
#: What the image itself sets (Python's and the path), besides settings.
IMAGE_VARIABLES = {"PATH", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED"}
#: The Kubernetes versions the manifests must be valid for (oldest and newest checked).
K8S_VERSIONS = ("1.30", kubernetes_validate.utils.latest_version())


# --- helpers -------------------------------------------------------------------------------------


def setting_names(cls: type[ServiceSettings]) -> set[str]:
    """Every environment variable ``cls`` reads (pydantic-settings matches them case-insensitively)."""
    prefix = cls.model_config.get("env_prefix", "")
    names = set()
    for field_name, field in cls.model_fields.items():
        if isinstance(field.validation_alias, AliasChoices):
            names |= {c.upper() for c in field.validation_alias.choices if isinstance(c, str)}
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


def service_module_exists(module: str) -> bool:
    parts = module.split(".")
    return (ROOT.joinpath(*parts) / "__main__.py").is_file()


def service_of(argv: list[str]) -> str:
    assert argv[:2] == ["python", "-m"] and len(argv) == 3, argv
    module = argv[2]
    assert service_module_exists(module), f"{module} has no __main__.py"
    assert module.startswith("services.")
    return module.split(".")[1]


def compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def interpolate(value: str) -> str:
    """Compose interpolation with each variable's default (``${X:-default}``), ``$$`` kept as ``$``."""
    value = re.sub(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-([^}]*)\}", r"\1", value)
    assert not re.search(r"(?<!\$)\$\{", value), f"a variable without a default: {value}"
    return value.replace("$$", "$")


def k8s_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            yield path, document


def k8s_of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in k8s_documents() if d["kind"] == kind]


def real_secrets(service: str, values: dict[str, str]) -> dict[str, str]:
    """``values`` with every secret filled in as an operator would (keys, hashes, master keys)."""
    filled = {}
    for name, value in values.items():
        if name.endswith(("MASTER_KEY", "DELEGATION_SECRET")):
            value = base64.b64encode(os.urandom(32)).decode()
        elif name.endswith(("_API_KEY", "PASSWORD")):
            value = secrets.token_urlsafe(24)
        elif name == "DONGUI_API_KEYS":
            value = re.sub(r"<sha256 of [^>]*>", lambda _: hashlib.sha256(os.urandom(8)).hexdigest(), value)
        elif name == "DATABASE_URL":
            value = re.sub(r"<[A-Z_]+>", secrets.token_hex(12), value)
        filled[name] = value
    return filled


def load_settings(cls: type[ServiceSettings], environment: dict[str, str],
                  monkeypatch: pytest.MonkeyPatch) -> ServiceSettings:
    for name in list(os.environ):
        if name.upper() in setting_names(cls):
            monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return cls()


# --- Dockerfile ----------------------------------------------------------------------------------

INSTRUCTIONS = {"FROM", "ARG", "ENV", "RUN", "COPY", "ADD", "WORKDIR", "USER", "EXPOSE", "HEALTHCHECK",
                "CMD", "ENTRYPOINT", "LABEL", "STOPSIGNAL", "VOLUME", "SHELL", "ONBUILD"}


@pytest.fixture(scope="module")
def dockerfile_commands() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(DEPLOY / "Dockerfile")))


def stages(commands: list[dockerfile.Command]) -> list[list[dockerfile.Command]]:
    result: list[list[dockerfile.Command]] = []
    for command in commands:
        if command.cmd == "FROM":
            result.append([])
        if result:
            result[-1].append(command)
    return result


def python_image_version(commands: list[dockerfile.Command]) -> tuple[int, int]:
    args = dict(c.value[0].split("=", 1) for c in commands if c.cmd == "ARG" and "=" in c.value[0])
    images = {re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], c.value[0]) for c in commands if c.cmd == "FROM"}
    assert len(images) == 1, images  # build and runtime on the same base: the venv's python matches
    match = re.fullmatch(r"python:3\.(\d+)-slim(-\w+)?", images.pop())
    assert match, "the base is the official slim Python image"
    return 3, int(match.group(1))


def test_dockerfile_is_multi_stage_slim_unprivileged_and_locked(dockerfile_commands) -> None:
    assert {c.cmd for c in dockerfile_commands} <= INSTRUCTIONS
    assert python_image_version(dockerfile_commands) >= (3, 11)
    build, runtime = stages(dockerfile_commands)
    install = " ".join(" ".join(c.value) for c in build if c.cmd == "RUN")
    assert "-r /tmp/requirements.lock" in install and "--require-hashes" in install and "--no-deps" in install
    assert any(c.cmd == "COPY" and c.value[0] == "deploy/requirements.lock" for c in build)
    assert ".[dev]" not in install and "pyproject" not in install
    users = [c.value[0] for c in runtime if c.cmd == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*(:[1-9]\d*)?", users[-1]), "a numeric non-root user (runAsNonRoot)"
    env = {}
    for c in runtime:
        if c.cmd == "ENV":
            env.update(zip(c.value[::2], c.value[1::2], strict=False))
    every_setting = set().union(*(setting_names(cls) for cls in SETTINGS.values()))
    assert set(env) <= every_setting | IMAGE_VARIABLES, set(env) - every_setting - IMAGE_VARIABLES
    assert env["DONGUI_ENVIRONMENT"] == "production"
    assert all(env[f"{s.upper()}_HOST"] == "0.0.0.0" for s in SETTINGS)
    exposed = {int(p) for c in runtime if c.cmd == "EXPOSE" for p in c.value}
    assert exposed == {cls.model_fields["port"].default for cls in SETTINGS.values()}
    (cmd,) = [c for c in runtime if c.cmd == "CMD"]
    assert cmd.json and service_of(list(cmd.value)) in SETTINGS


def test_dockerfile_copies_what_dockerignore_lets_in(dockerfile_commands) -> None:
    ignore = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*", "everything is excluded unless named"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    sources = [c.value[0].rstrip("/") for c in dockerfile_commands
               if c.cmd == "COPY" and not any(f.startswith("--from") for f in c.flags)]
    assert sources and set(sources) == allowed
    assert all((ROOT / s).exists() for s in sources)


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200
    paths: ClassVar[list[str]] = []

    def do_GET(self) -> None:  # http.server's name
        type(self).paths.append(self.path)
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_dockerfile_healthcheck_asks_the_running_service(dockerfile_commands, tmp_path: Path) -> None:
    """The HEALTHCHECK's own command, run against a stand-in /healthz: it finds the service from
    PID 1's command line, asks its port, and fails on anything but 200."""
    (health,) = [c for c in dockerfile_commands if c.cmd == "HEALTHCHECK"]
    assert health.value[:3] == ("CMD", "python", "-c")
    code = health.value[3]
    assert "/healthz" in code
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"python\0-m\0services.dsr\0")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = {**os.environ, "DSR_PORT": str(server.server_address[1])}
        run = [sys.executable, "-c", code.replace("/proc/1/cmdline", str(cmdline))]
        _Health.status, _Health.paths = 200, []
        assert subprocess.run(run, env=env, capture_output=True, timeout=20).returncode == 0
        _Health.status = 503
        assert subprocess.run(run, env=env, capture_output=True, timeout=20).returncode != 0
        assert _Health.paths == ["/healthz", "/healthz"]
    finally:
        server.shutdown()
        server.server_close()
    # Without <PREFIX>PORT it uses each service's default port.
    for name, cls in SETTINGS.items():
        assert f"'{name}': {cls.model_fields['port'].default}" in code


# --- requirements.lock ---------------------------------------------------------------------------


def locked() -> dict[str, tuple[str, list[str], str]]:
    """name -> (version, hashes, the lines about it)."""
    text = (DEPLOY / "requirements.lock").read_text(encoding="utf-8")
    entries = {}
    for block in re.split(r"\n(?=[a-zA-Z0-9])", text):
        match = re.match(r"([A-Za-z0-9_.-]+)==([^\s\\;]+)", block)
        if match:
            entries[canonicalize_name(match.group(1))] = (match.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block), block)
    return entries


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return [Requirement(r) for r in project["dependencies"]]


def test_lock_pins_every_runtime_dependency_with_hashes(dockerfile_commands) -> None:
    entries = locked()
    assert entries
    for name, (_version, hashes, _) in entries.items():
        assert hashes, f"{name} has no hash"
    direct = {name for name, (_, _, block) in entries.items() if "dongui (pyproject.toml)" in block}
    wanted = {canonicalize_name(r.name) for r in runtime_requirements()}
    # Every runtime dependency is locked as a direct one (a dependency dropped from pyproject.toml
    # may linger in the lock until the next `make lock`: harmless, one unused package in the image).
    assert wanted <= direct, ("deploy/requirements.lock is stale: run `make lock` (docs/deployment.md)",
                              wanted - direct)
    for requirement in runtime_requirements():
        version = entries[canonicalize_name(requirement.name)][0]
        assert requirement.specifier.contains(version, prereleases=True), (requirement, version)
        # An extra (uvicorn[standard], sqlalchemy[asyncio]) brings its own packages.
        for extra in requirement.extras:
            from importlib.metadata import requires
            for line in requires(requirement.name) or []:
                dependency = Requirement(line)
                if dependency.marker and dependency.marker.evaluate({"extra": extra}) \
                        and not dependency.marker.evaluate({"extra": ""}):
                    assert canonicalize_name(dependency.name) in entries, (requirement, dependency)
    # Asia/Seoul must resolve without the system's zoneinfo.
    assert "tzdata" in entries
    header = re.search(r"pip-compile with Python (3\.\d+)", (DEPLOY / "requirements.lock").read_text())
    assert header and header.group(1) == "{}.{}".format(*python_image_version(dockerfile_commands))


# --- Compose -------------------------------------------------------------------------------------


def test_compose_file_is_valid_compose_specification() -> None:
    schema_path = DEPLOY / "schemas" / "compose-spec.json"
    recorded = re.search(r"sha256 `([0-9a-f]{64})`", (DEPLOY / "schemas" / "README.md").read_text())
    assert recorded and hashlib.sha256(schema_path.read_bytes()).hexdigest() == recorded.group(1)
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    validator = validator_class(schema, format_checker=validator_class.FORMAT_CHECKER)
    document = compose()
    assert [e.message for e in validator.iter_errors(document)] == []
    # The schema does catch a mistake (it is not vacuous).
    document["services"]["consent"]["healthcheck"]["intervall"] = "15s"
    assert list(validator.iter_errors(document))


def test_compose_services_match_the_code() -> None:
    document = compose()
    services = document["services"]
    # The Apache Kafka the tests run on (deploy/kafka/pom.xml), in the Compose file and its topic maker.
    tested = f"apache/kafka:{kafka_version()}"
    assert services["kafka"]["image"] == services["kafka-topics"]["image"] == tested
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft
    assert services["postgres"]["image"].startswith("postgres:")
    for infra in ("kafka", "postgres"):
        assert services[infra]["healthcheck"]["test"]
    for name, cls in SETTINGS.items():
        service = services[name]
        assert service_of(service["command"]) == name
        port = cls.model_fields["port"].default
        environment = service["environment"]
        assert int(environment[f"{name.upper()}_PORT"]) == port
        assert environment[f"{name.upper()}_HOST"] == "0.0.0.0"
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"]
        assert f"http://127.0.0.1:{port}/healthz" in " ".join(service["healthcheck"]["test"])
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"},
                                          "kafka-topics": {"condition": "service_completed_successfully"}}
        assert service["read_only"] is True and "ALL" in service["cap_drop"]
        assert environment["DONGUI_ENVIRONMENT"] == "production"
        assert environment["KAFKA_IDEMPOTENT_PRODUCER"] == "true"
        assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        # Every variable given to the container is a setting of this service.
        names = set(environment)
        for env_file in service["env_file"]:
            example = DEPLOY / f"{env_file}.example"
            assert example.is_file(), f"{example} is missing"
            names |= set(dotenv_values(example))
        unknown = {n for n in names if n.upper() not in setting_names(cls)} - OTHER_VARIABLES
        assert not unknown, f"{name}: not settings of {cls.__name__}: {unknown}"


def test_compose_creates_exactly_the_topics_the_services_use() -> None:
    script = compose()["services"]["kafka-topics"]["command"][0]
    created = re.findall(r"^create ([a-z.-]+)\s+(\d+)$", script, flags=re.MULTILINE)
    compacted = re.findall(r"--topic ([a-z.-]+) .*\n.*cleanup.policy=compact", script)
    assert {t for t, _ in created} | set(compacted) == {t.value for t in Topic}
    assert all(int(ms) <= 7 * 24 * 3600 * 1000 for _, ms in created)  # personal data: a week at most
    assert compacted == ["dsr.systems"]  # no personal data: the systems and their keys' hashes


def test_env_files_with_secrets_are_not_committed() -> None:
    for env_file in {f for s in compose()["services"].values() for f in s.get("env_file", [])}:
        path = f"deploy/{env_file}"
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT)
        assert ignored.returncode == 0, f"{path} is not git-ignored"


@pytest.mark.parametrize("name", SETTINGS)
def test_compose_configuration_is_accepted_in_production(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """What Compose hands a container: the settings load with production checks, once the
    operator has filled in the secrets; with the example's placeholders left, the service refuses."""
    service = compose()["services"][name]
    environment = {k: interpolate(str(v)) for k, v in service["environment"].items()}
    examples: dict[str, str] = {}
    for env_file in service["env_file"]:
        examples.update({k: v or "" for k, v in dotenv_values(DEPLOY / f"{env_file}.example").items()})
    cls = SETTINGS[name]
    settings = load_settings(cls, {**real_secrets(name, examples), **environment}, monkeypatch)
    assert settings.environment.value == "production"
    assert settings.host == "0.0.0.0" and settings.port == cls.model_fields["port"].default
    assert settings.kafka_idempotent_producer is True
    assert settings.api_keys and settings.master_key.get_secret_value()
    assert settings.database_url.startswith(f"postgresql://dongui_{name}:")
    with pytest.raises(ValidationError):
        load_settings(cls, {**examples, **environment}, monkeypatch)


def test_docker_compose_config_accepts_it_when_docker_compose_is_installed(tmp_path: Path) -> None:
    if shutil.which("docker") is None or subprocess.run(["docker", "compose", "version"],
                                                        capture_output=True).returncode != 0:
        pytest.skip("the docker compose plugin is not installed here (the schema test above still ran)")
    work = tmp_path / "deploy"
    shutil.copytree(DEPLOY, work, ignore=shutil.ignore_patterns("*.env", "__pycache__"))
    for example in work.glob("*.env.example"):
        shutil.copy(example, work / example.name.removesuffix(".example"))
    done = subprocess.run(["docker", "compose", "-f", str(work / "compose.yaml"), "config", "--quiet"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# --- Kubernetes ----------------------------------------------------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_manifests_are_valid(version: str) -> None:
    documents = list(k8s_documents())
    assert {d["kind"] for _, d in documents} >= {"Namespace", "ConfigMap", "Secret", "Deployment", "Service",
                                                  "PodDisruptionBudget"}
    for _path, document in documents:
        kubernetes_validate.validate(document, version, strict=True)
    # Strict validation refuses a misspelt field (it is not vacuous).
    deployment = json.loads(json.dumps(k8s_of_kind("Deployment")[0]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, version, strict=True)


def test_kubernetes_deployments_match_the_code() -> None:
    config = {d["metadata"]["name"]: set(d["data"]) for d in k8s_of_kind("ConfigMap")}
    secret_templates = {d["metadata"]["name"]: d["stringData"] for d in k8s_of_kind("Secret")}
    assert all(value == "" for data in secret_templates.values() for value in data.values()), \
        "Secret templates carry no values"
    services = {d["metadata"]["name"]: d for d in k8s_of_kind("Service")}
    budgets = {d["metadata"]["name"]: d for d in k8s_of_kind("PodDisruptionBudget")}
    deployments = {d["metadata"]["name"]: d for d in k8s_of_kind("Deployment")}
    assert set(deployments) == set(SETTINGS)
    for name, deployment in deployments.items():
        cls = SETTINGS[name]
        port = cls.model_fields["port"].default
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        (container,) = pod["containers"]
        assert spec["replicas"] >= 2
        assert service_of(container["command"]) == name
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, (name, probe)
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert "memory" in container["resources"]["limits"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts
        # The CA files the settings name are in a mounted Secret the templates describe.
        volumes = {v["name"]: v for v in pod["volumes"]}
        tls = volumes[mounts["/etc/dongui/tls"]]["secret"]["secretName"]
        ca_file = Path(next(d for d in k8s_of_kind("ConfigMap"))["data"]["KAFKA_SSL_CAFILE"])
        assert ca_file.parent == Path("/etc/dongui/tls") and ca_file.name in secret_templates[tls]
        # Every variable the pod gets is a setting of this service.
        names = {e["name"] for e in container["env"]}
        for source in container["envFrom"]:
            if "configMapRef" in source:
                names |= config[source["configMapRef"]["name"]]
            else:
                names |= set(secret_templates[source["secretRef"]["name"]])
        unknown = {n for n in names if n.upper() not in setting_names(cls)} - OTHER_VARIABLES
        assert not unknown, f"{name}: not settings of {cls.__name__}: {unknown}"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env[f"{name.upper()}_HOST"] == "0.0.0.0" and int(env[f"{name.upper()}_PORT"]) == port
        # The Service and the PodDisruptionBudget select these pods.
        labels = spec["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"] == labels
        assert services[name]["spec"]["selector"] == labels
        assert services[name]["spec"]["ports"][0]["port"] == port
        assert services[name]["spec"]["ports"][0]["targetPort"] == "http"
        assert budgets[name]["spec"]["selector"]["matchLabels"] == labels
        assert budgets[name]["spec"]["minAvailable"] < spec["replicas"]
    # The request service reaches the others by their Service names and ports.
    dsr_env = {e["name"]: e.get("value") for e in deployments["dsr"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert dsr_env["DSR_CONSENT_URL"] == "http://consent:8001"
    assert dsr_env["DSR_NOTIFIER_URL"] == "http://notifier:8003"
    shared = {d["metadata"]["name"]: d["data"] for d in k8s_of_kind("ConfigMap")}["dongui-config"]
    assert shared["DONGUI_ENVIRONMENT"] == "production" and shared["KAFKA_IDEMPOTENT_PRODUCER"] == "true"
    assert int(shared["KAFKA_REPLICATION_FACTOR"]) >= 3


def test_kustomization_applies_everything_but_the_secret_templates() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text(encoding="utf-8"))
    listed = set(kustomization["resources"])
    manifests = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secrets.template.yaml"}
    assert listed == manifests
    if shutil.which("kubectl") is None:
        return
    built = subprocess.run(["kubectl", "kustomize", str(K8S)], capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    rendered = list(yaml.safe_load_all(built.stdout))
    assert all(d["metadata"].get("namespace") == "dongui" for d in rendered if d["kind"] != "Namespace")
    images = {c["image"] for d in rendered if d["kind"] == "Deployment"
              for c in d["spec"]["template"]["spec"]["containers"]}
    assert len(images) == 1  # one image for the three services
