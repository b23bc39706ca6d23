"""SigV4 with the secret in the token: the public aws-sig-v4-test-suite, and botocore's own signer on generated
requests, against a real SoftHSM key made by ``p11.aws.import_secret``."""

from __future__ import annotations

import datetime
import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from p11 import Mechanism, errors
from p11.api.session import Session
from p11.aws import SigV4Signer, import_secret
from p11.aws.canonical import UNSIGNED_HEADERS
from p11.constants import Attribute, KeyType
from tests.aws.stubs import EXAMPLE_SECRET as SECRET

SUITE = Path(__file__).parent / "data" / "aws-sig-v4-test-suite"
SUITE_TOKEN = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267"  # get-vanilla-with-session-token


class CountingKey:
    """The real token key, counting the HMACs it is asked for (how often the token is crossed)."""

    def __init__(self, key: Any) -> None:
        self.key, self.calls = key, []

    def sign(self, data: bytes, mechanism: Any) -> bytes:
        self.calls.append(bytes(data))
        return bytes(self.key.sign(data, mechanism))


def parse_req(text: str) -> tuple[str, str, list[tuple[str, str]], bytes]:
    """A suite ``.req``: request line, headers (a folded continuation line is one more value of the header above, as
    the 2015 suite's expected ``my-header1:value1,value2,value3`` reads it), blank line, body."""
    head, _, body = text.partition("\n\n")
    request_line, *lines = head.split("\n")
    method, rest = request_line.split(" ", 1)
    target = rest.rsplit(" ", 1)[0]
    pairs: list[tuple[str, str]] = []
    for line in lines:
        if line[:1] in (" ", "\t"):
            pairs.append((pairs[-1][0], line.strip()))
        else:
            name, _, value = line.partition(":")
            pairs.append((name, value))
    return method, target, pairs, body.encode()


SUITE_CASES = sorted(p.stem for p in SUITE.glob("*.req"))
UNNORMALIZED = sorted(p.stem for p in (SUITE / "unnormalized").glob("*.req"))


def test_the_suite_is_all_there() -> None:
    """33 cases of the 2015 suite plus the 7 S3-style (unnormalised path) ones, each with its four files."""
    assert len(SUITE_CASES) == 33 and len(UNNORMALIZED) == 7
    for base in [SUITE / n for n in SUITE_CASES] + [SUITE / "unnormalized" / n for n in UNNORMALIZED]:
        assert all(base.with_suffix(ext).is_file() for ext in (".creq", ".sts", ".authz"))


@pytest.mark.parametrize("name", SUITE_CASES)
def test_aws_sig_v4_test_suite(aws_key: Any, name: str) -> None:
    base = SUITE / name
    method, target, pairs, body = parse_req(base.with_suffix(".req").read_text("utf-8"))
    signer = SigV4Signer(aws_key, access_key_id="AKIDEXAMPLE", region="us-east-1", service="service")
    token = SUITE_TOKEN if name == "get-vanilla-with-session-token" else None
    url = "https://example.amazonaws.com" + target
    headers, canonical, string_to_sign = signer._signed(method, url, pairs, body, None, token, False)
    assert canonical == base.with_suffix(".creq").read_text("utf-8")
    assert string_to_sign == base.with_suffix(".sts").read_text("utf-8")
    assert dict(headers)["Authorization"] == base.with_suffix(".authz").read_text("utf-8")
    # The public API gives the same headers: the request's own, in order, then Authorization.
    public = signer.sign(method, url, pairs, body, session_token=token)
    assert public == headers and public[: len(pairs)] == pairs and public[-1][0] == "Authorization"


@pytest.mark.parametrize("name", UNNORMALIZED)
def test_s3_style_paths_are_not_normalised(aws_key: Any, name: str) -> None:
    """S3 signs the path as given (aws-c-auth's ``*-unnormalized`` cases); the S3 signer also sends the payload hash."""
    base = SUITE / "unnormalized" / name
    method, target, pairs, body = parse_req(base.with_suffix(".req").read_text("utf-8"))
    signer = SigV4Signer(aws_key, access_key_id="AKIDEXAMPLE", region="us-east-1", service="s3")
    url = "https://example.amazonaws.com" + target
    headers, canonical, _ = signer._signed(method, url, pairs, body, None, None, False)
    expected = base.with_suffix(".creq").read_text("utf-8").split("\n")
    assert canonical.split("\n")[1] == expected[1]
    assert ("X-Amz-Content-SHA256", hashlib.sha256(body).hexdigest()) in headers


def test_the_date_step_runs_on_the_token_once_per_day_region_and_service(aws_key: Any) -> None:
    counting = CountingKey(aws_key)
    signer = SigV4Signer(counting, access_key_id="AKIDEXAMPLE", region="us-east-1", service="service")
    day1 = datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.UTC)
    first = signer.sign("GET", "https://example.amazonaws.com/", amz_date=day1)
    signer.sign("GET", "https://example.amazonaws.com/other", amz_date=day1 + datetime.timedelta(hours=3))
    assert counting.calls == [b"20150830"]  # one crossing for the day: the HMAC over the date, nothing else
    signer.sign("GET", "https://example.amazonaws.com/", amz_date=day1 + datetime.timedelta(days=1))
    assert counting.calls == [b"20150830", b"20150831"]
    assert list(signer._cache) == [("20150831", "us-east-1", "service")]  # the old day's key is gone
    assert "AWS4" not in repr(signer) and SECRET not in repr(signer)
    assert dict(first)["X-Amz-Date"] == "20150830T123600Z"


def test_the_stored_key_is_a_sensitive_non_extractable_sign_only_hmac_key(api_session: Session) -> None:
    key = import_secret(api_session, SECRET, label="aws-attrs")
    try:
        attrs = key.get_attributes(
            [Attribute.KEY_TYPE, Attribute.SENSITIVE, Attribute.EXTRACTABLE, Attribute.SIGN, Attribute.VERIFY,
             Attribute.ENCRYPT, Attribute.DECRYPT, Attribute.WRAP, Attribute.UNWRAP, Attribute.DERIVE,
             Attribute.PRIVATE, Attribute.TOKEN]
        )
        assert attrs[Attribute.KEY_TYPE] == KeyType.GENERIC_SECRET
        assert attrs[Attribute.SENSITIVE] and not attrs[Attribute.EXTRACTABLE]
        assert attrs[Attribute.SIGN] and attrs[Attribute.VERIFY] and attrs[Attribute.PRIVATE] and attrs[Attribute.TOKEN]
        assert not any(attrs[a] for a in (Attribute.ENCRYPT, Attribute.DECRYPT, Attribute.WRAP, Attribute.UNWRAP,
                                          Attribute.DERIVE))
        with pytest.raises(errors.AttributeSensitive):
            key[Attribute.VALUE]
        # What the token holds is "AWS4" + secret: its HMAC over a date is SigV4's kDate.
        import hmac

        expected = hmac.new(b"AWS4" + SECRET.encode(), b"20150830", hashlib.sha256).digest()
        assert key.sign(b"20150830", Mechanism.SHA256_HMAC) == expected
    finally:
        key.destroy()


@pytest.mark.parametrize(
    ("secret", "error"),
    [(b"bytes", TypeError), ("", ValueError), ("has space", ValueError), ("t\u00e9st", ValueError)],
)
def test_import_secret_refuses_bad_secrets_without_quoting_them(api_session: Session, secret: Any, error: type) -> None:
    with pytest.raises(error) as info:
        import_secret(api_session, secret, label="bad")
    assert not secret or str(secret) not in str(info.value)


def test_signer_refuses_bad_input(aws_key: Any) -> None:
    with pytest.raises(TypeError, match="p11 secret key"):
        SigV4Signer(SECRET, access_key_id="AKIDEXAMPLE", region="us-east-1", service="s3")
    with pytest.raises(ValueError, match="region"):
        SigV4Signer(aws_key, access_key_id="AKIDEXAMPLE", region="us east", service="s3")
    signer = SigV4Signer(aws_key, access_key_id="AKIDEXAMPLE", region="us-east-1", service="service")
    url = "https://example.amazonaws.com/"
    with pytest.raises(ValueError, match="amz_date"):
        signer.sign("GET", url, amz_date="2015-08-30")
    with pytest.raises(ValueError, match="amz_date"):
        signer.sign("GET", url, amz_date="20151330T123600Z")
    with pytest.raises(ValueError, match="differs"):
        signer.sign("GET", url, [("X-Amz-Date", "20150830T123600Z")], amz_date="20150831T123600Z")
    with pytest.raises(ValueError, match="line break"):
        signer.sign("GET", url, [("X-Evil", "a\r\nX-Injected: 1")])
    with pytest.raises(ValueError, match="header name"):
        signer.sign("GET", url, [("Bad Name", "v")])
    with pytest.raises(TypeError, match="pair"):
        signer.sign("GET", url, ["X-One"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="method"):
        signer.sign("GE T", url)
    with pytest.raises(ValueError, match="URL"):
        signer.sign("GET", "example.amazonaws.com/")
    with pytest.raises(TypeError, match="body"):
        signer.sign("GET", url, body="text")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="expires"):
        signer.presign("GET", url, expires=0)


def test_mapping_headers_and_existing_authorization(aws_key: Any) -> None:
    signer = SigV4Signer(aws_key, access_key_id="AKIDEXAMPLE", region="us-east-1", service="service")
    url = "https://example.amazonaws.com/"
    as_pairs = signer.sign("GET", url, [("My-Header1", "value1")], amz_date="20150830T123600Z")
    as_mapping = signer.sign("GET", url, {"My-Header1": "value1", "Authorization": "old"}, amz_date="20150830T123600Z")
    assert as_pairs == as_mapping
    assert [n for n, _ in as_pairs] == ["My-Header1", "X-Amz-Date", "Authorization"]
    unsigned = signer.sign("PUT", url, body=b"x", amz_date="20150830T123600Z", unsigned_payload=True)
    assert ("X-Amz-Content-SHA256", "UNSIGNED-PAYLOAD") in unsigned


# -- botocore, same secret in software -----------------------------------------------------------------------

_NAME = st.one_of(  # a few fixed names, so that repeated headers are common
    st.sampled_from(["X-Repeated", "x-repeated", "Content-Type", "x-amz-meta-k"]),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12).map(lambda s: "x-" + s),
)
_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20).map(lambda s: s.replace("\t", " "))
_SEGMENT = st.one_of(
    st.sampled_from([".", "..", "", "a b", "%41", "~user", "\u1234", "x+y", "a=b", "caf\u00e9"]),
    st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/?#"), max_size=8),
)
_QUERY = st.lists(st.tuples(st.text(max_size=6), st.text(max_size=6)), max_size=4)


def _botocore_authorization(method: str, url: str, headers: list[tuple[str, str]], body: bytes, service: str,
                            timestamp: str, token: str | None) -> str:
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    request = AWSRequest(method=method, url=url, data=body)
    for name, value in headers:
        request.headers[name] = value
    request.headers["X-Amz-Date"] = timestamp
    if token:
        request.headers["X-Amz-Security-Token"] = token
    request.context["timestamp"] = timestamp
    cls = S3SigV4Auth if service == "s3" else SigV4Auth
    auth = cls(Credentials("AKIDEXAMPLE", SECRET, token), service, "eu-west-3")
    if service == "s3":
        request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(body).hexdigest()
    signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    signed = auth.signed_headers(auth.headers_to_sign(request))
    return f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, SignedHeaders={signed}, Signature={signature}"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"]),
    segments=st.lists(_SEGMENT, max_size=5),
    trailing=st.booleans(),
    query=_QUERY,
    headers=st.lists(st.tuples(_NAME, _VALUE), max_size=5),
    body=st.binary(max_size=64),
    service=st.sampled_from(["service", "sts", "execute-api", "s3"]),
    token=st.one_of(st.none(), st.text("ABCDEFabcdef0123456789+/=", min_size=1, max_size=40)),
    seconds=st.integers(0, 3 * 365 * 86400),
)
def test_same_as_botocore_sigv4auth(aws_key: Any, method: str, segments: list[str], trailing: bool,
                                    query: list[tuple[str, str]], headers: list[tuple[str, str]], body: bytes,
                                    service: str, token: str | None, seconds: int) -> None:
    path = "/" + "/".join(segments) + ("/" if trailing and segments else "")
    if service == "s3":
        path = quote(path, safe="/~")  # S3 URLs carry the key encoded once, as botocore's serializer writes them
    url = "https://bucket.example.amazonaws.com:8443" + path
    if query:
        url += "?" + "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query)
    headers = [(n, v) for n, v in headers if n not in UNSIGNED_HEADERS]
    when = datetime.datetime(2015, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=seconds)
    timestamp = when.strftime("%Y%m%dT%H%M%SZ")
    signer = SigV4Signer(aws_key, access_key_id="AKIDEXAMPLE", region="eu-west-3", service=service)
    ours = dict(signer.sign(method, url, headers, body, amz_date=when, session_token=token))["Authorization"]
    assert ours == _botocore_authorization(method, url, headers, body, service, timestamp, token)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=_QUERY, service=st.sampled_from(["service", "s3"]), expires=st.integers(1, 604800),
       token=st.one_of(st.none(), st.just(SUITE_TOKEN)))
def test_presign_same_as_botocore(aws_key: Any, query: list[tuple[str, str]], service: str, expires: int,
                                  token: str | None) -> None:
    from botocore.auth import S3SigV4QueryAuth, SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    query = list(dict(query).items())  # botocore's presigner keeps one value per key
    url = "https://example.amazonaws.com/some/key"
    if query:
        url += "?" + "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in query)
    timestamp = "20150830T123600Z"
    signer = SigV4Signer(aws_key, access_key_id="AKIDEXAMPLE", region="us-east-1", service=service)
    ours = signer.presign("GET", url, expires, amz_date=timestamp, session_token=token)

    cls = S3SigV4QueryAuth if service == "s3" else SigV4QueryAuth
    auth = cls(Credentials("AKIDEXAMPLE", SECRET, token), service, "us-east-1", expires=expires)
    request = AWSRequest(method="GET", url=url)
    request.context["timestamp"] = timestamp
    auth._modify_request_before_signing(request)  # test-only use of botocore's presigner steps, to compare
    signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    theirs = f"{request.url}&X-Amz-Signature={signature}"
    assert _query_set(ours) == _query_set(theirs)


def _query_set(url: str) -> set[str]:
    return set(url.partition("?")[2].split("&"))
