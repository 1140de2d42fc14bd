//! AWS IAM OIDC identity provider + `sts:AssumeRoleWithWebIdentity` (VERIFIERS.md, "AWS IAM"): its rows of the rule
//! table and its `trust` documents (`aws iam create-open-id-connect-provider` input and the role's trust policy).

use super::Spec;
use super::common::{OIDC_SUBJECT, alg_allowed, https_form, kid_name};
use crate::Error;
use crate::facts::{Context, JwkFacts, Subject};
use crate::rule::{Check, Rule, Scope};
use crate::serialize::{Script, json, shell_command, shell_word};
use crate::trust::{Doc, Plan, Request, audience_or, host_path};
use iamjwt_core::identity::{AccountId, Principal};
use iamjwt_core::types::truncate;
use serde::Serialize;
use serde_json::{Map, Value, json};

pub(crate) static SPEC: Spec = Spec {
    name: "aws",
    title: "AWS STS",
    rules: &[
        &AWS_ISSUER,
        &AWS_ALG,
        &AWS_CLAIMS,
        &AWS_AZP,
        &AWS_KID,
        &AWS_JWK_USE,
        &AWS_JWKS_SIZE,
        &AWS_TOKEN_SIZE,
        &AWS_SESSION_TAGS,
        &OIDC_SUBJECT,
    ],
    audience: |req: &Request| audience_or(req, "sts.amazonaws.com"),
    document,
};

// VERIFIERS.md AWS "issuer": https, host + optional path, no port, no query; case-sensitive, equals iss.
static AWS_ISSUER: Rule = Rule {
    id: "aws-issuer",
    scope: Scope::Issuer,
    fix: "serve the issuer over https on the default port (CloudFront in the AWS deployment), without query or fragment",
    check: |ctx| https_form(&ctx.issuer.issuer, false, "AWS IAM"),
};

// VERIFIERS.md AWS "algorithms": RS256/384/512, ES256/384/512 (no EdDSA, no PS*).
static AWS_ALG: Rule = Rule {
    id: "aws-alg",
    scope: Scope::Token,
    fix: "request RS256 or ES256 (--alg)",
    check: |ctx| {
        alg_allowed(
            ctx,
            &["RS256", "RS384", "RS512", "ES256", "ES384", "ES512"],
            "AWS STS",
        )
    },
};

// VERIFIERS.md AWS "claims": iss, sub, aud, iat, exp required; integer timestamps (fractional fail, obs.).
static AWS_CLAIMS: Rule = Rule {
    id: "aws-claims",
    scope: Scope::Token,
    fix: "issue iss, sub, aud, iat and exp, with whole-second integer timestamps",
    check: aws_claims,
};

// VERIFIERS.md AWS "several aud values": azp required and matched against the client ID list (obs.).
static AWS_AZP: Rule = Rule {
    id: "aws-azp",
    scope: Scope::Token,
    fix: "with several audiences put the one registered in the OIDC provider's client ID list FIRST (iamjwt sets azp = the first audience), or request only that audience",
    check: aws_azp,
};

// VERIFIERS.md AWS "kid": required unless the JWKS holds exactly one usable key.
static AWS_KID: Rule = Rule {
    id: "aws-kid",
    scope: Scope::Token,
    fix: "put the signing key's kid in the header",
    check: aws_kid,
};

// VERIFIERS.md AWS "kid": a JWK `use`, if present, must be `sig` (obs.).
static AWS_JWK_USE: Rule = Rule {
    id: "aws-jwk-use",
    scope: Scope::Issuer,
    fix: "publish signing keys with \"use\": \"sig\" (or no use member)",
    check: aws_jwk_use,
};

// VERIFIERS.md AWS "JWKS": at most 100 RSA and 100 EC keys.
static AWS_JWKS_SIZE: Rule = Rule {
    id: "aws-jwks-size",
    scope: Scope::Issuer,
    fix: "retire old keys: AWS reads at most 100 RSA and 100 EC keys",
    check: aws_jwks_size,
};

// VERIFIERS.md AWS "token size": WebIdentityToken ≤ 20,000 characters.
static AWS_TOKEN_SIZE: Rule = Rule {
    id: "aws-token-size",
    scope: Scope::Token,
    fix: "drop extra claims or session tags: AWS takes at most 20000 characters",
    check: aws_token_size,
};

// VERIFIERS.md AWS "session tags claim": shape and limits (single-element arrays, ≤ 50 tags, key ≤ 128, value
// ≤ 256, transitive keys among the tags).
static AWS_SESSION_TAGS: Rule = Rule {
    id: "aws-session-tags",
    scope: Scope::Token,
    fix: "emit https://aws.amazon.com/tags as {\"principal_tags\": {\"k\": [\"v\"]}, \"transitive_tag_keys\": [\"k\"]} within AWS's limits",
    check: aws_session_tags,
};

fn aws_claims(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    let c = &t.claims;
    let missing: Vec<&str> = ["iss", "sub", "aud", "iat", "exp"]
        .into_iter()
        .filter(|k| c[*k].is_null())
        .collect();
    if !missing.is_empty() {
        return Check::Fail(format!("missing {}", missing.join(", ")));
    }
    for k in ["iat", "exp", "nbf"] {
        if !(c[k].is_null() || c[k].is_u64() || c[k].is_i64()) {
            return Check::Fail(format!(
                "{k} is {}: AWS refuses timestamps that are not whole seconds (obs.)",
                c[k]
            ));
        }
    }
    Check::Pass("iss, sub, aud, iat, exp present; integer timestamps".into())
}

fn aws_azp(ctx: &Context<'_>) -> Check {
    let (aud, is_array) = ctx.aud();
    if !is_array {
        return Check::Pass(
            "aud is a single string: AWS matches it against the client ID list".into(),
        );
    }
    let azp = match ctx.subject {
        Subject::Token(t) => t.claims["azp"].as_str().map(str::to_owned),
        // iamjwt sets azp = the first audience when there are several.
        Subject::Planned(_) => aud.first().map(|a| (*a).to_owned()),
    };
    let Some(azp) = azp else {
        return Check::Fail(
            "aud is an array and there is no azp: AWS answers InvalidIdentityToken: Incorrect token audience (obs.)".into(),
        );
    };
    if ctx.accepted_audiences.contains(&azp) {
        Check::Pass(format!("azp {azp} is in the client ID list"))
    } else {
        Check::Fail(format!(
            "aud is an array, so AWS matches azp ({azp}) against the client ID list ({}), not aud: Incorrect token audience (obs.)",
            ctx.accepted_audiences.join(", ")
        ))
    }
}

fn usable(k: &JwkFacts) -> bool {
    (k.kty == "RSA" || k.kty == "EC") && k.use_.as_deref().is_none_or(|u| u == "sig")
}

fn aws_kid(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    if let Some(kid) = &t.kid {
        return Check::Pass(format!("kid {kid}"));
    }
    let n = ctx.issuer.jwks.iter().filter(|k| usable(k)).count();
    if n == 1 {
        Check::Pass("no kid, but the JWKS holds exactly one usable key".into())
    } else {
        Check::Fail(format!(
            "no kid and the JWKS holds {n} usable keys: AWS cannot pick one"
        ))
    }
}

fn aws_jwk_use(ctx: &Context<'_>) -> Check {
    let bad: Vec<String> = ctx
        .issuer
        .jwks
        .iter()
        .filter(|k| k.use_.as_deref().is_some_and(|u| u != "sig"))
        .map(|k| {
            format!(
                "{} has use {:?}",
                kid_name(k),
                k.use_.as_deref().unwrap_or_default()
            )
        })
        .collect();
    if bad.is_empty() {
        Check::Pass("every key is for signatures".into())
    } else {
        Check::Fail(format!("{} (obs.)", bad.join("; ")))
    }
}

fn aws_jwks_size(ctx: &Context<'_>) -> Check {
    let count = |kty: &str| ctx.issuer.jwks.iter().filter(|k| k.kty == kty).count();
    let (rsa, ec) = (count("RSA"), count("EC"));
    if rsa <= 100 && ec <= 100 {
        Check::Pass(format!("{rsa} RSA and {ec} EC keys (limit 100 each)"))
    } else {
        Check::Fail(format!(
            "{rsa} RSA and {ec} EC keys: AWS reads at most 100 of each"
        ))
    }
}

fn aws_token_size(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    if t.compact_len <= 20_000 {
        Check::Pass(format!("{} characters (limit 20000)", t.compact_len))
    } else {
        Check::Fail(format!(
            "{} characters: WebIdentityToken takes at most 20000",
            t.compact_len
        ))
    }
}

fn aws_session_tags(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    let tags = &t.claims["https://aws.amazon.com/tags"];
    if tags.is_null() {
        return Check::Pass("no session tags".into());
    }
    match session_tags_problem(tags) {
        None => {
            Check::Pass("session tags in AWS's shape; the trust policy needs sts:TagSession".into())
        }
        Some(p) => Check::Fail(format!("https://aws.amazon.com/tags: {p}")),
    }
}

fn session_tags_problem(tags: &Value) -> Option<String> {
    let Some(principal) = tags["principal_tags"].as_object() else {
        return Some("principal_tags is not an object".into());
    };
    if principal.len() > 50 {
        return Some(format!("{} tags, at most 50", principal.len()));
    }
    for (k, v) in principal {
        if k.is_empty() || k.chars().count() > 128 {
            return Some(format!(
                "tag key {:?} is not 1-128 characters",
                truncate(k, 40)
            ));
        }
        match v.as_array().map(Vec::as_slice) {
            Some([Value::String(s)]) if s.chars().count() <= 256 => {}
            Some([Value::String(_)]) => return Some(format!("tag {k}: value over 256 characters")),
            _ => {
                return Some(format!(
                    "tag {k}: value must be an array of exactly one string"
                ));
            }
        }
    }
    match &tags["transitive_tag_keys"] {
        Value::Null => None,
        Value::Array(keys) => keys.iter().find_map(|k| match k.as_str() {
            Some(s) if principal.contains_key(s) => None,
            _ => Some(format!("transitive tag key {k} is not a principal tag")),
        }),
        _ => Some("transitive_tag_keys is not an array".into()),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// `trust aws`: `aws iam create-open-id-connect-provider --cli-input-json` + a role trust policy.

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OidcProvider<'a> {
    url: &'a str,
    #[serde(rename = "ClientIDList")]
    client_id_list: Vec<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Policy {
    version: &'static str,
    statement: Vec<Statement>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Statement {
    effect: &'static str,
    principal: Value,
    action: Vec<&'static str>,
    condition: Map<String, Value>,
}

#[derive(Serialize)]
struct AwsDoc<'a> {
    oidc_provider: OidcProvider<'a>,
    trust_policy: Policy,
}

/// A session tag key as STS takes it (`[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}`), or a glob of them (`*`, as the audience
/// policy's `session_tags.keys` are written).
fn tag_key_ok(k: &str) -> bool {
    (1..=128).contains(&k.chars().count())
        && k.chars()
            .all(|c| c.is_alphanumeric() || " _.:/=+-@*".contains(c))
}

/// The `aws:TagKeys` condition that limits `sts:TagSession` to the keys the issuer's rule selects: every key in the
/// request must be one of them (`ForAllValues`; `StringLike` when a key is a glob).
fn tag_keys_condition(keys: &[String]) -> (String, Value) {
    let op = if keys.iter().any(|k| k.contains('*')) {
        "ForAllValues:StringLike"
    } else {
        "ForAllValues:StringEquals"
    };
    (op.to_owned(), json!({ "aws:TagKeys": keys }))
}

fn account(plan: &Plan) -> Result<String, Error> {
    match (&plan.account, &plan.principal) {
        (Some(a), _) => AccountId::parse(a)
            .map(|a| a.as_str().to_owned())
            .map_err(|_| Error::Usage(format!("--account {a:?} is not a 12-digit account id"))),
        (None, Some(p)) => Ok(p.account().as_str().to_owned()),
        (None, None) => Err(Error::Usage(
            "give --account: the AWS account whose role trusts the issuer".into(),
        )),
    }
}

fn document(plan: &Plan) -> Result<Doc, Error> {
    let account = account(plan)?;
    let role_name_ok = (1..=64).contains(&plan.name.len())
        && plan
            .name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b));
    if !role_name_ok {
        return Err(Error::Usage(format!(
            "--name {:?} is not an IAM role name (1-64 of letters, digits and _+=,.@-)",
            truncate(&plan.name, 80)
        )));
    }
    if plan.session_tags && plan.tag_keys.is_empty() {
        return Err(Error::Usage(
            "--session-tags needs --tag-key KEY for each session tag key (or glob) the issuer's rule selects: the trust policy allows sts:TagSession for those keys only".into(),
        ));
    }
    if let Some(k) = plan.tag_keys.iter().find(|k| !tag_key_ok(k)) {
        return Err(Error::Usage(format!(
            "--tag-key {:?} is not a session tag key (1-128 of letters, digits, spaces and _.:/=+-@, * as a glob)",
            truncate(k, 80)
        )));
    }
    let partition = plan.principal.as_ref().map_or("aws", Principal::partition);
    let hp = host_path(&plan.issuer);
    let mut action = vec!["sts:AssumeRoleWithWebIdentity"];
    let mut condition = Map::new();
    condition.insert(
        "StringEquals".into(),
        json!({
            format!("{hp}:aud"): plan.aud,
            format!("{hp}:sub"): plan.sub,
        }),
    );
    if plan.session_tags {
        action.push("sts:TagSession");
        let (op, keys) = tag_keys_condition(&plan.tag_keys);
        condition.insert(op, keys);
    }
    let doc = AwsDoc {
        oidc_provider: OidcProvider {
            url: &plan.issuer,
            client_id_list: vec![&plan.aud],
        },
        trust_policy: Policy {
            version: "2012-10-17",
            statement: vec![Statement {
                effect: "Allow",
                principal: json!({"Federated": format!("arn:{partition}:iam::{account}:oidc-provider/{hp}")}),
                action,
                condition,
            }],
        },
    };
    let role_arn = format!("arn:{partition}:iam::{account}:role/{}", plan.name);
    let workload = shell_command(&[
        "aws",
        "sts",
        "assume-role-with-web-identity",
        "--role-arn",
        &role_arn,
        "--role-session-name",
        "iamjwt",
        "--web-identity-token",
    ])?;
    let mut s = Script::hash();
    s.comment(&format!(
        "AWS IAM: trust {} for sub {}, audience {}",
        shell_word(&plan.issuer)?,
        shell_word(&plan.sub)?,
        shell_word(&plan.aud)?
    ))
    .comment("1. The OIDC identity provider. No thumbprint: AWS trusts an issuer host whose certificate chains to a")
    .comment("   public CA (CloudFront's does); add ThumbprintList only for a private CA.")
    .command(&[
        "aws",
        "iam",
        "create-open-id-connect-provider",
        "--cli-input-json",
        &json(&doc.oidc_provider)?,
    ])?
    .comment("2. A role only this principal can assume. With several audiences in a token, AWS matches azp (iamjwt")
    .comment("   sets it to the FIRST requested audience) against the client ID list and the :aud key.");
    if plan.session_tags {
        s.comment("   sts:TagSession is allowed for the session tag keys the issuer's rule selects (aws:TagKeys) only.");
    }
    s.command(&[
        "aws",
        "iam",
        "create-role",
        "--role-name",
        &plan.name,
        "--assume-role-policy-document",
        &json(&doc.trust_policy)?,
    ])?
    .comment(&format!("3. The workload: {workload} \\"))
    .comment(&format!(
        "     \"$(iamjwt token --aud {})\"",
        shell_word(&plan.aud)?
    ));
    Ok(Doc {
        json: serde_json::to_value(&doc).map_err(|e| Error::Unrepresentable(e.to_string()))?,
        text: s.finish(),
    })
}
