"""The chaos broker's object store answers listings exactly as moto does (chaos/s3.py)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from chaos.s3 import Dispatcher, FastListing, application

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@pytest.fixture(scope="module")
def clients():
    fast = application()
    assert isinstance(fast, FastListing)
    moto, ours = Client(fast.app), Client(fast)
    assert moto.put("/chaos-s3-test").status_code == 200
    keys = [f"clusters/c/topics/t/partitions/{p:010d}/records/{o:020d}.batch" for p in range(3) for o in range(0, 60, 7)]
    keys += ["clusters/c/topics/t/partitions/0000000000/watermark.json", "odd/<&>'\" name"]
    for i, key in enumerate(reversed(keys)):
        assert moto.put(f"/chaos-s3-test/{key}", data=b"x" * i,
                        headers={"Content-Type": "application/octet-stream"}).status_code == 200
    return moto, ours


def parsed(response) -> tuple[int, list[tuple[str, str]]]:
    """Status and every element of the listing in order (the continuation token's value left out)."""
    root = ET.fromstring(response.data)
    return response.status_code, [(e.tag.removeprefix(NS), "" if e.tag.endswith("NextContinuationToken") else (e.text or ""))
                                  for e in root.iter()]


@pytest.mark.parametrize("query", [
    "list-type=2",
    "list-type=2&prefix=clusters/c/topics/t/partitions/0000000001/records/",
    "list-type=2&prefix=clusters/c/topics/t/partitions/0000000000/",
    "list-type=2&prefix=odd/",
    "list-type=2&prefix=nothing/",
    "list-type=2&prefix=clusters/&max-keys=4",
    "list-type=2&max-keys=0",
])
def test_a_listing_is_what_moto_answers(clients, query):
    moto, ours = clients
    assert parsed(ours.get(f"/chaos-s3-test?{query}")) == parsed(moto.get(f"/chaos-s3-test?{query}"))


def test_pages_follow_moto_s_continuation_tokens_to_the_same_keys(clients):
    moto, ours = clients

    def walk(client) -> list[str]:
        keys, token = [], None
        while True:
            query = "list-type=2&prefix=clusters/&max-keys=5" + (f"&continuation-token={token}" if token else "")
            root = ET.fromstring(client.get(f"/chaos-s3-test?{query}").data)
            keys += [k.text for k in root.iter(f"{NS}Key")]
            token = root.findtext(f"{NS}NextContinuationToken")
            if not token:
                return keys

    walked = walk(ours)
    assert len(walked) == 28 and walked == sorted(walked) == walk(moto)


@pytest.mark.parametrize("query", [
    "list-type=2&delimiter=/",               # a parameter it does not take
    "list-type=2&continuation-token=",       # an empty token: moto's error
    "",                                      # ListObjects version 1
])
def test_anything_else_is_moto_s_answer(clients, query):
    moto, ours = clients
    a, b = ours.get(f"/chaos-s3-test?{query}"), moto.get(f"/chaos-s3-test?{query}")
    assert a.status_code == b.status_code
    if a.status_code == 200:
        assert parsed(a) == parsed(b)


def test_a_missing_bucket_is_moto_s_error(clients):
    moto, ours = clients
    a, b = ours.get("/no-such-bucket?list-type=2"), moto.get("/no-such-bucket?list-type=2")
    assert a.status_code == b.status_code == 404
    assert b"NoSuchBucket" in a.data


@pytest.mark.parametrize("query", ["list-type=2&continuation-token=nope", "list-type=2&max-keys=many",
                                   "list-type=2&prefix=a&prefix=b", "list-type=1"])
def test_what_moto_would_refuse_is_left_to_moto(clients, query):
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/chaos-s3-test", "QUERY_STRING": query}
    assert FastListing._listing(environ) is None


@pytest.mark.parametrize("host", [None, "moto_api", "s3.us-east-1.amazonaws.com", "sqs.eu-west-1.amazonaws.com",
                                  "127.0.0.1:9000"])
def test_the_dispatcher_finds_the_backend_moto_finds_and_remembers_it(host):
    ours, moto = Dispatcher(create_backend_app), DomainDispatcherApplication(create_backend_app)
    assert ours.get_backend_for_host(host) == ours.get_backend_for_host(host) == moto.get_backend_for_host(host)
    assert host in ours._backend_of
