//! Key state: what a key store knows about its keys, and the facts rotation records on them (DESIGN.md §6).
//!
//! Plain data shared by the [`ports`](crate::ports) (a store loads a [`KeyState`], records a [`KeyMark`]) and
//! [`rotation`](crate::rotation) (which decides over a [`KeyState`]). Stores that keep records themselves (the local
//! soft store's `keys.json`, the in-memory store) keep [`KeyRecord`]s; its serde form is the one `keys.json` has
//! always had, keyed by id (see [`records_by_id`]).

use crate::jwk::{Jwks, PublicJwk};
use crate::time::UnixTime;
use crate::types::{Algorithm, KeyId, KeySlot, Kid};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One key as the store knows it.
///
/// Serialized without its `id`: records are stored in a map keyed by id ([`records_by_id`]), and a record
/// deserialized on its own has an empty id until its owner sets it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    #[serde(skip, default = "unset_id")]
    pub id: KeyId,
    pub alg: Algorithm,
    pub kid: Kid,
    /// The public key; `None` once the key is pending deletion (KMS will not hand it out any more).
    pub jwk: Option<PublicJwk>,
    pub created_at: UnixTime,
    pub published_at: Option<UnixTime>,
    pub demoted_at: Option<UnixTime>,
    #[serde(default)]
    pub compromised: bool,
    #[serde(default)]
    pub pending_deletion: bool,
    /// A key that cannot be replicated into other regions: in KMS, a single-Region key, made before the issuer
    /// had several regions (docs/multi-region.md, "Adding a region to a running issuer"). Rotation replaces it
    /// in the normal course; other regions never sign with it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub single_region: bool,
}

fn unset_id() -> KeyId {
    KeyId::new("")
}

impl KeyRecord {
    /// A key just created: unpublished, never demoted, healthy. Its algorithm and kid are the JWK's.
    pub fn new(id: KeyId, jwk: PublicJwk, created_at: UnixTime) -> Self {
        Self {
            id,
            alg: jwk.alg(),
            kid: jwk.kid().clone(),
            jwk: Some(jwk),
            created_at,
            published_at: None,
            demoted_at: None,
            compromised: false,
            pending_deletion: false,
            single_region: false,
        }
    }

    /// May appear in the JWKS.
    pub fn publishable(&self) -> bool {
        !self.compromised && !self.pending_deletion && self.jwk.is_some()
    }

    /// Records a fact (idempotent: marking twice with the same value changes nothing).
    pub fn apply(&mut self, mark: KeyMark) {
        match mark {
            KeyMark::Published(t) => self.published_at = Some(t),
            KeyMark::Demoted(t) => self.demoted_at = Some(t),
            KeyMark::Compromised => self.compromised = true,
            KeyMark::Reinstated => self.demoted_at = None,
        }
    }

    /// Records that the key is scheduled for deletion: its public key is no longer available.
    pub fn set_pending_deletion(&mut self) {
        self.pending_deletion = true;
        self.jwk = None;
    }
}

/// Serde for a map of records keyed by id (`keys.json`'s `keys`): each value is a record without its id, and
/// deserializing gives every record the id it is filed under. Use with `#[serde(with = "records_by_id")]`.
pub mod records_by_id {
    use super::KeyRecord;
    use crate::types::KeyId;
    use serde::{Deserialize as _, Deserializer, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(
        keys: &BTreeMap<KeyId, KeyRecord>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(keys)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<KeyId, KeyRecord>, D::Error> {
        let mut keys = BTreeMap::<KeyId, KeyRecord>::deserialize(d)?;
        for (id, record) in &mut keys {
            record.id = id.clone();
        }
        Ok(keys)
    }
}

/// A fact about a key that rotation records (KMS tags in AWS, the state file locally).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMark {
    /// First seen in the published JWKS at this time.
    Published(UnixTime),
    /// Stopped signing at this time.
    Demoted(UnixTime),
    /// Declared compromised by an emergency rotation.
    Compromised,
    /// Signing again: its algorithm was removed (which demoted it) and is configured again before the key was
    /// retired. Clears the demotion, so the key's window is counted from when it really stops signing.
    Reinstated,
}

/// The resource tags a key store that keeps a [`KeyRecord`]'s facts on the key itself (KMS) writes: the issuer tag
/// that scopes every IAM permission (`aws:ResourceTag/iamjwt:issuer`), and one tag per fact. The CDK's IAM
/// conditions read them from `infra/closed-sets.json` ([`crate::closed_sets`]).
pub mod tags {
    /// The issuer (the alias prefix) the key belongs to; every KMS permission is conditioned on it.
    pub const ISSUER: &str = "iamjwt:issuer";
    pub const ALG: &str = "iamjwt:alg";
    pub const KID: &str = "iamjwt:kid";
    pub const CREATED_AT: &str = "iamjwt:created-at";
    pub const PUBLISHED_AT: &str = "iamjwt:published-at";
    pub const DEMOTED_AT: &str = "iamjwt:demoted-at";
    pub const COMPROMISED: &str = "iamjwt:compromised";
    /// Every fact tag, besides [`ISSUER`].
    pub const FACTS: [&str; 6] = [ALG, KID, CREATED_AT, PUBLISHED_AT, DEMOTED_AT, COMPROMISED];
}

/// The three slots of one algorithm.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Slots {
    pub pending: Option<KeyRecord>,
    pub current: Option<KeyRecord>,
    pub previous: Option<KeyRecord>,
}

impl Slots {
    /// Builds the three slots from a lookup per slot.
    pub fn from_fn(mut f: impl FnMut(KeySlot) -> Option<KeyRecord>) -> Self {
        Self {
            pending: f(KeySlot::Pending),
            current: f(KeySlot::Current),
            previous: f(KeySlot::Previous),
        }
    }

    pub fn get(&self, slot: KeySlot) -> Option<&KeyRecord> {
        match slot {
            KeySlot::Pending => self.pending.as_ref(),
            KeySlot::Current => self.current.as_ref(),
            KeySlot::Previous => self.previous.as_ref(),
        }
    }

    /// No slot holds a key.
    pub fn is_empty(&self) -> bool {
        self.pending.is_none() && self.current.is_none() && self.previous.is_none()
    }
}

/// Snapshot of every enabled algorithm's slots, and of every removed one's that still holds keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyState {
    pub algs: BTreeMap<Algorithm, Slots>,
    /// Algorithms in `algs` that are no longer configured: the store still holds keys of theirs. Their keys stay
    /// published until the tokens they signed have expired, then rotation retires them (DESIGN.md §6).
    pub removed: BTreeSet<Algorithm>,
}

impl KeyState {
    /// The algorithms a store must load besides the configured ones: those it holds keys of (`stored`) that are not
    /// configured. A store's [`KeyStore::load`](crate::ports::KeyStore::load) loads them with [`Self::insert_removed`].
    pub fn removed_among(
        configured: &[Algorithm],
        stored: impl IntoIterator<Item = Algorithm>,
    ) -> BTreeSet<Algorithm> {
        stored
            .into_iter()
            .filter(|a| !configured.contains(a))
            .collect()
    }

    /// Adds the slots of an algorithm that is no longer configured (nothing when they hold no key).
    pub fn insert_removed(&mut self, alg: Algorithm, slots: Slots) {
        if !slots.is_empty() {
            self.algs.insert(alg, slots);
            self.removed.insert(alg);
        }
    }

    /// The keys the JWKS should hold: every publishable slot key, current first.
    pub fn publishable(&self) -> Vec<&KeyRecord> {
        let mut out: Vec<&KeyRecord> = Vec::new();
        for slots in self.algs.values() {
            for k in [&slots.current, &slots.pending, &slots.previous]
                .into_iter()
                .flatten()
            {
                if k.publishable() && !out.iter().any(|o| o.id == k.id) {
                    out.push(k);
                }
            }
        }
        out
    }

    pub fn desired_kids(&self) -> BTreeSet<Kid> {
        self.publishable()
            .into_iter()
            .map(|k| k.kid.clone())
            .collect()
    }

    /// The JWKS to publish for this state.
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self
                .publishable()
                .into_iter()
                .filter_map(|k| k.jwk.clone())
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwk::KeyParams;

    fn jwk() -> PublicJwk {
        PublicJwk::from_params(
            KeyParams::Ec {
                crv: "P-256".into(),
                x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU".into(),
                y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0".into(),
            },
            Algorithm::ES256,
        )
        .unwrap()
    }

    #[test]
    fn records_by_id_round_trip_files_each_record_under_its_id() {
        #[derive(Serialize, Deserialize)]
        struct File {
            #[serde(with = "records_by_id")]
            keys: BTreeMap<KeyId, KeyRecord>,
        }
        let mut rec = KeyRecord::new(KeyId::new("k1"), jwk(), UnixTime(10));
        rec.apply(KeyMark::Published(UnixTime(11)));
        rec.apply(KeyMark::Demoted(UnixTime(12)));
        let file = File {
            keys: BTreeMap::from([(rec.id.clone(), rec.clone())]),
        };
        let json = serde_json::to_value(&file).unwrap();
        // The id is the map key only; the record's fields keep their names.
        assert_eq!(json["keys"]["k1"].get("id"), None);
        assert_eq!(json["keys"]["k1"]["alg"], "ES256");
        assert_eq!(json["keys"]["k1"]["published_at"], 11);
        assert_eq!(json["keys"]["k1"]["demoted_at"], 12);
        assert_eq!(json["keys"]["k1"]["compromised"], false);
        let back: File = serde_json::from_value(json).unwrap();
        assert_eq!(back.keys[&rec.id], rec);
    }

    #[test]
    fn record_with_an_id_field_is_refused() {
        let mut v =
            serde_json::to_value(KeyRecord::new(KeyId::new("k"), jwk(), UnixTime(1))).unwrap();
        v["id"] = "k".into();
        assert!(serde_json::from_value::<KeyRecord>(v).is_err());
    }

    #[test]
    fn deletion_drops_the_public_key_and_leaves_the_jwks() {
        let mut rec = KeyRecord::new(KeyId::new("k"), jwk(), UnixTime(1));
        assert!(rec.publishable());
        rec.set_pending_deletion();
        assert!(rec.jwk.is_none() && rec.pending_deletion && !rec.publishable());
        let mut c = KeyRecord::new(KeyId::new("c"), jwk(), UnixTime(1));
        c.apply(KeyMark::Compromised);
        assert!(!c.publishable());
    }
}
