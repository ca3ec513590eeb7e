"""API Gateway's HTTP API in front of a Lambda function, which moto does not serve.

moto 5.2.5 stores HTTP APIs, routes and JWT authorizers (apigatewayv2) but answers no request sent
to them. What API Gateway does for the review page is small, and this plays it: a route guarded by
a JWT authorizer answers 401 `{"message":"Unauthorized"}` unless the `Authorization: Bearer` token
is signed by a key of the issuer's JWKS, names the issuer, is meant for one of the audiences (`aud`,
or `client_id` for an access token) and has not expired; then the function gets a payload 2.0 event
whose requestContext.authorizer.jwt.claims are the token's claims. Upstream fix: moto serving
`execute-api` requests for apigatewayv2 APIs, with JWT authorizers.
"""
from __future__ import annotations

import base64
import json
import time
from typing import Callable, Dict, Iterable, Optional
from urllib.parse import urlsplit

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

UNAUTHORIZED = {"statusCode": 401, "headers": {"content-type": "application/json"},
                "body": json.dumps({"message": "Unauthorized"})}


class JwtAuthorizer:
    """An HTTP API JWT authorizer: issuer, audiences and the issuer's JSON Web Key Set."""

    def __init__(self, issuer: str, audiences: Iterable[str], jwks: dict, clock: Callable[[], float] = time.time):
        self.issuer, self.audiences, self.clock = issuer, set(audiences), clock
        self.keys = KeySet.import_key_set(jwks)

    def claims(self, authorization: Optional[str]) -> Optional[dict]:
        """The verified token's claims, or None when API Gateway would refuse it."""
        if not authorization:
            return None
        token = authorization.split(" ", 1)[1] if authorization.lower().startswith("bearer ") else authorization
        try:
            claims = jwt.decode(token.strip(), self.keys).claims
        except (JoseError, ValueError):
            return None
        audience = claims.get("aud") if claims.get("token_use") != "access" else claims.get("client_id")
        audiences = set(audience) if isinstance(audience, list) else {audience}
        if claims.get("iss") != self.issuer or not audiences & self.audiences:
            return None
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] <= self.clock():
            return None
        return claims


def payload_v2_event(method: str, path: str, body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
                     claims: Optional[dict] = None, route_key: str = "$default") -> dict:
    """The event API Gateway's HTTP API sends a Lambda integration (payload format 2.0)."""
    parts = urlsplit(path)
    headers = {name.lower(): value for name, value in (headers or {}).items()}
    context = {"accountId": "123456789012", "apiId": "local", "domainName": "local.execute-api",
               "http": {"method": method, "path": parts.path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1",
                        "userAgent": headers.get("user-agent", "")},
               "requestId": f"request-{time.monotonic_ns()}", "routeKey": route_key, "stage": "$default",
               "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()), "timeEpoch": int(time.time() * 1000)}
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": {name: value if isinstance(value, str) else json.dumps(value)
                                                    for name, value in claims.items()}, "scopes": None}}
    event = {"version": "2.0", "routeKey": route_key, "rawPath": parts.path, "rawQueryString": parts.query,
             "headers": headers, "requestContext": context, "isBase64Encoded": False}
    if body is not None:
        event.update(body=base64.b64encode(body).decode(), isBase64Encoded=True)
    return event


def call(handler: Callable[[dict, object], dict], authorizer: JwtAuthorizer, method: str, path: str,
         body: Optional[bytes] = None, headers: Optional[Dict[str, str]] = None,
         guarded: Callable[[str], bool] = lambda path: path.startswith("/api/"), context=None) -> dict:
    """One request through the HTTP API: the authorizer on guarded routes, then the function."""
    claims = None
    if guarded(urlsplit(path).path):
        lowered = {name.lower(): value for name, value in (headers or {}).items()}
        claims = authorizer.claims(lowered.get("authorization"))
        if claims is None:
            return dict(UNAUTHORIZED)
    return handler(payload_v2_event(method, path, body, headers, claims), context)
