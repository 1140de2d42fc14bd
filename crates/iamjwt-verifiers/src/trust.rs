//! `trust`'s plan: who to trust (a principal ARN or a `sub`), for which audience, under which name — checked and
//! resolved once, then handed to the target's document builder. Nothing here fetches or prints.

use crate::Error;
use crate::facts::PlannedToken;
use crate::targets::Target;
use crate::targets::azure::AzureCloud;
use iamjwt_core::identity::Principal;
use iamjwt_core::types::truncate;
use serde_json::Value;

/// What the administrator asked for (the CLI fills it from its flags).
#[derive(Debug, Clone)]
pub struct Request {
    pub target: Target,
    /// The issuer URL, exactly as in `iss` (a trailing `/` is dropped).
    pub issuer: String,
    /// A caller ARN (user, assumed-role session, federated user) or a role ARN.
    pub principal: Option<String>,
    /// The `sub` verbatim.
    pub sub: Option<String>,
    pub aud: Option<String>,
    /// What gets created: AWS role, GCP pool and provider, Entra credential, Vault role, Snowflake user,
    /// Databricks policy.
    pub name: String,
    /// aws: the account whose role trusts the issuer.
    pub account: Option<String>,
    /// aws: the issuer emits session tags, so the trust policy allows `sts:TagSession` (for `tag_keys` only).
    pub session_tags: bool,
    /// aws: the session tag keys (or globs) the issuer's rule selects; implies `session_tags`.
    pub tag_keys: Vec<String>,
    /// azure: the Entra cloud.
    pub cloud: AzureCloud,
}

/// A resolved request: every value checked, `sub` and the audience known.
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: Target,
    pub issuer: String,
    pub sub: String,
    pub aud: String,
    pub name: String,
    /// The principal `--principal` named, when it did.
    pub principal: Option<Principal>,
    pub account: Option<String>,
    pub session_tags: bool,
    pub tag_keys: Vec<String>,
    pub cloud: AzureCloud,
    /// What the administrator should know about how the request was read (one line each).
    pub notes: Vec<String>,
}

/// A target's documents: the JSON object (`--output json`) and the commands (`--output text`).
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    pub json: Value,
    pub text: String,
}

/// Values reach shells, SQL consoles and YAML files: a control character is never part of an issuer, an audience,
/// a `sub` or a name, and printed it could end a comment or act in an interactive shell.
fn printable(flag: &str, v: &str) -> Result<(), Error> {
    match v.chars().find(|c| c.is_control()) {
        Some(c) => Err(Error::Usage(format!(
            "{flag} {:?} holds the control character U+{:04X}: remove it",
            truncate(v, 60),
            u32::from(c)
        ))),
        None => Ok(()),
    }
}

impl Plan {
    pub fn new(req: &Request) -> Result<Self, Error> {
        let issuer = req.issuer.trim().trim_end_matches('/').to_owned();
        printable("--issuer", &issuer)?;
        printable("--name", &req.name)?;
        let mut notes = Vec::new();
        let (principal, sub) = match (&req.principal, &req.sub) {
            (Some(arn), _) => {
                printable("--principal", arn)?;
                let (p, note) = principal(arn)?;
                notes.extend(note);
                let sub = p.sub();
                (Some(p), sub)
            }
            (None, Some(s)) if !s.is_empty() => {
                printable("--sub", s)?;
                (None, s.clone())
            }
            _ => return Err(Error::Usage("give --principal ARN or --sub SUB".into())),
        };
        if let Some(a) = &req.aud {
            printable("--aud", a)?;
        }
        for k in &req.tag_keys {
            printable("--tag-key", k)?;
        }
        let aud = (req.target.spec().audience)(req)?;
        Ok(Self {
            target: req.target,
            issuer,
            sub,
            aud,
            name: req.name.clone(),
            principal,
            account: req.account.clone(),
            session_tags: req.session_tags || !req.tag_keys.is_empty(),
            tag_keys: req.tag_keys.clone(),
            cloud: req.cloud,
            notes,
        })
    }

    /// The token the issuer will emit, as the rules judge it before one exists.
    pub fn planned_token(&self) -> PlannedToken {
        PlannedToken {
            sub: self.sub.clone(),
            aud: vec![self.aud.clone()],
        }
    }

    /// The audiences the verifier will be configured to accept.
    pub fn accepted_audiences(&self) -> Vec<String> {
        vec![self.aud.clone()]
    }

    /// The target's documents.
    pub fn document(&self) -> Result<Doc, Error> {
        (self.target.spec().document)(self)
    }
}

/// A caller ARN as `Principal::parse` takes it, or a role ARN (`arn:P:iam::A:role/[PATH/]NAME`): a role ARN is
/// what administrators hold, and the issuer's `sub` for every session of that role. It is read as one of those
/// sessions, so the same code as the issuer computes `sub`; the path is not part of an assumed-role ARN, so it is
/// not part of `sub` either (a note says so).
fn principal(arn: &str) -> Result<(Principal, Option<String>), Error> {
    // Field by field: a user path may hold ":role/", so no substring of the whole ARN decides what it is.
    let fields: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, "iam", "", account, resource] = fields[..] else {
        return Principal::parse(arn)
            .map(|p| (p, None))
            .map_err(|e| Error::Usage(format!("--principal: {e}")));
    };
    let Some(path_name) = resource.strip_prefix("role/") else {
        return Principal::parse(arn)
            .map(|p| (p, None))
            .map_err(|e| Error::Usage(format!("--principal: {e}")));
    };
    let bad = || {
        Error::Usage(format!(
            "--principal {:?}: not a role ARN arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME",
            truncate(arn, 120)
        ))
    };
    let (path, name) = match path_name.rsplit_once('/') {
        Some((path, name)) => (Some(path), name),
        None => (None, path_name),
    };
    // IAM paths: printable ASCII between slashes, at most 512 characters with them.
    if path.is_some_and(|p| {
        p.is_empty()
            || p.len() > 510
            || p.starts_with('/')
            || p.ends_with('/')
            || p.contains("//")
            || !p.bytes().all(|b| (0x21..=0x7e).contains(&b))
    }) {
        return Err(bad());
    }
    let session = format!("{prefix}:{partition}:sts::{account}:assumed-role/{name}/iamjwt-trust");
    let p = Principal::parse(&session).map_err(|_| bad())?;
    let note = path.map(|path| {
        format!(
            "role path /{path}/ is not part of sub: the sessions of {arn} carry sub {}",
            p.sub()
        )
    });
    Ok((p, note))
}

/// `--aud`, or `default` when it is not given; an empty one is refused.
pub(crate) fn audience_or(req: &Request, default: &str) -> Result<String, Error> {
    match req.aud.as_deref() {
        Some("") => Err(Error::Usage("--aud must not be empty".into())),
        Some(a) => Ok(a.to_owned()),
        None => Ok(default.to_owned()),
    }
}

/// `--aud`, required: iamjwt cannot know the verifier's audience (`why` gives an example).
pub(crate) fn audience_required(req: &Request, why: &str) -> Result<String, Error> {
    match req.aud.as_deref() {
        Some("") => Err(Error::Usage("--aud must not be empty".into())),
        Some(a) => Ok(a.to_owned()),
        None => Err(Error::Usage(format!(
            "--aud is required for {}: the audience your workload requests ({why})",
            req.target
        ))),
    }
}

/// The issuer without its scheme: AWS's provider name and condition-key prefix.
pub fn host_path(issuer: &str) -> &str {
    issuer.split_once("://").map_or(issuer, |(_, rest)| rest)
}

#[cfg(test)]
#[path = "trust/tests.rs"]
mod tests;
