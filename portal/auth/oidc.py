"""OpenID Connect relying party: authorization code flow with PKCE, state and nonce.

Authlib builds the authorization request and exchanges the code (``client_secret_basic``,
PKCE S256); joserfc (Authlib's JOSE library) verifies the ID token against the provider's
JWKS: signature, ``iss``, ``aud`` (and ``azp``), ``exp``, ``iat`` and ``nonce``.

Nothing here touches Flask: the views keep the pending login (state, nonce, PKCE verifier)
in the server-side session and hand it back with the callback's query arguments. Every
failure is a :class:`~portal.auth.services.LoginFailed` (the person's login is refused) or
a :class:`~portal.auth.services.ProviderUnavailable` (the provider could not be reached);
nothing is logged in either way.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from flask_babel import lazy_gettext as _l
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from portal.auth.services import LoginFailed, ProviderUnavailable
from portal.config import OIDCProvider

log = logging.getLogger(__name__)

ID_TOKEN_ALGORITHMS = ("RS256", "PS256", "ES256")
METADATA_TTL_SECONDS = 300
STATE_MISMATCH = _l("Your login took too long or was started in another window. Please try again.")


@dataclass
class _Cached:
    metadata: dict[str, Any]
    keys: KeySet | None = None
    fetched_at: float = field(default_factory=time.monotonic)


# Discovery documents and key sets per issuer, shared by the threads of one process.
_cache: dict[str, _Cached] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _epoch_now() -> int:
    return int(time.time())


class OIDCClient:
    """One relying party registration at one provider."""

    # The clock the ID token's exp and iat are checked against (tests skew it).
    clock: Callable[[], int] = staticmethod(_epoch_now)

    def __init__(
        self,
        provider: OIDCProvider,
        *,
        redirect_uri: str,
        timeout: float = 10,
        leeway: int = 60,
    ) -> None:
        self.provider = provider
        self.issuer = provider.issuer
        self.redirect_uri = redirect_uri
        self.timeout = timeout
        self.leeway = leeway

    # -- discovery ---------------------------------------------------------------------

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = requests.get(url, timeout=self.timeout)
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("OIDC provider %s unreachable: %s", self.issuer, type(exc).__name__)
            raise ProviderUnavailable() from exc
        if not isinstance(body, dict):
            raise ProviderUnavailable()
        return body

    def metadata(self) -> dict[str, Any]:
        """The provider's discovery document; its ``issuer`` must be exactly ours."""
        with _cache_lock:
            cached = _cache.get(self.issuer)
        if cached and time.monotonic() - cached.fetched_at < METADATA_TTL_SECONDS:
            return cached.metadata
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        metadata = self._get_json(url)
        if metadata.get("issuer") != self.issuer:
            # OpenID Connect Discovery 1.0 § 4.3: a mismatch must not be used.
            log.warning("OIDC discovery issuer mismatch for %s", self.issuer)
            raise ProviderUnavailable()
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(metadata.get(name), str):
                raise ProviderUnavailable()
        with _cache_lock:
            _cache[self.issuer] = _Cached(metadata)
        return metadata

    def keys(self, *, refresh: bool = False) -> KeySet:
        metadata = self.metadata()
        with _cache_lock:
            cached = _cache.get(self.issuer)
        if cached and cached.keys is not None and not refresh:
            return cached.keys
        try:
            keys = KeySet.import_key_set(self._get_json(metadata["jwks_uri"]))  # type: ignore[arg-type]
        except (JoseError, ValueError, KeyError, TypeError) as exc:
            raise ProviderUnavailable() from exc
        with _cache_lock:
            if self.issuer in _cache:
                _cache[self.issuer].keys = keys
        return keys

    # -- the flow ----------------------------------------------------------------------

    def _oauth(self) -> OAuth2Session:
        return OAuth2Session(
            client_id=self.provider.client_id,
            client_secret=self.provider.client_secret,
            scope=self.provider.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",  # noqa: S106
        )

    def begin(self, *, acr_values: str | None = None) -> tuple[str, dict[str, str]]:
        """The authorization URL, and what must be kept until the callback."""
        metadata = self.metadata()
        pending = {
            "state": generate_token(32),
            "nonce": generate_token(32),
            "code_verifier": generate_token(64),
        }
        extra: dict[str, str] = {"nonce": pending["nonce"]}
        if acr_values:
            extra["acr_values"] = acr_values
        with self._oauth() as oauth:
            url, _state = oauth.create_authorization_url(
                metadata["authorization_endpoint"],
                state=pending["state"],
                code_verifier=pending["code_verifier"],
                **extra,
            )
        return url, pending

    def finish(self, pending: Mapping[str, str], args: Mapping[str, str]) -> dict[str, Any]:
        """Check the callback, exchange the code, verify the ID token; return its claims
        (merged with the UserInfo claims for the same subject)."""
        if not secrets.compare_digest(str(args.get("state", "")), pending["state"]):
            raise LoginFailed(STATE_MISMATCH, code="login-state-mismatch")
        if args.get("error"):
            raise LoginFailed(
                _l("Your login was cancelled. You have not been logged in."),
                code="login-cancelled",
            )
        # RFC 9207: when the provider names itself in the response, it must be ours.
        if "iss" in args and args["iss"] != self.issuer:
            raise LoginFailed(code="login-issuer-mismatch")
        code = args.get("code")
        if not code:
            raise LoginFailed(code="login-code-missing")
        metadata = self.metadata()
        try:
            with self._oauth() as oauth:
                token = oauth.fetch_token(
                    metadata["token_endpoint"],
                    grant_type="authorization_code",
                    code=code,
                    code_verifier=pending["code_verifier"],
                    timeout=self.timeout,
                )
        except OAuthError as exc:
            # invalid_grant: a replayed, expired or foreign code, or a wrong PKCE verifier.
            log.info("OIDC token request refused: %s", exc.error)
            raise LoginFailed(code="login-code-rejected") from exc
        except (requests.RequestException, ValueError) as exc:
            log.warning("OIDC token endpoint failed: %s", type(exc).__name__)
            raise ProviderUnavailable() from exc
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise LoginFailed(code="login-id-token-missing")
        claims = self.verify_id_token(id_token, nonce=pending["nonce"])
        userinfo_endpoint = metadata.get("userinfo_endpoint")
        if userinfo_endpoint and token.get("access_token"):
            info = self._userinfo(userinfo_endpoint, token["access_token"])
            if info.get("sub") != claims["sub"]:
                raise LoginFailed(code="login-userinfo-mismatch")
            # The signed ID token wins where both say something.
            claims = {**info, **claims}
        return claims

    def _userinfo(self, url: str, access_token: str) -> dict[str, Any]:
        try:
            response = requests.get(
                url, headers={"Authorization": f"Bearer {access_token}"}, timeout=self.timeout
            )
            response.raise_for_status()
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise ProviderUnavailable() from exc
        return body if isinstance(body, dict) else {}

    def verify_id_token(
        self, id_token: str, *, nonce: str, now: int | None = None
    ) -> dict[str, Any]:
        """Verify signature and claims (OpenID Connect Core § 3.1.3.7)."""
        decoded = self._decode(id_token, refresh=False)
        registry = jwt.JWTClaimsRegistry(
            now=self.clock() if now is None else now,
            leeway=self.leeway,
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": nonce},
        )
        try:
            registry.validate(decoded.claims)
        except JoseError as exc:
            log.info("OIDC ID token refused: %s", exc.error)
            raise LoginFailed(code="login-id-token-invalid") from exc
        claims = dict(decoded.claims)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.provider.client_id:
            raise LoginFailed(code="login-id-token-invalid")
        return claims

    def _decode(self, id_token: str, *, refresh: bool) -> jwt.Token:
        try:
            return jwt.decode(id_token, self.keys(refresh=refresh), algorithms=ID_TOKEN_ALGORITHMS)
        except JoseError as exc:
            if not refresh:
                # The provider may have rotated its keys since we fetched them.
                return self._decode(id_token, refresh=True)
            log.info("OIDC ID token signature refused: %s", exc.error)
            raise LoginFailed(code="login-id-token-invalid") from exc
        except ValueError as exc:
            raise LoginFailed(code="login-id-token-invalid") from exc
