//! KMS multi-Region keys: the replica regions of the key store (DESIGN.md §6 "Several regions, one issuer";
//! the decisions are [`iamjwt_core::rotation::regions`]).
//!
//! Keys are created `MultiRegion=true` in the primary region ([`super::KmsKeyStore::with_multi_region`]) and replicated here
//! with `ReplicateKey`, carrying the primary's key policy and its identity tags (issuer, algorithm, kid, creation
//! time), so a replica is authorised and found exactly like its primary. A replica region has one alias per
//! algorithm, `alias/<prefix>/<alg>/current`; when it leaves a key the replica is tagged `iamjwt:demoted-at`.
//!
//! Which keys exist where is read from the primary: every multi-Region key of this issuer in the primary region
//! (`ListKeys`, then its issuer tag) and the replica regions its `DescribeKey` lists. A primary key in
//! `PendingDeletion` or `PendingReplicaDeletion` is retired; its replicas go too.

use super::{alias, pending_deletion, point_alias, tag};
use crate::error::classify;
use crate::tags;
use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::types::Tag;
use iamjwt_core::region::Region;
use iamjwt_core::rotation::regions::{RegionKeyStore, RegionKeys, Replica};
use iamjwt_core::{Algorithm, KeyId, KeySlot, PortError, PortErrorKind, UnixTime};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

/// The tags a replica is created with: what identifies the key, not the primary's rotation facts.
const IDENTITY_TAGS: [&str; 4] = [tags::ISSUER, tags::ALG, tags::KID, tags::CREATED_AT];

/// A multi-Region key of this issuer, as its primary region knows it.
#[derive(Debug, Clone)]
struct PrimaryKey {
    id: KeyId,
    retired: bool,
    /// Regions holding a replica (scheduled for deletion or not).
    replica_regions: BTreeSet<String>,
}

/// The replica regions of one issuer's multi-Region keys.
pub struct KmsRegions {
    primary: Client,
    regions: Vec<Region>,
    clients: BTreeMap<Region, Client>,
    prefix: String,
    deletion_days: i32,
    /// Key id → whether it carries this issuer's tag (a key's issuer never changes, so answers are kept).
    ours: Mutex<HashMap<String, bool>>,
}

impl KmsRegions {
    /// `primary` is the primary region's client; `replicas` the other regions' clients, in configured order.
    pub fn new(
        primary: Client,
        replicas: Vec<(Region, Client)>,
        prefix: impl Into<String>,
        deletion_days: u32,
    ) -> Self {
        Self {
            primary,
            regions: replicas.iter().map(|(r, _)| r.clone()).collect(),
            clients: replicas.into_iter().collect(),
            prefix: prefix.into(),
            deletion_days: i32::try_from(deletion_days).unwrap_or(30),
            ours: Mutex::new(HashMap::new()),
        }
    }

    fn client(&self, region: &Region) -> Result<&Client, PortError> {
        self.clients
            .get(region)
            .ok_or_else(|| PortError::other(format!("{region} is not a configured replica region")))
    }

    fn current_alias(&self, alg: Algorithm) -> String {
        alias(&self.prefix, alg, KeySlot::Current)
    }

    /// Whether `key_id` carries this issuer's tag in the primary region.
    async fn is_ours(&self, key_id: &str) -> Result<bool, PortError> {
        if let Some(known) = self
            .ours
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key_id)
        {
            return Ok(*known);
        }
        let ours = match self
            .primary
            .list_resource_tags()
            .key_id(key_id)
            .send()
            .await
        {
            Ok(out) => out
                .tags()
                .iter()
                .any(|t| t.tag_key() == tags::ISSUER && t.tag_value() == self.prefix),
            Err(e) => {
                let e = classify("ListResourceTags", e);
                match e.kind {
                    // Another application's key that we may not read, or one deleted meanwhile: not ours.
                    PortErrorKind::AccessDenied | PortErrorKind::NotFound => false,
                    _ => return Err(e),
                }
            }
        };
        self.ours
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key_id.to_owned(), ours);
        Ok(ours)
    }

    /// Every multi-Region key of this issuer in the primary region.
    async fn primary_keys(&self) -> Result<Vec<PrimaryKey>, PortError> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .primary
                .list_keys()
                .set_marker(marker.clone())
                .send()
                .await
                .map_err(|e| classify("ListKeys", e))?;
            for entry in page.keys() {
                let Some(id) = entry.key_id().filter(|id| id.starts_with("mrk-")) else {
                    continue;
                };
                if !self.is_ours(id).await? {
                    continue;
                }
                let described = match self.primary.describe_key().key_id(id).send().await {
                    Ok(d) => d,
                    Err(e) => match classify("DescribeKey", e) {
                        e if e.kind == PortErrorKind::NotFound => continue,
                        e => return Err(e),
                    },
                };
                let Some(meta) = described.key_metadata() else {
                    continue;
                };
                let replica_regions = meta
                    .multi_region_configuration()
                    .map(|c| {
                        c.replica_keys()
                            .iter()
                            .filter_map(|r| r.region().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(PrimaryKey {
                    id: KeyId::new(id),
                    retired: pending_deletion(meta.key_state()),
                    replica_regions,
                });
            }
            match page.next_marker() {
                Some(m) if page.truncated() => marker = Some(m.to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// The primary key's identity tags, to give its replica.
    async fn identity_tags(&self, key: &KeyId) -> Result<Vec<Tag>, PortError> {
        let out = self
            .primary
            .list_resource_tags()
            .key_id(key.as_str())
            .send()
            .await
            .map_err(|e| classify("ListResourceTags", e))?;
        let tags: Vec<Tag> = out
            .tags()
            .iter()
            .filter(|t| IDENTITY_TAGS.contains(&t.tag_key()))
            .cloned()
            .collect();
        if !tags
            .iter()
            .any(|t| t.tag_key() == tags::ISSUER && t.tag_value() == self.prefix)
        {
            return Err(PortError::other(format!(
                "{key} is not a key of issuer {}; refusing to replicate it",
                self.prefix
            )));
        }
        Ok(tags)
    }
}

#[async_trait]
impl RegionKeyStore for KmsRegions {
    fn regions(&self) -> &[Region] {
        &self.regions
    }

    async fn retired(&self) -> Result<BTreeSet<KeyId>, PortError> {
        Ok(self
            .primary_keys()
            .await?
            .into_iter()
            .filter(|k| k.retired)
            .map(|k| k.id)
            .collect())
    }

    async fn load_region(
        &self,
        region: &Region,
        algs: &[Algorithm],
    ) -> Result<RegionKeys, PortError> {
        let client = self.client(region)?;
        let mut keys = RegionKeys::default();
        for &alg in algs {
            let name = self.current_alias(alg);
            match client.describe_key().key_id(&name).send().await {
                Ok(d) => {
                    if let Some(id) = d.key_metadata().map(|m| m.key_id()) {
                        keys.current.insert(alg, KeyId::new(id));
                    }
                }
                Err(e) => match classify("DescribeKey", e) {
                    e if e.kind == PortErrorKind::NotFound => {}
                    e => return Err(e),
                },
            }
        }
        for key in self.primary_keys().await? {
            if !key.replica_regions.contains(region.as_str()) {
                continue;
            }
            let meta = match client.describe_key().key_id(key.id.as_str()).send().await {
                Ok(d) => d.key_metadata().cloned(),
                Err(e) => match classify("DescribeKey", e) {
                    // Listed by the primary but deleted here already.
                    e if e.kind == PortErrorKind::NotFound => None,
                    e => return Err(e),
                },
            };
            let Some(meta) = meta else { continue };
            let pending_deletion = pending_deletion(meta.key_state());
            let tags = client
                .list_resource_tags()
                .key_id(key.id.as_str())
                .send()
                .await
                .map_err(|e| classify("ListResourceTags", e))?;
            let demoted_at = tags
                .tags()
                .iter()
                .find(|t| t.tag_key() == tags::DEMOTED_AT)
                .and_then(|t| t.tag_value().parse().ok())
                .map(UnixTime);
            keys.replicas.insert(
                key.id,
                Replica {
                    demoted_at,
                    pending_deletion,
                },
            );
        }
        Ok(keys)
    }

    async fn replicate(&self, region: &Region, key: &KeyId) -> Result<(), PortError> {
        let client = self.client(region)?;
        match client.describe_key().key_id(key.as_str()).send().await {
            Ok(_) => return Ok(()),
            Err(e) => match classify("DescribeKey", e) {
                e if e.kind == PortErrorKind::NotFound => {}
                e => return Err(e),
            },
        }
        let tags = self.identity_tags(key).await?;
        let policy = self
            .primary
            .get_key_policy()
            .key_id(key.as_str())
            .policy_name("default")
            .send()
            .await
            .map_err(|e| classify("GetKeyPolicy", e))?;
        let replicated = self
            .primary
            .replicate_key()
            .key_id(key.as_str())
            .replica_region(region.as_str())
            .set_policy(policy.policy().map(str::to_owned))
            .set_tags(Some(tags))
            .description(format!("iamjwt {} signing key (replica)", self.prefix))
            .send()
            .await;
        match replicated {
            Ok(_) => Ok(()),
            // A replica made by an earlier attempt whose answer was lost.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_already_exists_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(classify("ReplicateKey", e)),
        }
    }

    async fn point_current(
        &self,
        region: &Region,
        alg: Algorithm,
        key: Option<&KeyId>,
    ) -> Result<(), PortError> {
        point_alias(self.client(region)?, &self.current_alias(alg), key).await
    }

    async fn mark_demoted(
        &self,
        region: &Region,
        key: &KeyId,
        at: UnixTime,
    ) -> Result<(), PortError> {
        self.client(region)?
            .tag_resource()
            .key_id(key.as_str())
            .tags(tag(tags::DEMOTED_AT, at.to_string())?)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify("TagResource", e))
    }

    async fn schedule_deletion(&self, region: &Region, key: &KeyId) -> Result<(), PortError> {
        super::schedule_deletion(self.client(region)?, key, self.deletion_days).await
    }
}
