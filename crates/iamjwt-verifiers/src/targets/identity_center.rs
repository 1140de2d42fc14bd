//! IAM Identity Center trusted token issuer (TTI) → S3 Access Grants (VERIFIERS.md, "IAM Identity Center"): its
//! rows of the rule table and its `trust` documents — the sso-admin requests that make Identity Center trust the
//! issuer for one customer-managed application, the identity bearer role, and the audience policy rule that gives
//! the workload's tokens the claim Identity Center maps to a directory user.

use super::Spec;
use super::common::{alg_allowed, https_form};
use crate::Error;
use crate::facts::{Context, Subject};
use crate::rule::{Check, Rule, Scope};
use crate::serialize::{
    Part, Script, ShellVar, json, json_parts, shell_word, show_vars, text_words,
};
use crate::trust::{Doc, Plan, Request, audience_or};
use iamjwt_core::types::truncate;
use serde_json::{Value, json};

/// The audience `trust identity-center` authorizes, and `iamjwt s3-access` requests, when `--aud` is not given.
pub const DEFAULT_AUDIENCE: &str = "identity-center";
/// The custom (customer-managed) application provider.
pub const CUSTOM_APPLICATION_PROVIDER: &str = "arn:aws:sso::aws:applicationProvider/custom";
/// The OAuth grant Identity Center exchanges a TTI's token with (RFC 7523).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// The access scope S3 Access Grants reads.
pub const ACCESS_GRANTS_SCOPE: &str = "s3:access_grants:read_write";
/// The longest token lifetime Identity Center is known to take (VERIFIERS.md: keep `exp` within 1 h).
pub const MAX_LIFETIME_SECS: i64 = 3600;

pub(crate) static SPEC: Spec = Spec {
    name: "identity-center",
    title: "IAM Identity Center",
    rules: &[
        &IDC_ISSUER,
        &IDC_ALG,
        &IDC_ISS,
        &IDC_AUD,
        &IDC_JTI,
        &IDC_LIFETIME,
        &IDC_CLAIM,
    ],
    audience: |req: &Request| audience_or(req, DEFAULT_AUDIENCE),
    document,
};

// VERIFIERS.md Identity Center "issuer": the IssuerUrl is public https (ports 80/443), entered without
// /.well-known/...; discovery and jwks_uri are fetched from it (JwksRetrievalOption OPEN_ID_DISCOVERY).
static IDC_ISSUER: Rule = Rule {
    id: "idc-issuer",
    scope: Scope::Issuer,
    fix: "serve the issuer over public https on the default port (CloudFront in the AWS deployment) and give Identity Center the issuer URL itself, without /.well-known/…",
    check: idc_issuer,
};

// VERIFIERS.md Identity Center "algorithm": RS256 (ES256 is reported rejected, obs.).
static IDC_ALG: Rule = Rule {
    id: "idc-alg",
    scope: Scope::Token,
    fix: "request RS256 (--alg RS256; iamjwt s3-access does by default)",
    check: |ctx| alg_allowed(ctx, &["RS256"], "IAM Identity Center"),
};

// VERIFIERS.md Identity Center "issuer": iss equals the TTI's IssuerUrl exactly (a trailing slash matters).
static IDC_ISS: Rule = Rule {
    id: "idc-iss",
    scope: Scope::Token,
    fix: "create the trusted token issuer with IssuerUrl exactly equal to the token's iss",
    check: idc_iss,
};

// VERIFIERS.md Identity Center "audience": exactly one of the grant's AuthorizedAudiences; a single-string aud.
static IDC_AUD: Rule = Rule {
    id: "idc-aud",
    scope: Scope::Token,
    fix: "request exactly one audience (--aud), one of the application grant's AuthorizedAudiences",
    check: idc_aud,
};

// VERIFIERS.md Identity Center "jti": required, and a replayed jti is rejected.
static IDC_JTI: Rule = Rule {
    id: "idc-jti",
    scope: Scope::Token,
    fix: "issue a unique jti in every token, and exchange each token once (never a cached one)",
    check: idc_jti,
};

// VERIFIERS.md Identity Center "exp": required; keep the lifetime within 1 h.
static IDC_LIFETIME: Rule = Rule {
    id: "idc-lifetime",
    scope: Scope::Token,
    fix: "request a lifetime of at most 3600 s (--duration, or the rule's max_duration)",
    check: idc_lifetime,
};

// VERIFIERS.md Identity Center "user mapping": ClaimAttributePath matches \p{L}+(?:(\.|_)\p{L}+){0,2} and the
// token carries it (its value must match exactly one Identity Store user).
static IDC_CLAIM: Rule = Rule {
    id: "idc-claim",
    scope: Scope::Token,
    fix: "map a letters-only claim (userName, email; at most three parts joined by . or _) and add it to the principal's audience policy rule (\"claims\")",
    check: idc_claim,
};

fn idc_issuer(ctx: &Context<'_>) -> Check {
    let url = &ctx.issuer.issuer;
    if url.contains("/.well-known") {
        return Check::Fail(format!(
            "issuer {url} holds /.well-known: Identity Center wants the issuer URL itself"
        ));
    }
    https_form(url, false, "IAM Identity Center")
}

fn idc_iss(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    match t.claims["iss"].as_str() {
        Some(iss) if iss == ctx.issuer.issuer => Check::Pass(format!("iss is {iss}")),
        Some(iss) => Check::Fail(format!(
            "iss {iss:?} is not exactly the IssuerUrl {:?}",
            ctx.issuer.issuer
        )),
        None => Check::Fail("no iss".into()),
    }
}

fn idc_aud(ctx: &Context<'_>) -> Check {
    let (aud, is_array) = ctx.aud();
    match aud[..] {
        [] => Check::Fail("no aud".into()),
        [a] if !ctx.accepted_audiences.iter().any(|x| x == a) => Check::Fail(format!(
            "aud {a} is not an authorized audience ({})",
            ctx.accepted_audiences.join(", ")
        )),
        [a] if is_array => Check::Warn(format!(
            "aud is an array of one ({a}): a single string is the form Identity Center is known to take"
        )),
        [a] => Check::Pass(format!("aud {a} is an authorized audience")),
        _ => Check::Fail(format!(
            "{} audiences ({}): Identity Center matches exactly one",
            aud.len(),
            aud.join(", ")
        )),
    }
}

fn idc_jti(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    match t.claims["jti"].as_str() {
        Some(j) if !j.is_empty() => {
            Check::Pass("jti present (Identity Center takes each jti once)".into())
        }
        _ => Check::Fail("no jti: Identity Center requires one and refuses a replay".into()),
    }
}

fn idc_lifetime(ctx: &Context<'_>) -> Check {
    let Some(t) = ctx.token() else {
        return Check::Skip;
    };
    let Some(exp) = t.claims["exp"].as_i64() else {
        return Check::Fail("no integer exp".into());
    };
    let from = t.claims["iat"]
        .as_i64()
        .unwrap_or_else(|| i64::try_from(ctx.now.0).unwrap_or(i64::MAX));
    let lifetime = exp - from;
    if lifetime <= MAX_LIFETIME_SECS {
        Check::Pass(format!("lifetime {lifetime} s (limit {MAX_LIFETIME_SECS})"))
    } else {
        Check::Fail(format!(
            "lifetime {lifetime} s: keep it within {MAX_LIFETIME_SECS} s"
        ))
    }
}

/// `ClaimAttributePath`: `\p{L}+(?:(\.|_)\p{L}+){0,2}` — one to three runs of letters joined by `.` or `_`.
pub fn claim_path_ok(path: &str) -> bool {
    let runs: Vec<&str> = path.split(['.', '_']).collect();
    runs.len() <= 3
        && runs
            .iter()
            .all(|r| !r.is_empty() && r.chars().all(char::is_alphabetic))
}

/// The Identity Store attribute a claim is matched against: emails for a mail claim, else `userName` (both are
/// unique in the Identity Store).
pub fn identity_store_attribute(claim: &str) -> &'static str {
    if claim.to_ascii_lowercase().contains("mail") {
        "emails.value"
    } else {
        "userName"
    }
}

fn idc_claim(ctx: &Context<'_>) -> Check {
    let Some(path) = ctx.user_claim else {
        return Check::Fail(
            "no --claim: give the claim the trusted token issuer maps to a user (ClaimAttributePath)"
                .into(),
        );
    };
    if !claim_path_ok(path) {
        return Check::Fail(format!(
            "claim path {:?} is not letters joined by . or _ (at most three parts)",
            truncate(path, 60)
        ));
    }
    match ctx.subject {
        Subject::Planned(_) => Check::Pass(format!(
            "claim path {path} is letters-only; the audience policy rule below adds it"
        )),
        Subject::Token(t) => {
            let value = path
                .split('.')
                .try_fold(&t.claims, |v, seg| v.get(seg))
                .and_then(Value::as_str);
            match value {
                Some(v) if !v.is_empty() => Check::Pass(format!(
                    "{path} is {v:?} (it must match exactly one Identity Store user)"
                )),
                _ => Check::Fail(format!("the token has no string claim {path}")),
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// `trust identity-center`: sso-admin requests (each one `--cli-input-json` document), the identity bearer role and
// the issuer's audience policy rule.

const TTI_ARN: ShellVar = ShellVar("TTI_ARN");
const APP_ARN: ShellVar = ShellVar("APP_ARN");
const STORE_ID: ShellVar = ShellVar("STORE_ID");
const USER_ID: ShellVar = ShellVar("USER_ID");
const VARS: [ShellVar; 4] = [TTI_ARN, APP_ARN, STORE_ID, USER_ID];

/// `arn:P:sso:::instance/ssoins-…` (or `ins-…`), field by field.
fn instance_arn(arn: &str) -> Result<(), Error> {
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    let ok = match fields[..] {
        ["arn", partition, "sso", "", "", resource] => {
            partition.starts_with("aws")
                && resource
                    .strip_prefix("instance/")
                    .and_then(|id| {
                        id.strip_prefix("ssoins-")
                            .or_else(|| id.strip_prefix("ins-"))
                    })
                    .is_some_and(|id| {
                        id.len() == 16
                            && id
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                    })
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::Usage(format!(
            "--instance-arn {:?} is not an Identity Center instance ARN: expected arn:aws:sso:::instance/ssoins-<16 characters> (aws sso-admin list-instances)",
            truncate(arn, 100)
        )))
    }
}

/// A TTI or application name as sso-admin takes it (`[\w+=,.@-]{1,255}`; applications take at most 100).
fn name_ok(name: &str) -> bool {
    (1..=100).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

/// `aws sso-admin OP --cli-input-json DOC`: the whole request in one document, its ARNs as shell variables.
fn sso_admin(op: &str, body: &Value) -> Result<Vec<Vec<Part>>, Error> {
    let mut w = text_words(&["aws", "sso-admin", op, "--cli-input-json"]);
    w.push(json_parts(body, &VARS)?);
    Ok(w)
}

fn document(plan: &Plan) -> Result<Doc, Error> {
    let missing = |flag: &str, what: &str| Error::Usage(format!("give {flag}: {what}"));
    let instance = plan.instance_arn.as_deref().ok_or_else(|| {
        missing(
            "--instance-arn",
            "the Identity Center instance (aws sso-admin list-instances)",
        )
    })?;
    instance_arn(instance)?;
    let claim = plan.claim.as_deref().ok_or_else(|| {
        missing(
            "--claim",
            "the claim that names the directory user (userName, email, …)",
        )
    })?;
    if !claim_path_ok(claim) || claim.contains('.') {
        return Err(Error::Usage(format!(
            "--claim {:?} must be a top-level claim of letters joined by _ (userName, email, preferred_username): Identity Center reads \\p{{L}}+(?:(\\.|_)\\p{{L}}+){{0,2}} and the audience policy adds top-level claims",
            truncate(claim, 60)
        )));
    }
    let user = plan.user.as_deref().filter(|u| !u.is_empty()).ok_or_else(|| {
        missing(
            "--user",
            "the directory user's value of that claim, or a template such as {name} or {tag:iic-user}",
        )
    })?;
    let Some(principal) = &plan.principal else {
        return Err(missing(
            "--principal",
            "the workload's role ARN (it exchanges the tokens and assumes the identity bearer role)",
        ));
    };
    if !name_ok(&plan.name) {
        return Err(Error::Usage(format!(
            "--app-name {:?} is not a name sso-admin takes (1-100 of letters, digits and _+=,.@-)",
            truncate(&plan.name, 80)
        )));
    }
    let partition = principal.partition();
    let account = principal.account().as_str();
    // IAM principals in policies are the role ARN with its path: the one the administrator gave, else sub.
    let workload = plan
        .principal_arn
        .clone()
        .unwrap_or_else(|| plan.sub.clone());
    let bearer_name = format!("{}-identity-bearer", plan.name);
    let bearer_arn = format!("arn:{partition}:iam::{account}:role/{bearer_name}");
    let store_attribute = identity_store_attribute(claim);
    let template = user.contains('{');

    let requests = [
        (
            "create-trusted-token-issuer",
            "create_trusted_token_issuer",
            json!({
                "InstanceArn": instance,
                "Name": plan.name,
                "TrustedTokenIssuerType": "OIDC_JWT",
                "TrustedTokenIssuerConfiguration": {"OidcJwtConfiguration": {
                    "IssuerUrl": plan.issuer,
                    "ClaimAttributePath": claim,
                    "IdentityStoreAttributePath": store_attribute,
                    "JwksRetrievalOption": "OPEN_ID_DISCOVERY",
                }},
            }),
        ),
        (
            "create-application",
            "create_application",
            json!({
                "InstanceArn": instance,
                "ApplicationProviderArn": CUSTOM_APPLICATION_PROVIDER,
                "Name": plan.name,
                "Description": "Workloads with iamjwt tokens (S3 Access Grants)",
            }),
        ),
        (
            "put-application-grant",
            "put_application_grant",
            json!({
                "ApplicationArn": APP_ARN.placeholder(),
                "GrantType": JWT_BEARER,
                "Grant": {"JwtBearer": {"AuthorizedTokenIssuers": [{
                    "TrustedTokenIssuerArn": TTI_ARN.placeholder(),
                    "AuthorizedAudiences": [plan.aud],
                }]}},
            }),
        ),
        (
            "put-application-authentication-method",
            "put_application_authentication_method",
            json!({
                "ApplicationArn": APP_ARN.placeholder(),
                "AuthenticationMethodType": "IAM",
                "AuthenticationMethod": {"Iam": {"ActorPolicy": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"AWS": workload},
                        "Action": "sso-oauth:CreateTokenWithIAM",
                        "Resource": "*",
                    }],
                }}},
            }),
        ),
        (
            "put-application-access-scope",
            "put_application_access_scope",
            json!({"ApplicationArn": APP_ARN.placeholder(), "Scope": ACCESS_GRANTS_SCOPE}),
        ),
        (
            "put-application-assignment-configuration",
            "put_application_assignment_configuration",
            json!({"ApplicationArn": APP_ARN.placeholder(), "AssignmentRequired": !template}),
        ),
    ];
    let assignment = json!({
        "ApplicationArn": APP_ARN.placeholder(),
        "PrincipalId": USER_ID.placeholder(),
        "PrincipalType": "USER",
    });
    let trust_policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": workload},
            "Action": ["sts:AssumeRole", "sts:SetContext"],
        }],
    });
    let bearer_policy = json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": ["s3:GetDataAccess", "s3:ListCallerAccessGrants"],
            "Resource": format!("arn:{partition}:s3:*:{account}:access-grants/default"),
        }],
    });
    let rule = json!({
        "principals": [plan.sub],
        "audiences": [plan.aud],
        "claims": {claim: user},
    });

    let mut s = Script::hash();
    s.comment(&format!(
        "IAM Identity Center: trust {} as a trusted token issuer for {} (claim {claim} = {user}, audience {}),",
        plan.issuer, plan.sub, plan.aud
    ))
    .comment("for S3 Access Grants. Run in the Identity Center instance's region (AWS_REGION), with sso-admin rights.");
    let (tti, app) = (&requests[0], &requests[1]);
    s.comment("1. The trusted token issuer: Identity Center reads the issuer's discovery and JWKS (public https).")
        .assign(TTI_ARN, &query(sso_admin(tti.0, &tti.2)?, "TrustedTokenIssuerArn"))?
        .comment("2. A customer-managed application for the workload.")
        .assign(APP_ARN, &query(sso_admin(app.0, &app.2)?, "ApplicationArn"))?
        .comment("3. Its jwt-bearer grant: this issuer's tokens, for exactly this audience.")
        .command_parts(&sso_admin(requests[2].0, &requests[2].2)?)?
        .comment("4. Who may exchange tokens (sso-oauth:CreateTokenWithIAM): the workload's role.")
        .command_parts(&sso_admin(requests[3].0, &requests[3].2)?)?
        .comment("5. What the identity may be used for: S3 Access Grants.")
        .command_parts(&sso_admin(requests[4].0, &requests[4].2)?)?;
    if template {
        s.comment(&format!(
            "6. Assignment: {user} is a template, so every directory user it yields may use the application; the"
        ))
        .comment("   audience policy rule (8) decides which principal's tokens carry which user.")
        .command_parts(&sso_admin(requests[5].0, &requests[5].2)?)?;
    } else {
        s.comment(&format!(
            "6. Assignment: only assigned users may use the application; assign the directory user {user}."
        ))
        .command_parts(&sso_admin(requests[5].0, &requests[5].2)?)?
        .assign(
            STORE_ID,
            &query(
                text_words(&[
                    "aws",
                    "sso-admin",
                    "describe-instance",
                    "--instance-arn",
                    instance,
                ]),
                "IdentityStoreId",
            ),
        )?
        .assign(USER_ID, &{
            let mut w = text_words(&["aws", "identitystore", "get-user-id", "--identity-store-id"]);
            w.push(vec![Part::Var(STORE_ID)]);
            w.push(vec![Part::text("--alternate-identifier")]);
            w.push(vec![Part::text(json(&json!({"UniqueAttribute": {
                "AttributePath": store_attribute, "AttributeValue": user,
            }}))?)]);
            query(w, "UserId")
        })?
        .command_parts(&sso_admin("create-application-assignment", &assignment)?)?;
    }
    s.comment(&format!(
        "7. The identity bearer role: {workload} assumes it with the identity context (sts:SetContext)."
    ))
    .command_parts(&text_words(&[
        "aws",
        "iam",
        "create-role",
        "--role-name",
        &bearer_name,
        "--assume-role-policy-document",
        &json(&trust_policy)?,
    ]))?
    .command_parts(&text_words(&[
        "aws",
        "iam",
        "put-role-policy",
        "--role-name",
        &bearer_name,
        "--policy-name",
        "s3-access-grants",
        "--policy-document",
        &json(&bearer_policy)?,
    ]))?
    .comment("8. The issuer: add this rule to IAMJWT_AUDIENCE_POLICY's \"rules\" (ahead of broader rules for the")
    .comment("   same principal), so its tokens for this audience carry the claim; tokens must be RS256.")
    .comment(&format!("   {}", json(&rule)?))
    .comment(&format!(
        "9. The workload (credential_process): iamjwt s3-access --identity-center-app \"$APP_ARN\" --role-arn {} \\",
        shell_word(&bearer_arn)?
    ))
    .comment(&format!(
        "     --aud {} --target s3://BUCKET/PREFIX* --permission READ",
        shell_word(&plan.aud)?
    ));

    let mut doc = serde_json::Map::new();
    for (_, key, body) in &requests {
        doc.insert((*key).to_owned(), body.clone());
    }
    if !template {
        doc.insert("create_application_assignment".into(), assignment);
    }
    doc.insert("bearer_role_name".into(), json!(bearer_name));
    doc.insert("bearer_role_trust_policy".into(), trust_policy);
    doc.insert("bearer_role_policy".into(), bearer_policy);
    doc.insert("audience_policy_rule".into(), rule);
    Ok(Doc {
        json: show_vars(&Value::Object(doc), &VARS),
        text: s.finish(),
    })
}

/// `… --query FIELD --output text`: the command prints just that field.
fn query(mut w: Vec<Vec<Part>>, field: &str) -> Vec<Vec<Part>> {
    w.extend(text_words(&["--query", field, "--output", "text"]));
    w
}
