"""A drop-in for ``awsiot-credentialhelper`` 1.0.x: change ``from awsiot_credentialhelper.boto3_session import
Boto3SessionProvider, Pkcs11Config`` to ``from p11.aws.compat import ...`` and nothing else.

Same arguments and types (certificate, key and CA as a path or bytes; ``endpoint`` with an optional ``:port``), same
``ValueError`` for bad arguments and failed fetches (ours are subclasses that say more), same refresh behaviour (a
lazily fetched, refreshing botocore credential), and the same moment and class of failure for the PKCS#11 key: at
the first use of the credentials, a ``RuntimeError`` for a wrong PIN or a missing key (ours,
:class:`~p11.aws.errors.TokenKeyError`, is a ``ValueError`` too and names p11's error). What differs: with
``pkcs11`` the key is found and the token logged in through p11, and awscrt then shares that login (see
``p11.aws.mtls``); the session takes credentials only from the provider (never from botocore's default chain);
the certificate is checked against the key before connecting; 5xx answers are retried with backoff.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NotRequired, TypedDict

from p11.aws.credentials import Metadata, refreshing_session
from p11.aws.errors import TokenKeyError
from p11.aws.iot import CredentialsFetcher, read_pem, region_of, token_key_ref
from p11.aws.mtls import Endpoint, MtlsClient
from p11.errors import P11Error

__all__ = ["Boto3SessionProvider", "Pkcs11Config"]


class Pkcs11Config(TypedDict):
    """PKCS#11 settings, as in awsiot-credentialhelper: the module file, the user PIN, the token (by slot id or
    label) and the private key's label (may be left out when the token has one private key)."""

    pkcs11_lib: str
    user_pin: NotRequired[str]
    slot_id: NotRequired[int]
    token_label: NotRequired[str | None]
    private_key_label: NotRequired[str | None]


class Boto3SessionProvider:
    """``Boto3SessionProvider(...).get_session(**boto3_session_kwargs)`` → a ``boto3.Session`` with credentials from
    the AWS IoT credentials provider (see the module docstring)."""

    def __init__(
        self,
        endpoint: str,
        role_alias: str,
        thing_name: str,
        certificate: str | bytes,
        private_key: str | bytes | None = None,
        pkcs11: Pkcs11Config | None = None,
        ca: str | bytes | None = None,
        awscrt_log_level: Any = None,
        verify_peer: bool = True,
    ) -> None:
        if private_key is None and pkcs11 is None:
            raise ValueError("Private_key or pkcs11 settings must be specified, neither were provided.")
        if private_key is not None and pkcs11 is not None:
            raise ValueError("Only private_key OR pkcs11 settings must be specified, both were provided.")
        if awscrt_log_level is not None:
            from awscrt.io import init_logging

            init_logging(awscrt_log_level, "stdout")
        self._endpoint = Endpoint.parse(endpoint)
        self._role_alias = role_alias
        self._thing_name = thing_name
        self._certificate = read_pem(certificate, "certificate")
        self._private_key = None if private_key is None else read_pem(private_key, "private key")
        self._pkcs11 = None if pkcs11 is None else _checked(pkcs11)
        self._ca = None if ca is None else read_pem(ca, "CA")
        self._verify_peer = bool(verify_peer)
        self._session: Any = None  # the p11 session that keeps the token logged in for awscrt

    def __repr__(self) -> str:
        return f"<Boto3SessionProvider {self._endpoint} role_alias={self._role_alias!r} thing={self._thing_name!r}>"

    def _client(self) -> MtlsClient:
        where, cert = self._endpoint, self._certificate
        if self._pkcs11 is None:
            return MtlsClient(where, cert, private_key=self._private_key, ca=self._ca, verify_peer=self._verify_peer)
        try:
            key = self._token_key(self._pkcs11)
        except P11Error as exc:  # a wrong PIN, no such token or key ...: a RuntimeError, as the original raises
            raise TokenKeyError(f"PKCS#11 key: {exc}") from exc
        return MtlsClient(where, cert, token_key=token_key_ref(key, cert), ca=self._ca, verify_peer=self._verify_peer)

    def _token_key(self, config: Pkcs11Config) -> Any:
        import p11
        from p11.constants import ObjectClass

        library = p11.load(config["pkcs11_lib"])
        match: dict[str, Any] = {}
        if config.get("slot_id") is not None:
            match["slot_id"] = config["slot_id"]
        if config.get("token_label"):
            match["label"] = config["token_label"]
        token = library.get_token(**match)
        if self._session is None or self._session.closed:
            self._session = token.open(user_pin=config.get("user_pin"))
        find: dict[str, Any] = {"object_class": ObjectClass.PRIVATE_KEY}
        if config.get("private_key_label"):
            find["label"] = config["private_key_label"]
        return self._session.get_key(**find)

    def get_session(self, **kwargs: Any) -> Any:
        """A ``boto3.Session`` with refreshing credentials; ``kwargs`` are botocore config variables (``region``
        ...), as in awsiot-credentialhelper. The region defaults to the endpoint's, else ``us-east-1``."""
        fetcher: list[CredentialsFetcher] = []  # made at the first fetch (the original logs in then, too)

        def fetch() -> Metadata:
            if not fetcher:
                fetcher.append(CredentialsFetcher(self._client(), self._role_alias, self._thing_name))
            return fetcher[0]()

        config = {"region": region_of(self._endpoint) or "us-east-1", **kwargs}
        return refreshing_session(fetch, method="custom-iot-core-credential-provider", region=None, config=config)


def _checked(config: Any) -> Pkcs11Config:
    if not isinstance(config, dict) or "pkcs11_lib" not in config:
        raise ValueError("PKCS#11 library path must be provided.")
    if not Path(config["pkcs11_lib"]).is_file():
        raise ValueError(f"{config['pkcs11_lib']} is not a valid file path.")
    unknown = set(config) - set(Pkcs11Config.__annotations__)
    if unknown:
        raise ValueError(f"unknown Pkcs11Config keys: {', '.join(sorted(unknown))}")
    return config  # type: ignore[return-value]
