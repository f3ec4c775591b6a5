"""Publish a CloudEvent from a file (or stdin) onto a Kafka topic, as a clinic system would.

    python -m deploy.publish consent.inbound event.json            # structured content mode
    python -m deploy.publish consent.inbound event.json --binary   # binary mode (ce_* headers)
    cat event.json | python -m deploy.publish consent.inbound -
    python -m deploy.publish consent.inbound event.json --key dgk_…   # signed with a system's own key

The key is the event's ``data.subject_id`` (or ``subject``), so one person's events stay in order.
The broker is ``KAFKA_BOOTSTRAP_SERVERS`` (default 127.0.0.1:9092, the one ``make run`` starts).
On ``consent.inbound`` and ``dsr.task-results`` the record is signed (``shared/recordsig.py``) with
``--key``, the clinic system's API key: by default ``dev-system``, which works in development only
and signs as the example website (source ``clinic/website``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from aiokafka import AIOKafkaProducer

from shared import recordsig
from shared.events import SIGNED_TOPICS


def encode(event: dict, binary: bool) -> tuple[bytes, list[tuple[str, bytes]]]:
    if not binary:
        return json.dumps(event, ensure_ascii=False).encode(), [("content-type", b"application/cloudevents+json")]
    headers = [(f"ce_{name}", str(value).encode()) for name, value in event.items()
               if name not in ("data", "datacontenttype")]
    headers.append(("content-type", event.get("datacontenttype", "application/json").encode()))
    return json.dumps(event.get("data"), ensure_ascii=False).encode(), headers


async def publish(topic: str, event: dict, binary: bool, bootstrap: str, api_key: str = recordsig.DEVELOPMENT_KEY) -> None:
    key = (event.get("data") or {}).get("subject_id") or event.get("subject")
    value, headers = encode(event, binary)
    if topic in SIGNED_TOPICS:
        headers = recordsig.signed(topic, value, headers, api_key)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=False)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, value=value, key=key.encode() if key else None, headers=headers)
    finally:
        await producer.stop()
    print(f"published to {meta.topic} partition {meta.partition} offset {meta.offset} (key {key})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("topic")
    parser.add_argument("file", help="a JSON CloudEvent, or - for standard input")
    parser.add_argument("--binary", action="store_true", help="binary content mode (ce_* headers)")
    parser.add_argument("--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"))
    parser.add_argument("--key", default=recordsig.DEVELOPMENT_KEY,
                        help="the clinic system's API key, to sign the record (default: dev-system, development only)")
    args = parser.parse_args()
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    try:
        event = json.loads(text)
    except ValueError as exc:
        sys.exit(f"not JSON: {exc}")
    try:
        recordsig.key_id(args.key)
    except ValueError as exc:
        sys.exit(f"--key: {exc}")
    asyncio.run(publish(args.topic, event, args.binary, args.bootstrap, args.key))


if __name__ == "__main__":
    main()
