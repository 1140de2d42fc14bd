//! The rotation port over KMS: keys, slot aliases and the tags that hold rotation's facts. Never signs.

use super::key_policy::KeyAccess;
use super::{alias, checked_jwk, kms_algorithm, pending_deletion, point_alias, tag};
use crate::error::classify;
use crate::tags;
use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::types::KeyUsageType;
use iamjwt_core::jwk::PublicJwk;
use iamjwt_core::keys::{KeyMark, KeyRecord, KeyState as Keys, Slots};
use iamjwt_core::ports::KeyStore;
use iamjwt_core::{Algorithm, KeyId, KeySlot, Kid, PortError, PortErrorKind, UnixTime};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::time::Instant;

/// `GetPublicKey` → JWK, checking the key is of the algorithm we expect.
async fn public_jwk(client: &Client, key_id: &str, alg: Algorithm) -> Result<PublicJwk, PortError> {
    let out = client
        .get_public_key()
        .key_id(key_id)
        .send()
        .await
        .map_err(|e| classify("GetPublicKey", e))?;
    checked_jwk(key_id, &out, alg)
}

/// The rotation port over KMS.
#[derive(Clone)]
pub struct KmsKeyStore {
    client: Client,
    prefix: String,
    deletion_days: i32,
    /// The roles every key's policy names.
    access: KeyAccess,
    /// Keys whose policy was found or put, and when: one rotation execution loads the slots many times, and
    /// checks each key once.
    policy_checked: Arc<Mutex<HashMap<String, Instant>>>,
    /// Waits between attempts when a brand-new key is not yet authorised by its tags.
    propagation_waits: Vec<Duration>,
    /// Create multi-Region keys (an issuer in several regions replicates them with [`super::KmsRegions`]).
    multi_region: bool,
}

/// KMS may take a while (up to minutes) before a new key's tags count for authorisation, so the calls right after
/// `CreateKey` retry `AccessDenied` with backoff: 1+2+4+8+16 s, within the rotate function's timeout.
const PROPAGATION_WAITS: [u64; 5] = [1, 2, 4, 8, 16];

/// A KMS key has one key policy, and this is its name.
const POLICY_NAME: &str = "default";
/// A key's policy is checked again after this long: longer than a rotation execution, shorter than the time
/// between two.
const POLICY_RECHECK: Duration = Duration::from_secs(15 * 60);

impl KmsKeyStore {
    /// Keys are created with, and kept at, the key policy of `access` ([`super::key_policy`]).
    pub fn new(
        client: Client,
        prefix: impl Into<String>,
        deletion_days: u32,
        access: KeyAccess,
    ) -> Self {
        Self {
            client,
            prefix: prefix.into(),
            deletion_days: i32::try_from(deletion_days).unwrap_or(30),
            access,
            policy_checked: Arc::default(),
            propagation_waits: PROPAGATION_WAITS
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
            multi_region: false,
        }
    }

    /// Creates multi-Region keys (`MultiRegion=true`), for an issuer that signs in several regions.
    pub fn with_multi_region(mut self, on: bool) -> Self {
        self.multi_region = on;
        self
    }

    /// Overrides the waits used while a new key's tags propagate (tests use short ones).
    pub fn with_propagation_waits(mut self, waits: Vec<Duration>) -> Self {
        self.propagation_waits = waits;
        self
    }

    /// Runs `op`, retrying `AccessDenied` while a new key's tags may still be propagating.
    async fn while_propagating<T, F, Fut>(&self, what: &str, op: F) -> Result<T, PortError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, PortError>>,
    {
        let mut waits = self.propagation_waits.iter();
        loop {
            match op().await {
                Err(e) if e.kind == PortErrorKind::AccessDenied => match waits.next() {
                    Some(wait) => {
                        tracing::warn!(operation = what, error = %e, "new key not authorised yet; waiting for tag propagation");
                        tokio::time::sleep(*wait).await;
                    }
                    None => return Err(e),
                },
                other => return other,
            }
        }
    }

    async fn record(&self, alg: Algorithm, slot: KeySlot) -> Result<Option<KeyRecord>, PortError> {
        let name = alias(&self.prefix, alg, slot);
        let out = match self.client.describe_key().key_id(&name).send().await {
            Ok(o) => o,
            Err(e) => {
                let err = classify("DescribeKey", e);
                return if err.kind == PortErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let meta = out
            .key_metadata()
            .ok_or_else(|| PortError::other(format!("DescribeKey {name}: no metadata")))?;
        let key_id = meta.key_id().to_owned();
        let pending_deletion = pending_deletion(meta.key_state());
        if !pending_deletion {
            self.reconcile_policy(&key_id).await?;
        }
        let tag_list = self
            .client
            .list_resource_tags()
            .key_id(&key_id)
            .send()
            .await
            .map_err(|e| classify("ListResourceTags", e))?;
        let tagged: HashMap<&str, &str> = tag_list
            .tags()
            .iter()
            .map(|t| (t.tag_key(), t.tag_value()))
            .collect();
        let time = |k: &str| tagged.get(k).and_then(|v| v.parse().ok()).map(UnixTime);
        let jwk = if pending_deletion {
            None
        } else {
            Some(public_jwk(&self.client, &key_id, alg).await?)
        };
        let kid = match (&jwk, tagged.get(tags::KID)) {
            (Some(j), _) => j.kid().clone(),
            (None, Some(k)) => Kid::new(*k),
            (None, None) => Kid::new(format!("unknown-{key_id}")),
        };
        let created_at = time(tags::CREATED_AT)
            .or_else(|| {
                meta.creation_date()
                    .map(|d| UnixTime(u64::try_from(d.secs()).unwrap_or_default()))
            })
            .unwrap_or(UnixTime(0));
        Ok(Some(KeyRecord {
            id: KeyId::new(key_id),
            alg,
            kid,
            jwk,
            created_at,
            published_at: time(tags::PUBLISHED_AT),
            demoted_at: time(tags::DEMOTED_AT),
            compromised: tagged.get(tags::COMPROMISED) == Some(&"true"),
            pending_deletion,
            single_region: meta.multi_region() != Some(true),
        }))
    }

    /// Puts this issuer's key policy on `key_id` unless the key already has exactly that one: a key created before
    /// key policies (KMS's default policy hands it to IAM), or whose policy was changed since. One `GetKeyPolicy`
    /// per key and rotation execution ([`POLICY_RECHECK`]), and a `PutKeyPolicy` only on a difference, so running
    /// it again changes nothing.
    async fn reconcile_policy(&self, key_id: &str) -> Result<(), PortError> {
        let recent = |checked: &HashMap<String, Instant>| {
            checked
                .get(key_id)
                .is_some_and(|at| at.elapsed() < POLICY_RECHECK)
        };
        if recent(
            &self
                .policy_checked
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        ) {
            return Ok(());
        }
        self.put_policy_unless_present(key_id).await?;
        self.policy_checked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key_id.to_owned(), Instant::now());
        Ok(())
    }

    async fn put_policy_unless_present(&self, key_id: &str) -> Result<(), PortError> {
        let want = serde_json::to_value(self.access.policy())
            .map_err(|e| PortError::other(format!("key policy: {e}")))?;
        let out = self
            .client
            .get_key_policy()
            .key_id(key_id)
            .policy_name(POLICY_NAME)
            .send()
            .await
            .map_err(|e| classify("GetKeyPolicy", e))?;
        let have: Option<serde_json::Value> =
            out.policy().and_then(|p| serde_json::from_str(p).ok());
        if have.as_ref() == Some(&want) {
            return Ok(());
        }
        tracing::warn!(
            key_id,
            "the key's policy is not this issuer's; putting it back"
        );
        self.client
            .put_key_policy()
            .key_id(key_id)
            .policy_name(POLICY_NAME)
            .policy(want.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("PutKeyPolicy", e))
    }

    async fn slots(&self, alg: Algorithm) -> Result<Slots, PortError> {
        Ok(Slots {
            pending: self.record(alg, KeySlot::Pending).await?,
            current: self.record(alg, KeySlot::Current).await?,
            previous: self.record(alg, KeySlot::Previous).await?,
        })
    }

    async fn tag(&self, key: &KeyId, k: &str, v: String) -> Result<(), PortError> {
        self.client
            .tag_resource()
            .key_id(key.as_str())
            .tags(tag(k, v)?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("TagResource", e))
    }
}

#[async_trait]
impl KeyStore for KmsKeyStore {
    async fn load(&self, algs: &[Algorithm]) -> Result<Keys, PortError> {
        let mut state = Keys::default();
        for &alg in algs {
            state.algs.insert(alg, self.slots(alg).await?);
        }
        // Any other algorithm of the core's table may still have slot aliases (removed from the set, its keys not
        // retired yet): `DescribeKey` on each of its aliases, as for a configured one (no `ListAliases`: the rotate
        // role may not list the account's aliases).
        for alg in Keys::removed_among(algs, Algorithm::ALL) {
            state.insert_removed(alg, self.slots(alg).await?);
        }
        Ok(state)
    }

    async fn create_key(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        now: UnixTime,
    ) -> Result<KeyId, PortError> {
        let out = self
            .client
            .create_key()
            .key_spec(kms_algorithm(alg).key_spec)
            .key_usage(KeyUsageType::SignVerify)
            .multi_region(self.multi_region)
            .description(format!("iamjwt {} {alg} signing key", self.prefix))
            // Never with BypassPolicyLockoutSafetyCheck: the policy lets the rotate role (the caller) put it again.
            .policy(self.access.policy_json()?)
            .tags(tag(tags::ISSUER, self.prefix.clone())?)
            .tags(tag(tags::ALG, alg.as_str())?)
            .tags(tag(tags::CREATED_AT, now.to_string())?)
            .send()
            .await
            .map_err(|e| classify("CreateKey", e))?;
        let key_id = out
            .key_metadata()
            .map(|m| m.key_id().to_owned())
            .ok_or_else(|| PortError::other("CreateKey returned no key id"))?;
        let key = KeyId::new(key_id);
        let jwk = self
            .while_propagating("GetPublicKey", || {
                public_jwk(&self.client, key.as_str(), alg)
            })
            .await?;
        self.while_propagating("TagResource", || {
            self.tag(&key, tags::KID, jwk.kid().to_string())
        })
        .await?;
        // The alias last: until it exists the key is in no slot (a crash before leaves an unused, tagged key).
        let name = alias(&self.prefix, alg, slot);
        self.while_propagating("CreateAlias", || async {
            self.client
                .create_alias()
                .alias_name(&name)
                .target_key_id(key.as_str())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("CreateAlias", e))
        })
        .await?;
        Ok(key)
    }

    async fn assign(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        key: Option<&KeyId>,
    ) -> Result<(), PortError> {
        point_alias(&self.client, &alias(&self.prefix, alg, slot), key).await
    }

    async fn mark(&self, key: &KeyId, mark: KeyMark) -> Result<(), PortError> {
        match mark {
            KeyMark::Published(t) => self.tag(key, tags::PUBLISHED_AT, t.to_string()).await,
            KeyMark::Demoted(t) => self.tag(key, tags::DEMOTED_AT, t.to_string()).await,
            KeyMark::Compromised => self.tag(key, tags::COMPROMISED, "true".into()).await,
            KeyMark::Reinstated => self
                .client
                .untag_resource()
                .key_id(key.as_str())
                .tag_keys(tags::DEMOTED_AT)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| classify("UntagResource", e)),
        }
    }

    async fn schedule_deletion(&self, key: &KeyId) -> Result<(), PortError> {
        super::schedule_deletion(&self.client, key, self.deletion_days).await
    }
}
