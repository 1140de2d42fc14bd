//! The principal-tag port in AWS: IAM `ListRoleTags` / `ListUserTags`, cached per principal.
//!
//! - An assumed role's tags are its role's (every session of a role shares one cache entry); an IAM user's are the
//!   user's; federated users and the root user have no IAM tags (no call).
//! - Principals of this function's own account are read with its own credentials. Principals of other accounts are
//!   read through `IAMJWT_TAG_READER_ROLE`, a role of that name assumed in the caller's account (STS `AssumeRole`,
//!   partition from the caller's ARN); its credentials are cached per account until shortly before they expire.
//!   Without a reader role, another account's tags cannot be read and the lookup fails.
//! - Entries live `ttl` (`IAMJWT_TAG_CACHE_SECONDS`); the cache holds at most `max_entries` principals. A warm
//!   principal costs no IAM or STS call.
//! - Every failure is an error (never "no tags"); the SDK error is classified (`Throttled` → 503, the rest → 500)
//!   and logged here with `alarm = true`, because a denied or broken lookup is an operator's problem.

use crate::error::classify;
use async_trait::async_trait;
use aws_credential_types::Credentials;
use iamjwt_core::identity::{Caller, Principal, PrincipalKind};
use iamjwt_core::ports::TagSource;
use iamjwt_core::template::PrincipalTags;
use iamjwt_core::{PortError, PortErrorKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::OnceCell;

/// Cached principals, at most (about 50 small strings each: a few MB at worst).
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;
/// Reader-role sessions requested for this long (the default maximum of a role) …
const READER_SESSION_SECONDS: i32 = 3600;
/// … and replaced when less than this is left.
const READER_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// IAM allows 50 tags per principal; pages beyond this many mean something is wrong.
const MAX_PAGES: usize = 10;

struct Entry {
    at: Instant,
    tags: Arc<PrincipalTags>,
}

struct Reader {
    expires: SystemTime,
    iam: aws_sdk_iam::Client,
}

/// [`TagSource`] over IAM. Build once per execution environment and share.
pub struct IamTagSource {
    iam: aws_sdk_iam::Client,
    sts: aws_sdk_sts::Client,
    home_account: OnceCell<String>,
    reader_role: Option<String>,
    ttl: Duration,
    max_entries: usize,
    cache: Mutex<HashMap<String, Entry>>,
    readers: tokio::sync::Mutex<HashMap<String, Reader>>,
}

impl IamTagSource {
    /// `iam` and `sts` use the function's own credentials; `ttl` is `IAMJWT_TAG_CACHE_SECONDS`, `reader_role`
    /// `IAMJWT_TAG_READER_ROLE`.
    pub fn new(
        iam: aws_sdk_iam::Client,
        sts: aws_sdk_sts::Client,
        reader_role: Option<String>,
        ttl: Duration,
    ) -> Self {
        Self {
            iam,
            sts,
            home_account: OnceCell::new(),
            reader_role,
            ttl,
            max_entries: DEFAULT_MAX_ENTRIES,
            cache: Mutex::new(HashMap::new()),
            readers: tokio::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The function's own account, when the caller knows it (otherwise STS `GetCallerIdentity`, once).
    pub fn with_home_account(self, account: impl Into<String>) -> Self {
        let _ = self.home_account.set(account.into());
        self
    }

    pub fn with_max_entries(mut self, max: usize) -> Self {
        self.max_entries = max.max(1);
        self
    }

    /// Resolves the home account now (cold start) so the first request does not pay for it.
    pub async fn warm(&self) -> Result<(), PortError> {
        self.home_account().await.map(|_| ())
    }

    async fn home_account(&self) -> Result<&str, PortError> {
        self.home_account
            .get_or_try_init(|| async {
                let out = self
                    .sts
                    .get_caller_identity()
                    .send()
                    .await
                    .map_err(|e| classify("sts:GetCallerIdentity", e))?;
                out.account()
                    .map(str::to_owned)
                    .ok_or_else(|| PortError::other("sts:GetCallerIdentity returned no account"))
            })
            .await
            .map(String::as_str)
    }

    fn cached(&self, key: &str) -> Option<Arc<PrincipalTags>> {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        cache
            .get(key)
            .filter(|e| e.at.elapsed() < self.ttl)
            .map(|e| e.tags.clone())
    }

    fn remember(&self, key: String, tags: Arc<PrincipalTags>) {
        let mut cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        if cache.len() >= self.max_entries && !cache.contains_key(&key) {
            cache.retain(|_, e| e.at.elapsed() < self.ttl);
            if cache.len() >= self.max_entries
                && let Some(oldest) = cache
                    .iter()
                    .min_by_key(|(_, e)| e.at)
                    .map(|(k, _)| k.clone())
            {
                cache.remove(&oldest);
            }
        }
        cache.insert(
            key,
            Entry {
                at: Instant::now(),
                tags,
            },
        );
    }

    /// The IAM client that can read `principal`'s account.
    async fn client_for(&self, principal: &Principal) -> Result<aws_sdk_iam::Client, PortError> {
        let account = principal.account().as_str();
        if self.home_account().await? == account {
            return Ok(self.iam.clone());
        }
        let Some(role) = &self.reader_role else {
            return Err(PortError::new(
                PortErrorKind::AccessDenied,
                format!(
                    "the caller is in account {account}, not this issuer's; set IAMJWT_TAG_READER_ROLE (a role \
                     deployed in every account whose principals need tags) to read its tags"
                ),
            ));
        };
        let mut readers = self.readers.lock().await;
        if let Some(r) = readers.get(account)
            && r.expires > SystemTime::now() + READER_REFRESH_MARGIN
        {
            return Ok(r.iam.clone());
        }
        let role_arn = format!("arn:{}:iam::{account}:role/{role}", principal.partition());
        let out = self
            .sts
            .assume_role()
            .role_arn(&role_arn)
            .role_session_name("iamjwt-tag-reader")
            .duration_seconds(READER_SESSION_SECONDS)
            .send()
            .await
            .map_err(|e| classify(&format!("sts:AssumeRole {role_arn}"), e))?;
        let c = out.credentials().ok_or_else(|| {
            PortError::other(format!("sts:AssumeRole {role_arn}: no credentials"))
        })?;
        let expires = SystemTime::try_from(*c.expiration()).map_err(|e| {
            PortError::other(format!("sts:AssumeRole {role_arn}: bad expiration: {e}"))
        })?;
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            Some(expires),
            "iamjwt-tag-reader",
        );
        let iam = aws_sdk_iam::Client::from_conf(
            self.iam
                .config()
                .to_builder()
                .credentials_provider(creds)
                .build(),
        );
        readers.insert(
            account.to_owned(),
            Reader {
                expires,
                iam: iam.clone(),
            },
        );
        Ok(iam)
    }

    async fn list(
        iam: &aws_sdk_iam::Client,
        kind: &PrincipalKind,
    ) -> Result<PrincipalTags, PortError> {
        let mut tags = PrincipalTags::new();
        let mut marker: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let (page, truncated, next) = match kind {
                PrincipalKind::AssumedRole { role, .. } => {
                    let out = iam
                        .list_role_tags()
                        .role_name(role)
                        .set_marker(marker.take())
                        .send()
                        .await
                        .map_err(|e| classify("iam:ListRoleTags", e))?;
                    let next = out.marker().map(str::to_owned);
                    (out.tags, out.is_truncated, next)
                }
                PrincipalKind::User { name, .. } => {
                    let out = iam
                        .list_user_tags()
                        .user_name(name)
                        .set_marker(marker.take())
                        .send()
                        .await
                        .map_err(|e| classify("iam:ListUserTags", e))?;
                    let next = out.marker().map(str::to_owned);
                    (out.tags, out.is_truncated, next)
                }
                PrincipalKind::FederatedUser { .. } | PrincipalKind::Root => return Ok(tags),
            };
            tags.extend(page.into_iter().map(|t| (t.key, t.value)));
            match (truncated, next) {
                (true, Some(m)) => marker = Some(m),
                _ => return Ok(tags),
            }
        }
        Err(PortError::other(format!(
            "more than {MAX_PAGES} pages of tags: IAM allows 50 per principal"
        )))
    }
}

#[async_trait]
impl TagSource for IamTagSource {
    async fn principal_tags(&self, caller: &Caller) -> Result<Arc<PrincipalTags>, PortError> {
        let p = &caller.principal;
        let kind = p.kind();
        let key = match kind {
            // Federated users and the root user have no IAM tags: nothing to look up.
            PrincipalKind::FederatedUser { .. } | PrincipalKind::Root => {
                return Ok(Arc::new(PrincipalTags::new()));
            }
            PrincipalKind::AssumedRole { role, .. } => {
                format!("{}:{}:role/{role}", p.partition(), p.account())
            }
            PrincipalKind::User { name, .. } => {
                format!("{}:{}:user/{name}", p.partition(), p.account())
            }
        };
        if let Some(hit) = self.cached(&key) {
            return Ok(hit);
        }
        let looked_up = async {
            let iam = self.client_for(p).await?;
            Self::list(&iam, kind).await
        }
        .await;
        match looked_up {
            Ok(tags) => {
                let tags = Arc::new(tags);
                self.remember(key, tags.clone());
                Ok(tags)
            }
            Err(e) => {
                if e.kind == PortErrorKind::Throttled {
                    tracing::warn!(principal = %key, error = %e, "principal tag lookup throttled");
                } else {
                    tracing::error!(alarm = true, principal = %key, error = %e, "principal tag lookup failed");
                }
                Err(e)
            }
        }
    }
}
