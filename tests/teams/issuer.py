"""A fake token issuer on 127.0.0.1, shaped like the two Microsoft services a Teams bot meets.

- Bot Framework (inbound): `GET /v1/.well-known/openidconfiguration` (OpenID metadata) and
  `GET /v1/.well-known/keys` (JWKS, a locally generated RSA key); `mint()` signs the tokens
  the Bot Connector puts on every activity it POSTs to the bot (iss, aud = the bot's client id,
  serviceurl, nbf/iat/exp).
- Entra ID (outbound): `POST /<tenant>/oauth2/v2.0/token`, the client-credentials grant; it
  checks the client id and secret and answers an access token for the Bot Connector
  (aud https://api.botframework.com), which the fake connector verifies.

`cloud()` is the SDK's `CloudEnvironment` pointed here (see docs/TEAMS.md for what it moves)."""
from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

CONNECTOR_AUDIENCE = "https://api.botframework.com"  # what Entra puts in tokens for the Bot Connector
BOT_SCOPE = "https://api.botframework.com/.default"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(n: int) -> str:
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict:
    pub = key.public_key().public_numbers()
    # Bot Framework's keys carry "endorsements" (the channels a key may sign for).
    return {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": _b64(pub.n), "e": _b64(pub.e),
            "endorsements": ["msteams"]}


@dataclass
class TokenRequest:
    tenant: str
    form: dict


@dataclass
class FakeIssuer:
    client_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    client_secret: str = "test-secret-not-real"
    tenant_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    host: str = "127.0.0.1"
    token_lifetime: int = 3600
    token_requests: list[TokenRequest] = field(default_factory=list)
    jwks_fetches: int = 0

    def __post_init__(self) -> None:
        self.key = new_key()
        self.kid = "fake-bf-key-1"
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- addresses -------------------------------------------------------------
    @property
    def base(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def issuer(self) -> str:
        """The `iss` of inbound Bot Framework tokens (the real one is https://api.botframework.com)."""
        return f"{self.base}/botframework"

    @property
    def openid_metadata_url(self) -> str:
        return f"{self.base}/v1/.well-known/openidconfiguration"

    @property
    def jwks_url(self) -> str:
        return f"{self.base}/v1/.well-known/keys"

    def token_url(self, tenant: str | None = None) -> str:
        return f"{self.base}/{tenant or self.tenant_id}/oauth2/v2.0/token"

    def cloud(self):
        """The SDK's public cloud with the inbound-token endpoints moved here."""
        from microsoft_teams.api.auth.cloud_environment import PUBLIC, with_overrides

        return with_overrides(
            PUBLIC,
            openid_metadata_url=self.openid_metadata_url,  # the SDK derives .../keys from it
            token_issuer=self.issuer,
            login_endpoint=f"{self.base}/entra",  # Entra-issued (Agent 365) inbound tokens; unused here
            token_service_url=f"{self.base}/tokenservice",  # user sign-in tokens; unused here
        )

    # -- minting ---------------------------------------------------------------
    def mint(self, *, service_url: str | None, aud: str | None = None, iss: str | None = None,
             exp_in: int = 3600, key: rsa.RSAPrivateKey | None = None, kid: str | None = None,
             extra: dict | None = None, omit: tuple[str, ...] = ()) -> str:
        """A Bot Framework token as the connector sends it with an activity."""
        now = int(time.time())
        claims = {
            "iss": iss or self.issuer,
            "aud": aud or self.client_id,
            "serviceurl": service_url,
            "nbf": now - 5,
            "iat": now - 5,
            "exp": now + exp_in,
        }
        claims.update(extra or {})
        claims = {k: v for k, v in claims.items() if v is not None and k not in omit}
        return jwt.encode(claims, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def verify_connector_token(self, token: str) -> dict:
        """What the real connector does with the bot's bearer token (raises jwt errors)."""
        return jwt.decode(token, self.key.public_key(), algorithms=["RS256"], audience=CONNECTOR_AUDIENCE,
                          issuer=f"https://sts.windows.net/{self.tenant_id}/")

    # -- server ----------------------------------------------------------------
    def start(self) -> "FakeIssuer":
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path == "/v1/.well-known/openidconfiguration":
                    return self._send(200, {
                        "issuer": issuer.issuer,
                        "authorization_endpoint": f"{issuer.base}/v1/authorize",
                        "jwks_uri": issuer.jwks_url,
                        "id_token_signing_alg_values_supported": ["RS256"],
                        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
                    })
                if self.path == "/v1/.well-known/keys":
                    with issuer._lock:
                        issuer.jwks_fetches += 1
                    return self._send(200, {"keys": [jwk(issuer.key, issuer.kid)]})
                return self._send(404, {"error": "not_found"})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                parts = self.path.strip("/").split("/")
                if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
                    return self._send(404, {"error": "not_found"})
                form = dict(parse_qsl(raw))
                with issuer._lock:
                    issuer.token_requests.append(TokenRequest(parts[0], form))
                if form.get("grant_type") != "client_credentials":
                    return self._send(400, {"error": "unsupported_grant_type"})
                if (form.get("client_id"), form.get("client_secret")) != (issuer.client_id, issuer.client_secret):
                    return self._send(401, {"error": "invalid_client", "error_description": "AADSTS7000215"})
                if parts[0] != issuer.tenant_id:
                    return self._send(400, {"error": "invalid_request", "error_description": "AADSTS90002 tenant"})
                if form.get("scope") != BOT_SCOPE:
                    return self._send(400, {"error": "invalid_scope"})
                now = int(time.time())
                token = jwt.encode({
                    "iss": f"https://sts.windows.net/{issuer.tenant_id}/", "aud": CONNECTOR_AUDIENCE,
                    "appid": issuer.client_id, "tid": issuer.tenant_id, "iat": now, "nbf": now,
                    "exp": now + issuer.token_lifetime,
                }, issuer.key, algorithm="RS256", headers={"kid": issuer.kid})
                return self._send(200, {"token_type": "Bearer", "expires_in": issuer.token_lifetime,
                                        "ext_expires_in": issuer.token_lifetime, "access_token": token})

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
