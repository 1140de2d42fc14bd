"""Loopback stand-ins for what moto does not emulate in the IAM Identity Center → S3 Access Grants chain
(VERIFIERS.md, "IAM Identity Center trusted token issuer"), each enforcing the rules AWS applies:

- `oidc`: IAM Identity Center OIDC, `sso-oauth:CreateTokenWithIAM` (`POST /token?aws_iam=t`, rest-json, SigV4
  signing name `sso-oauth`) with the jwt-bearer grant of one customer-managed application. The assertion is
  verified through the trusted token issuer's discovery document and JWKS with PyJWT: RS256 only, `iss` equal to the
  IssuerUrl, `aud` matching exactly one authorized audience, `exp` and `jti` required, a replayed `jti` refused. The
  mapped claim must name exactly one user of moto's `identitystore`. The answer carries an idToken whose
  `sts:identity_context` claim equals `awsAdditionalDetails.identityContext`.
- `sts`: a recording proxy in front of moto's STS (which ignores `ProvidedContexts`): an `AssumeRole` that carries
  `ProvidedContexts` must name the IdentityCenter context provider and an identity context this `oidc` issued; the
  session it returns is recorded as identity-enhanced, for that directory user.
- `s3control`: S3 Access Grants `GetDataAccess` (`GET /v20180820/accessgrantsinstance/dataaccess`, rest-xml,
  `x-amz-account-id`), reachable as a forward HTTP proxy (the SDKs put the account id in front of the endpoint's
  host): the caller must be an identity-enhanced session, the host prefix and header must name the instance's
  account, and a grant of this directory user (or one of their groups) must cover the target and permission. It
  vends credentials from moto's STS, scoped to the matched grant.
- `s3`: a recording proxy in front of moto's S3 that applies what AWS applies and moto does not: an
  identity-enhanced session may not read objects (it is allow-listed for `s3:GetDataAccess` only), and vended
  credentials reach only their grant's prefix with their grant's permission.

usage: identity_center_standins.py CONFIG_JSON
CONFIG_JSON: {"moto", "region", "account", "identity_store_id", "application_arn", "tti_arn",
  "issuer_url", "authorized_audiences", "claim", "identity_store_attribute", "caller_access_key_id",
  "users": [{"userName", "email", "groups": [..]}], "grants": [{"user"|"group", "target", "permission"}],
  "location_role_arn", "objects": {"s3://b/k": "content"}}
Creates the users and groups in moto's identitystore and the objects in moto's S3, prints one JSON line (the four URLs, "records", "users")
once every server listens, and serves until stdin closes. GET {records}/ returns what each stand-in saw.
"""
import base64
import http.client
import http.server
import json
import re
import secrets
import sys
import threading
import time
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from datetime import timezone

import boto3
import botocore.session
import jwt

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
CONTEXT_PROVIDER = "arn:aws:iam::aws:contextProvider/IdentityCenter"
S3CONTROL_NS = "http://awss3control.amazonaws.com/doc/2018-08-20/"
# ClaimAttributePath: \p{L}+(?:(\.|_)\p{L}+){0,2} (VERIFIERS.md); [^\W\d_] is a letter in Python's re.
LETTERS = r"[^\W\d_]+"
CLAIM_PATH = re.compile(rf"{LETTERS}(?:[._]{LETTERS}){{0,2}}")
PERMISSIONS = {"READ": {"READ"}, "WRITE": {"WRITE"}, "READWRITE": {"READ", "WRITE", "READWRITE"}}

_models = botocore.session.get_session()


def error_status(service: str, name: str) -> int:
    """The HTTP status botocore's model gives an error shape (the wire contract both SDKs parse)."""
    shape = _models.get_service_model(service).shape_for(name)
    return shape.metadata["error"]["httpStatusCode"]


class State:
    def __init__(self, config: dict):
        self.c = config
        self.lock = threading.Lock()
        self.jtis: set = set()
        self.contexts: dict = {}  # identity context -> directory user
        self.sessions: dict = {}  # access key id -> directory user (identity-enhanced)
        self.vended: dict = {}  # access key id -> grant
        self.records = {"oidc": [], "sts": [], "s3control": [], "s3": []}
        self.moto = config["moto"]
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=config["region"]
        )
        self.ids = session.client("identitystore", endpoint_url=self.moto)
        self.sts = session.client("sts", endpoint_url=self.moto)
        self.s3 = session.client("s3", endpoint_url=self.moto)
        self.user_ids: dict = {}
        self.group_ids: dict = {}

    def record(self, kind: str, entry: dict) -> None:
        with self.lock:
            self.records[kind].append(entry)

    def setup_objects(self) -> None:
        buckets: set = set()
        for uri, content in self.c.get("objects", {}).items():
            bucket, key = uri[len("s3://") :].split("/", 1)
            if bucket not in buckets:
                self.s3.create_bucket(Bucket=bucket)
                buckets.add(bucket)
            self.s3.put_object(Bucket=bucket, Key=key, Body=content.encode())

    def setup_directory(self) -> None:
        store = self.c["identity_store_id"]
        for u in self.c["users"]:
            out = self.ids.create_user(
                IdentityStoreId=store,
                UserName=u["userName"],
                DisplayName=u["userName"],
                Name={"GivenName": u["userName"], "FamilyName": "Workload"},
                Emails=[{"Value": u["email"], "Type": "work", "Primary": True}] if u.get("email") else [],
            )
            self.user_ids[u["userName"]] = out["UserId"]
            for g in u.get("groups", []):
                if g not in self.group_ids:
                    self.group_ids[g] = self.ids.create_group(IdentityStoreId=store, DisplayName=g)["GroupId"]
                self.ids.create_group_membership(
                    IdentityStoreId=store, GroupId=self.group_ids[g], MemberId={"UserId": out["UserId"]}
                )


def sigv4_scope(headers) -> "tuple[str, str, str] | None":
    """(access key id, region, service) from a SigV4 Authorization header."""
    auth = headers.get("Authorization", "")
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request,", auth)
    return (m.group(1), m.group(2), m.group(3)) if m else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State

    def log_message(self, *_args) -> None:
        pass

    def body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status: int, body: bytes, headers: "dict | None" = None) -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, upstream: str, path: str, body: bytes) -> "tuple[int, dict, bytes]":
        u = urllib.parse.urlsplit(upstream)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "proxy-connection")}
        conn.request(self.command, path, body=body, headers=headers)
        r = conn.getresponse()
        data = r.read()
        hdrs = {k: v for k, v in r.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")}
        conn.close()
        return r.status, hdrs, data


# ---------------------------------------------------------------------------------------------------------------
# sso-oauth: CreateTokenWithIAM


class Oidc(Handler):
    def fail(self, name: str, code: str, description: str) -> None:
        self.state.record("oidc", {"error": name, "description": description})
        body = json.dumps({"error": code, "error_description": description}).encode()
        self.send(
            error_status("sso-oidc", name),
            body,
            {"Content-Type": "application/json", "x-amzn-ErrorType": name},
        )

    def do_POST(self) -> None:
        raw = self.body()
        c = self.state.c
        if self.path != "/token?aws_iam=t":
            return self.fail("InvalidRequestException", "invalid_request", f"no operation at {self.path}")
        scope = sigv4_scope(self.headers)
        if scope is None or scope[1:] != (c["region"], "sso-oauth"):
            return self.fail("AccessDeniedException", "access_denied", f"not SigV4 for {c['region']}/sso-oauth: {scope}")
        if scope[0] != c["caller_access_key_id"]:
            return self.fail(
                "AccessDeniedException", "access_denied", "the application's IAM actor policy does not allow this caller"
            )
        try:
            req = json.loads(raw)
        except ValueError:
            return self.fail("InvalidRequestException", "invalid_request", "the body is not JSON")
        if req.get("clientId") != c["application_arn"]:
            return self.fail("InvalidClientException", "invalid_client", f"unknown client {req.get('clientId')!r}")
        if req.get("grantType") != JWT_BEARER:
            return self.fail(
                "UnsupportedGrantTypeException", "unsupported_grant_type", f"grant {req.get('grantType')!r} is not configured"
            )
        assertion = req.get("assertion")
        if not isinstance(assertion, str):
            return self.fail("InvalidRequestException", "invalid_request", "assertion is required")
        try:
            claims = self.verify(assertion)
            user_name, user_id = self.directory_user(claims)
        except ValueError as e:
            return self.fail("InvalidGrantException", "invalid_grant", str(e))
        context = base64.urlsafe_b64encode(secrets.token_bytes(96)).decode().rstrip("=")
        with self.state.lock:
            self.state.contexts[context] = {"userName": user_name, "userId": user_id}
        now = int(time.time())
        instance = c["application_arn"].split("/")[1]
        id_token = jwt.encode(
            {
                "iss": f"https://identitycenter.amazonaws.com/{instance}",
                "sub": user_id,
                "aud": c["application_arn"],
                "iat": now,
                "exp": now + 3600,
                "jti": secrets.token_hex(16),
                "sts:identity_context": context,
                "aws:identity_store_id": c["identity_store_id"],
                "aws:identity_store_arn": f"arn:aws:identitystore::{c['account']}:identitystore/{c['identity_store_id']}",
                "act": {"sub": c["tti_arn"]},
            },
            secrets.token_bytes(32),
            algorithm="HS256",
        )
        self.state.record("oidc", {"userName": user_name, "jti": claims["jti"], "aud": claims["aud"]})
        out = {
            "accessToken": secrets.token_urlsafe(48),
            "tokenType": "Bearer",
            "expiresIn": 3600,
            "idToken": id_token,
            "issuedTokenType": "urn:ietf:params:oauth:token-type:access_token",
            "scope": ["openid", "aws", "sts:identity_context", "s3:access_grants:read_write"],
            "awsAdditionalDetails": {"identityContext": context},
        }
        self.send(200, json.dumps(out).encode(), {"Content-Type": "application/json"})

    def verify(self, assertion: str) -> dict:
        c = self.state.c
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError as e:
            raise ValueError(f"the assertion is not a JWT: {e}")
        if header.get("alg") != "RS256":
            raise ValueError(f"unsupported signing algorithm {header.get('alg')}: the trusted token issuer signs RS256")
        issuer = c["issuer_url"]
        with urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=10) as r:
            discovery = json.load(r)
        if discovery.get("issuer") != issuer:
            raise ValueError(f"discovery issuer {discovery.get('issuer')!r} is not the IssuerUrl {issuer!r}")
        key = jwt.PyJWKClient(discovery["jwks_uri"], cache_keys=False).get_signing_key_from_jwt(assertion)
        try:
            claims = jwt.decode(
                assertion,
                key.key,
                algorithms=["RS256"],
                audience=c["authorized_audiences"],
                issuer=issuer,
                options={"require": ["exp", "iss", "aud", "jti"]},
            )
        except jwt.PyJWTError as e:
            raise ValueError(f"the assertion is not valid for this trusted token issuer: {e}")
        auds = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len([a for a in auds if a in c["authorized_audiences"]]) != 1:
            raise ValueError(f"aud {auds} must match exactly one authorized audience")
        with self.state.lock:
            if claims["jti"] in self.state.jtis:
                raise ValueError(f"the assertion's jti {claims['jti']} was already used")
            self.state.jtis.add(claims["jti"])
        return claims

    def directory_user(self, claims: dict) -> "tuple[str, str]":
        c = self.state.c
        value = claims
        for part in re.split(r"\.", c["claim"]):
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, str) or not value:
            raise ValueError(f"the assertion has no {c['claim']} claim")
        try:
            out = self.state.ids.get_user_id(
                IdentityStoreId=c["identity_store_id"],
                AlternateIdentifier={
                    "UniqueAttribute": {"AttributePath": c["identity_store_attribute"], "AttributeValue": value}
                },
            )
        except self.state.ids.exceptions.ResourceNotFoundException:
            raise ValueError(f"no user with {c['identity_store_attribute']} {value!r} in the identity store")
        return value, out["UserId"]


# ---------------------------------------------------------------------------------------------------------------
# STS: a recording proxy in front of moto


def sts_error(code: str, message: str) -> bytes:
    return (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{message}</Message></Error><RequestId>{secrets.token_hex(8)}</RequestId>"
        "</ErrorResponse>"
    ).encode()


class Sts(Handler):
    def do_POST(self) -> None:
        raw = self.body()
        form = dict(urllib.parse.parse_qsl(raw.decode()))
        entry = {"action": form.get("Action"), "form": form}
        user = None
        if "ProvidedContexts.member.1.ProviderArn" in form:
            provider = form["ProvidedContexts.member.1.ProviderArn"]
            assertion = form.get("ProvidedContexts.member.1.ContextAssertion", "")
            if form.get("Action") != "AssumeRole":
                return self.send(400, sts_error("InvalidParameterValue", "only AssumeRole takes ProvidedContexts"))
            if provider != CONTEXT_PROVIDER:
                return self.send(400, sts_error("InvalidParameterValue", f"unknown context provider {provider}"))
            with self.state.lock:
                user = self.state.contexts.get(assertion)
            if user is None:
                return self.send(400, sts_error("InvalidParameterValue", "the context assertion is not valid"))
        status, headers, data = self.forward(self.state.moto, self.path, raw)
        if status == 200 and form.get("Action") == "AssumeRole":
            key = ET.fromstring(data).find(".//{*}Credentials/{*}AccessKeyId").text
            entry["access_key_id"] = key
            if user is not None:
                entry["identity"] = user
                with self.state.lock:
                    self.state.sessions[key] = user
        self.state.record("sts", entry)
        self.send(status, data, headers)


# ---------------------------------------------------------------------------------------------------------------
# S3 Access Grants: GetDataAccess


def s3control_error(status: int, code: str, message: str) -> "tuple[int, bytes]":
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Code>{code}</Code><Message>{message}</Message>'
        f"</Error><RequestId>{secrets.token_hex(8)}</RequestId><HostId>standin</HostId></ErrorResponse>"
    )
    return status, body.encode()


def grant_covers(scope: str, target: str) -> bool:
    """A grant scope `s3://b/p*` covers `s3://b/p…`; one without `*` covers exactly itself."""
    return target.startswith(scope[:-1]) if scope.endswith("*") else target == scope


class S3Control(Handler):
    def do_GET(self) -> None:
        status, body = self.get_data_access()
        self.send(status, body, {"Content-Type": "application/xml"})

    def get_data_access(self) -> "tuple[int, bytes]":
        c = self.state.c
        # As a forward proxy the request line holds the absolute URI, host prefix included.
        url = urllib.parse.urlsplit(self.path)
        host = url.hostname or (self.headers.get("Host") or "").split(":")[0]
        account = self.headers.get("x-amz-account-id")
        q = dict(urllib.parse.parse_qsl(url.query))
        entry = {"host": host, "path": url.path, "query": q, "account": account}
        self.state.record("s3control", entry)
        if url.path != "/v20180820/accessgrantsinstance/dataaccess":
            return s3control_error(404, "NotFound", f"no operation at {url.path}")
        if account != c["account"] or not host.startswith(f"{account}."):
            return s3control_error(
                400, "InvalidRequest", f"x-amz-account-id {account} and host {host} must name account {c['account']}"
            )
        scope = sigv4_scope(self.headers)
        if scope is None or scope[1:] != (c["region"], "s3"):
            return s3control_error(403, "SignatureDoesNotMatch", f"not SigV4 for {c['region']}/s3: {scope}")
        with self.state.lock:
            user = self.state.sessions.get(scope[0])
        if user is None:
            return s3control_error(
                403, "AccessDenied", "directory grants need an identity-enhanced session (sts:AssumeRole with ProvidedContexts)"
            )
        target, permission = q.get("target", ""), q.get("permission", "")
        if permission not in PERMISSIONS:
            return s3control_error(400, "InvalidRequest", f"permission {permission!r} is not READ, WRITE or READWRITE")
        duration = int(q.get("durationSeconds", "3600"))
        if not 900 <= duration <= 43200:
            return s3control_error(400, "InvalidRequest", f"durationSeconds {duration} is not within 900-43200")
        groups = self.groups_of(user["userId"])
        grant = next(
            (
                g
                for g in c["grants"]
                if (g.get("user") == user["userName"] or g.get("group") in groups)
                and grant_covers(g["target"], target)
                and permission in PERMISSIONS[g["permission"]]
            ),
            None,
        )
        if grant is None:
            return s3control_error(403, "AccessDenied", "You do not have permission to access the requested data")
        out = self.state.sts.assume_role(
            RoleArn=c["location_role_arn"], RoleSessionName=f"access-grants-{secrets.token_hex(4)}", DurationSeconds=duration
        )
        creds = out["Credentials"]
        with self.state.lock:
            self.state.vended[creds["AccessKeyId"]] = {"target": grant["target"], "permission": permission}
        entry["vended"] = creds["AccessKeyId"]
        entry["userName"] = user["userName"]
        if "user" in grant:
            grantee = ("DIRECTORY_USER", user["userId"])
        else:
            grantee = ("DIRECTORY_GROUP", self.state.group_ids[grant["group"]])
        root = ET.Element("GetDataAccessResult", xmlns=S3CONTROL_NS)
        ce = ET.SubElement(root, "Credentials")
        for k in ("AccessKeyId", "SecretAccessKey", "SessionToken"):
            ET.SubElement(ce, k).text = creds[k]
        ET.SubElement(ce, "Expiration").text = creds["Expiration"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        ET.SubElement(root, "MatchedGrantTarget").text = grant["target"]
        ge = ET.SubElement(root, "Grantee")
        ET.SubElement(ge, "GranteeType").text = grantee[0]
        ET.SubElement(ge, "GranteeIdentifier").text = grantee[1]
        ET.SubElement(root, "MatchedInstanceArn").text = f"arn:aws:s3:{c['region']}:{c['account']}:access-grants/default"
        return 200, b'<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root)

    def groups_of(self, user_id: str) -> set:
        c = self.state.c
        out = self.state.ids.list_group_memberships_for_member(
            IdentityStoreId=c["identity_store_id"], MemberId={"UserId": user_id}
        )
        names = {v: k for k, v in self.state.group_ids.items()}
        return {names.get(m["GroupId"]) for m in out["GroupMemberships"]}


# ---------------------------------------------------------------------------------------------------------------
# S3: a recording proxy in front of moto that applies the session's limits


def s3_error(code: str, message: str) -> bytes:
    return f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()


class S3(Handler):
    def handle_any(self) -> None:
        raw = self.body()
        scope = sigv4_scope(self.headers)
        key = scope[0] if scope else None
        path = urllib.parse.urlsplit(self.path).path
        entry = {"method": self.command, "path": path, "access_key_id": key}
        self.state.record("s3", entry)
        with self.state.lock:
            identity = self.state.sessions.get(key)
            grant = self.state.vended.get(key)
        if identity is not None:
            entry["denied"] = "identity-enhanced"
            msg = "an identity-enhanced session may not call s3 object APIs: use GetDataAccess credentials"
            return self.send(403, s3_error("AccessDenied", msg), {"Content-Type": "application/xml"})
        if grant is not None:
            target = "s3:/" + urllib.parse.unquote(path)
            wants = "READ" if self.command in ("GET", "HEAD") else "WRITE"
            if not grant_covers(grant["target"], target) or wants not in PERMISSIONS[grant["permission"]]:
                entry["denied"] = "outside the grant"
                msg = f"{target} ({wants}) is outside the grant {grant['target']} ({grant['permission']})"
                return self.send(403, s3_error("AccessDenied", msg), {"Content-Type": "application/xml"})
        status, headers, data = self.forward(self.state.moto, self.path, raw)
        if self.command == "HEAD":
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", headers.get("Content-Length", "0"))
            self.end_headers()
            return
        self.send(status, data, headers)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


class Records(Handler):
    def do_GET(self) -> None:
        with self.state.lock:
            body = json.dumps(self.state.records).encode()
        self.send(200, body, {"Content-Type": "application/json"})


def serve(handler: type, state: State) -> str:
    cls = type(handler.__name__, (handler,), {"state": state})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), cls)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def main() -> int:
    config = json.loads(sys.argv[1])
    if not CLAIM_PATH.fullmatch(config["claim"]):
        print(f"claim path {config['claim']!r} is not letters-only", file=sys.stderr)
        return 2
    state = State(config)
    state.setup_directory()
    state.setup_objects()
    urls = {name: serve(h, state) for name, h in [("oidc", Oidc), ("sts", Sts), ("s3control", S3Control), ("s3", S3), ("records", Records)]}
    urls["users"] = state.user_ids
    print(json.dumps(urls), flush=True)
    sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main())
