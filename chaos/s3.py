"""The chaos broker's object store: moto's S3 server, with the broker's listings answered fast.

Tansu's S3 engine lists a partition's ``records/`` prefix on every fetch. moto writes each
listing's XML with its generic response serializer, at about 100 µs per object listed: with a few
thousand objects the listings took most of moto's core and the broker fell from 600 to 330
produced events per second within two minutes, and further as the run went on (docs/chaos.md).

This serves moto's own application, with two changes. moto works out which of its ~200 services a
request is for on every request, matching the host against each service's URL patterns under one
lock (about a quarter of its CPU in a chaos run); the answer for a host never changes, so it is
remembered (:class:`Dispatcher`). And the listings Tansu sends (``GET /<bucket>?list-type=2`` with
a prefix, a page size or a continuation token; nothing else) are written here from moto's own
answer: the same keys, chosen, sorted and paged by moto's backend, in the same XML. Any other
request, or a listing with any other parameter, is moto's. ``tests/chaos/test_s3.py`` compares the
two answers.

    python -m chaos.s3 -H 127.0.0.1 -p 9000
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.s3.models import FakeKey, s3_backends
from werkzeug.serving import run_simple

#: The listing parameters answered here; a listing with any other goes to moto.
FAST_PARAMETERS = {"list-type", "prefix", "max-keys", "continuation-token"}
DEFAULT_MAX_KEYS = 1000  # moto's and S3's page size
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class FastListing:
    """WSGI middleware: ListObjectsV2 of a path-style bucket from moto's backend, written directly."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        body = self._listing(environ) if environ.get("REQUEST_METHOD") == "GET" else None
        if body is None:
            return self.app(environ, start_response)
        start_response("200 OK", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))])
        return [body]

    @staticmethod
    def _listing(environ: dict[str, Any]) -> bytes | None:
        """The XML of the listing asked for, or None when moto is to answer the request."""
        bucket_name = environ.get("PATH_INFO", "").strip("/")
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        if (not bucket_name or "/" in bucket_name or query.get("list-type") != ["2"]
                or not set(query) <= FAST_PARAMETERS or any(len(v) != 1 for v in query.values())):
            return None
        where = s3_backends.bucket_accounts.get(bucket_name)
        if where is None:
            return None  # moto answers NoSuchBucket
        partition, account_id = where
        backend = s3_backends[account_id][partition]
        prefix = query.get("prefix", [""])[0]
        token = query.get("continuation-token", [None])[0]
        if token is not None and token not in backend._pagination_tokens:
            return None  # an unknown or empty token: moto's error
        try:
            max_keys = int(query.get("max-keys", [DEFAULT_MAX_KEYS])[0])
        except ValueError:
            return None
        bucket = backend.get_bucket(bucket_name)
        keys, truncated, next_token = backend.list_objects_v2(
            bucket=bucket, prefix=prefix or None, delimiter=None, continuation_token=token,
            start_after=None, max_keys=max_keys,
        )
        return listing_xml(bucket_name, prefix, max_keys, [k for k in keys if isinstance(k, FakeKey)],
                           truncated, next_token)


def listing_xml(bucket: str, prefix: str, max_keys: int, keys: list[FakeKey], truncated: bool,
                next_token: str | None) -> bytes:
    """A ListObjectsV2 result as moto writes it (same elements, same order)."""
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">',
             f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
    for key in keys:
        checksum = (f"<ChecksumAlgorithm>{escape(key.checksum_algorithm)}</ChecksumAlgorithm>"
                    if key.checksum_algorithm else "")
        parts.append(
            f"<Contents><Key>{escape(key.name)}</Key><LastModified>{key.last_modified_ISO8601}</LastModified>"
            f"<ETag>{escape(key.etag)}</ETag><Size>{key.size}</Size>"
            f"<StorageClass>{escape(key.storage_class)}</StorageClass>{checksum}</Contents>"
        )
    parts.append(f"<Name>{escape(bucket)}</Name><Prefix>{escape(prefix)}</Prefix>"
                 f"<MaxKeys>{max_keys}</MaxKeys><KeyCount>{len(keys)}</KeyCount>")
    if next_token:
        parts.append(f"<NextContinuationToken>{escape(next_token)}</NextContinuationToken>")
    parts.append("</ListBucketResult>")
    return "".join(parts).encode()


class Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering the backend it found for each host."""

    def __init__(self, create_app: Callable[..., Any]) -> None:
        super().__init__(create_app)
        self._backend_of: dict[str | None, Any] = {}

    def get_backend_for_host(self, host: str | None) -> Any:
        try:
            return self._backend_of[host]
        except KeyError:
            backend = self._backend_of[host] = super().get_backend_for_host(host)
            return backend


def application() -> FastListing:
    """moto's server application (as ``moto_server`` builds it, with :class:`Dispatcher`), behind
    :class:`FastListing`."""
    return FastListing(Dispatcher(create_backend_app))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))  # as moto_server sets it
    run_simple(args.host, args.port, application(), threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
