"""Independent parsers for `iamjwt trust` output: shlex for the shell commands, PyYAML for the Kubernetes file,
botocore's own request validation for the AWS documents.

usage: trust_shapes.py MODE < output
  MODE text     : prints {"commands": [argv, ...]} — comments dropped, continuation lines joined, each command split
                  by a POSIX shell lexer (so the quoting iamjwt printed is what a shell would see)
  MODE yaml     : prints the YAML document as JSON (PyYAML safe_load)
  MODE aws-json : validates {"oidc_provider", "trust_policy"} against botocore's models of
                  iam:CreateOpenIDConnectProvider and iam:CreateRole, then prints it back
  MODE aws-cli  : validates the aws CLI lines' JSON arguments against the same models
  MODE values T : reads target T's text output with that language's own parser (shlex; PyYAML; the Snowflake
                  string-constant lexer below) and prints {"sub", "aud", "name", "commands"}: the values a shell,
                  a YAML reader or Snowflake would see, for a round trip against the values `trust` was given
Exits non-zero with the reason on stderr when the output does not parse or validate.
"""
import json
import shlex
import sys

import botocore.session
import yaml
from botocore.validate import validate_parameters


def commands(text: str) -> list[list[str]]:
    out, current = [], ""
    for line in text.splitlines():
        if not current and (line.lstrip().startswith("#") or not line.strip()):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        out.append(shlex.split(current + line))
        current = ""
    if current:
        raise SystemExit(f"dangling continuation: {current!r}")
    return out


def iam_shape(op: str):
    return botocore.session.get_session().get_service_model("iam").operation_model(op).input_shape


def validate_aws(provider: dict, policy: dict) -> None:
    validate_parameters(provider, iam_shape("CreateOpenIDConnectProvider"))
    validate_parameters(
        {"RoleName": "iamjwt", "AssumeRolePolicyDocument": json.dumps(policy)}, iam_shape("CreateRole")
    )


def snowflake_tokens(text: str) -> list[tuple[str, str]]:
    """Snowflake SQL as its lexer reads it: `--` comments to end of line, identifiers, punctuation, and
    single-quoted string constants with BOTH escape forms Snowflake accepts: `''`, and a backslash before
    ' " \\ b f n r t 0, an octal `ooo`, `xhh` or `uhhhh` (a backslash before anything else is dropped)."""
    simple = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif text.startswith("--", i):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
        elif c.isalpha() or c == "_":
            j = i
            while j < len(text) and (text[j].isalnum() or text[j] in "_$"):
                j += 1
            out.append(("id", text[i:j]))
            i = j
        elif c in "=(),;":
            out.append(("punct", c))
            i += 1
        elif c == "'":
            i += 1
            value = []
            while True:
                if i >= len(text):
                    raise SystemExit("unterminated SQL string")
                c = text[i]
                if c == "'" and text.startswith("''", i):
                    value.append("'")
                    i += 2
                elif c == "'":
                    i += 1
                    break
                elif c == "\\":
                    e = text[i + 1]
                    if e in simple:
                        value.append(simple[e])
                        i += 2
                    elif e in "01234567":
                        j = i + 1
                        while j < len(text) and j < i + 4 and text[j] in "01234567":
                            j += 1
                        value.append(chr(int(text[i + 1:j], 8)))
                        i = j
                    elif e == "x":
                        value.append(chr(int(text[i + 2:i + 4], 16)))
                        i += 4
                    elif e == "u":
                        value.append(chr(int(text[i + 2:i + 6], 16)))
                        i += 6
                    else:
                        value.append(e)
                        i += 2
                else:
                    value.append(c)
                    i += 1
            out.append(("str", "".join(value)))
        else:
            raise SystemExit(f"unexpected SQL character {c!r}")
    return out


def snowflake_values(text: str) -> dict:
    t = snowflake_tokens(text)
    ids = lambda *words: [("id", w) for w in words]
    p = lambda c: ("punct", c)
    shape = (ids("ALTER", "USER") + [("id", None)] + ids("ADD", "WORKLOAD", "IDENTITY", "iamjwt", "TYPE") + [p("=")]
             + ids("OIDC", "ISSUER") + [p("="), ("str", None)] + ids("SUBJECT") + [p("="), ("str", None)]
             + ids("OIDC_AUDIENCE_LIST") + [p("="), p("("), ("str", None), p(")"), p(";")])
    if len(t) != len(shape) or any(k != sk or (sv is not None and v != sv) for (k, v), (sk, sv) in zip(t, shape)):
        raise SystemExit(f"not one ALTER USER ... ADD WORKLOAD IDENTITY statement: {t}")
    values = [v for (k, v), (_, sv) in zip(t, shape) if sv is None]
    return {"name": values[0], "issuer": values[1], "sub": values[2], "aud": values[3], "commands": 1}


def cel_string_after(expr: str, prefix: str) -> str:
    """The CEL string literal in `PREFIX "..."`: iamjwt writes JSON-compatible CEL literals."""
    if not expr.startswith(prefix):
        raise SystemExit(f"unexpected expression {expr!r}")
    return json.loads(expr[len(prefix):])


def gcloud_list(value: str) -> list[str]:
    """gcloud's list syntax (`gcloud topic escaping`): `^D^` sets the delimiter, else `,`."""
    if value.startswith("^") and "^" in value[1:]:
        delim, rest = value[1:].split("^", 1)
        return rest.split(delim)
    return value.split(",")


def values(target: str, text: str) -> dict:
    if target == "snowflake":
        return snowflake_values(text)
    if target == "kubernetes":
        doc = yaml.safe_load(text)
        jwt = doc["jwt"][0]
        [aud] = jwt["issuer"]["audiences"]
        expr = jwt["claimValidationRules"][0]["expression"]
        return {"sub": cel_string_after(expr, "claims.sub == "), "aud": aud, "issuer": jwt["issuer"]["url"],
                "commands": 0}
    cmds = commands(text)
    flags = lambda argv, name: next(a[len(name) + 1:] for a in argv if a.startswith(name + "="))
    if target == "aws":
        provider, role = cmds
        p = json.loads(provider[provider.index("--cli-input-json") + 1])
        policy = json.loads(role[role.index("--assume-role-policy-document") + 1])
        eq = policy["Statement"][0]["Condition"]["StringEquals"]
        [sub] = [v for k, v in eq.items() if k.endswith(":sub")]
        [aud] = [v for k, v in eq.items() if k.endswith(":aud")]
        if p["ClientIDList"] != [aud]:
            raise SystemExit("client id list and :aud differ")
        return {"sub": sub, "aud": aud, "issuer": p["Url"], "name": role[role.index("--role-name") + 1],
                "commands": len(cmds)}
    if target == "gcp":
        [g] = cmds
        [aud] = gcloud_list(flags(g, "--allowed-audiences"))
        return {"sub": cel_string_after(flags(g, "--attribute-condition"), "assertion.sub == "), "aud": aud,
                "issuer": flags(g, "--issuer-uri"), "name": g[5], "commands": len(cmds)}
    if target == "azure":
        [a] = cmds
        params = json.loads(a[a.index("--parameters") + 1])
        [aud] = params["audiences"]
        return {"sub": params["subject"], "aud": aud, "issuer": params["issuer"], "name": params["name"],
                "commands": len(cmds)}
    if target == "vault":
        enable, config, role = cmds
        kv = lambda argv: dict(a.split("=", 1) for a in argv[3:])
        c, r = kv(config), kv(role)
        if c["oidc_discovery_url"] != c["bound_issuer"] or enable != ["vault", "auth", "enable", "jwt"]:
            raise SystemExit(f"unexpected vault commands {cmds}")
        return {"sub": r["bound_subject"], "aud": r["bound_audiences"], "issuer": c["bound_issuer"],
                "name": role[2].removeprefix("auth/jwt/role/"), "commands": len(cmds)}
    if target == "databricks":
        [d] = cmds
        body = json.loads(d[d.index("--json") + 1])["oidc_policy"]
        [aud] = body["audiences"]
        return {"sub": body["subject"], "aud": aud, "issuer": body["issuer"],
                "name": d[d.index("--policy-id") + 1], "commands": len(cmds)}
    raise SystemExit(f"unknown target {target}")


def main() -> int:
    mode, text = sys.argv[1], sys.stdin.read()
    if mode == "text":
        print(json.dumps({"commands": commands(text)}))
    elif mode == "yaml":
        print(json.dumps(yaml.safe_load(text)))
    elif mode == "aws-json":
        doc = json.loads(text)
        if set(doc) != {"oidc_provider", "trust_policy"}:
            raise SystemExit(f"unexpected members {sorted(doc)}")
        validate_aws(doc["oidc_provider"], doc["trust_policy"])
        print(json.dumps(doc))
    elif mode == "aws-cli":
        cmds = commands(text)
        provider = next(c for c in cmds if c[:3] == ["aws", "iam", "create-open-id-connect-provider"])
        role = next(c for c in cmds if c[:3] == ["aws", "iam", "create-role"])
        provider_doc = json.loads(provider[provider.index("--cli-input-json") + 1])
        policy = json.loads(role[role.index("--assume-role-policy-document") + 1])
        validate_aws(provider_doc, policy)
        print(json.dumps({"oidc_provider": provider_doc, "trust_policy": policy,
                          "role_name": role[role.index("--role-name") + 1]}))
    elif mode == "values":
        print(json.dumps(values(sys.argv[2], text)))
    else:
        raise SystemExit(f"unknown mode {mode}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
