//! Test support for multi-region rotation (feature `testing`): replica regions in memory with switchable outages
//! and fault injection, and a harness that checks the regional invariants after every change of either the
//! primary or a region.

use super::{RegionKeyStore, RegionKeys, Replica, slot_records};
use crate::discovery::{DiscoveryDocument, IssuerDocuments};
use crate::error::{PortError, PortErrorKind};
use crate::jwk::Jwks;
use crate::keys::{KeyMark, KeyRecord, KeyState};
use crate::ports::{KeyStore, Publisher};
use crate::region::Region;
use crate::rotation::{RegionalSnapshot, region_invariant_violations};
use crate::testing::{FaultMode, Harness};
use crate::time::UnixTime;
use crate::types::{Algorithm, KeyId, KeySlot, Kid};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Replica regions in memory. A region that is down refuses every call (its state stays as it was: its token
/// endpoint would go on signing with its alias). Mutating calls can be made to fail once, like
/// [`Harness::fail_at`].
#[derive(Debug)]
pub struct MemRegions {
    regions: Vec<Region>,
    state: Mutex<BTreeMap<Region, RegionKeys>>,
    down: Mutex<BTreeSet<Region>>,
    retired: Mutex<BTreeSet<KeyId>>,
    fail_at: Mutex<Option<(usize, FaultMode)>>,
    calls: AtomicUsize,
}

impl MemRegions {
    pub fn new(regions: Vec<Region>) -> Self {
        let state = regions
            .iter()
            .map(|r| (r.clone(), RegionKeys::default()))
            .collect();
        Self {
            regions,
            state: Mutex::new(state),
            down: Mutex::new(BTreeSet::new()),
            retired: Mutex::new(BTreeSet::new()),
            fail_at: Mutex::new(None),
            calls: AtomicUsize::new(0),
        }
    }

    pub fn set_down(&self, region: &Region, down: bool) {
        let mut d = lock(&self.down);
        if down {
            d.insert(region.clone());
        } else {
            d.remove(region);
        }
    }

    pub fn is_down(&self, region: &Region) -> bool {
        lock(&self.down).contains(region)
    }

    /// Records that the primary scheduled `key` for deletion (what the KMS adapter reads from the primary).
    pub fn retire(&self, key: &KeyId) {
        lock(&self.retired).insert(key.clone());
    }

    /// Every region as it really is, outages or not.
    pub fn snapshot(&self) -> BTreeMap<Region, RegionKeys> {
        lock(&self.state).clone()
    }

    /// Replaces a region's state (to build hostile or hand-made situations).
    pub fn put(&self, region: &Region, keys: RegionKeys) {
        lock(&self.state).insert(region.clone(), keys);
    }

    /// Fails the `n`th mutating call from now (0-based), once.
    pub fn fail_at(&self, n: usize, mode: FaultMode) {
        self.calls.store(0, Ordering::SeqCst);
        *lock(&self.fail_at) = Some((n, mode));
    }

    pub fn clear_fault(&self) {
        *lock(&self.fail_at) = None;
    }

    /// Mutating calls seen since the last [`Self::fail_at`].
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn reachable(&self, region: &Region) -> Result<(), PortError> {
        if !self.regions.contains(region) {
            return Err(PortError::other(format!("{region} is not configured")));
        }
        if self.is_down(region) {
            return Err(PortError::new(
                PortErrorKind::Transient,
                format!("{region} is unreachable"),
            ));
        }
        Ok(())
    }

    fn mutate(
        &self,
        region: &Region,
        f: impl FnOnce(&mut RegionKeys) -> Result<(), PortError>,
    ) -> Result<(), PortError> {
        self.reachable(region)?;
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let fault = lock(&self.fail_at)
            .filter(|(at, _)| *at == n)
            .map(|(_, m)| m);
        let injected = || {
            PortError::new(
                PortErrorKind::Transient,
                format!("injected fault at regional call {n}"),
            )
        };
        if fault == Some(FaultMode::Before) {
            return Err(injected());
        }
        let mut state = lock(&self.state);
        let keys = state.entry(region.clone()).or_default();
        f(keys)?;
        match fault {
            Some(FaultMode::After) => Err(injected()),
            _ => Ok(()),
        }
    }
}

fn not_found(region: &Region, key: &KeyId) -> PortError {
    PortError::new(
        PortErrorKind::NotFound,
        format!("{region} has no replica of {key}"),
    )
}

#[async_trait]
impl RegionKeyStore for MemRegions {
    fn regions(&self) -> &[Region] {
        &self.regions
    }

    async fn retired(&self) -> Result<BTreeSet<KeyId>, PortError> {
        Ok(lock(&self.retired).clone())
    }

    async fn load_region(
        &self,
        region: &Region,
        algs: &[Algorithm],
    ) -> Result<RegionKeys, PortError> {
        self.reachable(region)?;
        let mut keys = lock(&self.state).get(region).cloned().unwrap_or_default();
        keys.current.retain(|alg, _| algs.contains(alg));
        Ok(keys)
    }

    async fn replicate(&self, region: &Region, key: &KeyId) -> Result<(), PortError> {
        self.mutate(region, |k| {
            k.replicas.entry(key.clone()).or_default();
            Ok(())
        })
    }

    async fn point_current(
        &self,
        region: &Region,
        alg: Algorithm,
        key: Option<&KeyId>,
    ) -> Result<(), PortError> {
        self.mutate(region, |k| {
            match key {
                // KMS refuses an alias to a key that does not exist in the region.
                Some(id) if !k.replicas.contains_key(id) => return Err(not_found(region, id)),
                Some(id) => k.current.insert(alg, id.clone()),
                None => k.current.remove(&alg),
            };
            Ok(())
        })
    }

    async fn mark_demoted(
        &self,
        region: &Region,
        key: &KeyId,
        at: UnixTime,
    ) -> Result<(), PortError> {
        self.mutate(region, |k| {
            let r = k
                .replicas
                .get_mut(key)
                .ok_or_else(|| not_found(region, key))?;
            r.demoted_at = Some(at);
            Ok(())
        })
    }

    async fn schedule_deletion(&self, region: &Region, key: &KeyId) -> Result<(), PortError> {
        self.mutate(region, |k| {
            let r: &mut Replica = k
                .replicas
                .get_mut(key)
                .ok_or_else(|| not_found(region, key))?;
            r.pending_deletion = true;
            Ok(())
        })
    }
}

type Observation = (KeyState, BTreeSet<Kid>, BTreeMap<Region, RegionKeys>);

/// The primary's [`Harness`] (single-region invariants, primary faults) plus [`MemRegions`]; after every change
/// of either it checks [`region_invariant_violations`] against the previous observation. It is the key store, the
/// publisher and the region store of the rotator under test.
pub struct RegionHarness<S, P> {
    pub primary: Harness<S, P>,
    pub regions: MemRegions,
    now: Mutex<UnixTime>,
    /// Every key seen in a primary slot, as last seen.
    known: Mutex<BTreeMap<KeyId, KeyRecord>>,
    last: Mutex<Option<(Observation, BTreeMap<KeyId, KeyRecord>)>>,
    violations: Mutex<Vec<String>>,
}

impl<S: KeyStore, P: Publisher> RegionHarness<S, P> {
    pub fn new(primary: Harness<S, P>, regions: MemRegions) -> Self {
        Self {
            primary,
            regions,
            now: Mutex::new(UnixTime(0)),
            known: Mutex::new(BTreeMap::new()),
            last: Mutex::new(None),
            violations: Mutex::new(Vec::new()),
        }
    }

    /// The time the invariants are judged at (also the primary harness's).
    pub fn set_now(&self, now: UnixTime) {
        *lock(&self.now) = now;
        self.primary.set_now(now);
    }

    /// Violations of the single-region and the regional invariants so far.
    pub fn violations(&self) -> Vec<String> {
        let mut v = self.primary.violations();
        v.extend(lock(&self.violations).iter().cloned());
        v
    }

    /// Every key the primary has held in a slot, as last seen.
    pub fn known_keys(&self) -> BTreeMap<KeyId, KeyRecord> {
        lock(&self.known).clone()
    }

    async fn check(&self) {
        let Ok((state, published)) = self.primary.observe().await else {
            return;
        };
        let keys = {
            let mut known = lock(&self.known);
            for k in slot_records(&state) {
                known.insert(k.id.clone(), k.clone());
            }
            known.clone()
        };
        let obs: Observation = (state, published, self.regions.snapshot());
        let now = *lock(&self.now);
        let prev = lock(&self.last).replace((obs.clone(), keys.clone()));
        if let Some(((state_b, pub_b, regions_b), keys_b)) = prev {
            let before = RegionalSnapshot {
                state: &state_b,
                published: &pub_b,
                regions: &regions_b,
                keys: &keys_b,
            };
            let after = RegionalSnapshot {
                state: &obs.0,
                published: &obs.1,
                regions: &obs.2,
                keys: &keys,
            };
            let v = region_invariant_violations(&before, &after, now, self.primary.policy);
            lock(&self.violations).extend(v);
        }
    }

    async fn checked<T>(&self, out: Result<T, PortError>) -> Result<T, PortError> {
        self.check().await;
        out
    }
}

#[async_trait]
impl<S: KeyStore, P: Publisher> KeyStore for RegionHarness<S, P> {
    async fn load(&self, algs: &[Algorithm]) -> Result<KeyState, PortError> {
        self.primary.load(algs).await
    }
    async fn create_key(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        now: UnixTime,
    ) -> Result<KeyId, PortError> {
        let out = self.primary.create_key(alg, slot, now).await;
        self.checked(out).await
    }
    async fn assign(
        &self,
        alg: Algorithm,
        slot: KeySlot,
        key: Option<&KeyId>,
    ) -> Result<(), PortError> {
        let out = self.primary.assign(alg, slot, key).await;
        self.checked(out).await
    }
    async fn mark(&self, key: &KeyId, mark: KeyMark) -> Result<(), PortError> {
        let out = self.primary.mark(key, mark).await;
        self.checked(out).await
    }
    async fn schedule_deletion(&self, key: &KeyId) -> Result<(), PortError> {
        let out = self.primary.schedule_deletion(key).await;
        // A fault "after" the call still took effect: the primary key is scheduled either way.
        if out.is_ok()
            || self
                .primary
                .load(&self.primary.algs)
                .await
                .is_ok_and(|s| slot_records(&s).any(|k| &k.id == key && k.pending_deletion))
        {
            self.regions.retire(key);
        }
        self.checked(out).await
    }
}

#[async_trait]
impl<S: KeyStore, P: Publisher> Publisher for RegionHarness<S, P> {
    async fn read_jwks(&self) -> Result<Option<Jwks>, PortError> {
        self.primary.read_jwks().await
    }
    async fn read_discovery(&self) -> Result<Option<DiscoveryDocument>, PortError> {
        self.primary.read_discovery().await
    }
    async fn publish(&self, docs: &IssuerDocuments) -> Result<(), PortError> {
        let out = self.primary.publish(docs).await;
        self.checked(out).await
    }
}

#[async_trait]
impl<S: KeyStore, P: Publisher> RegionKeyStore for RegionHarness<S, P> {
    fn regions(&self) -> &[Region] {
        self.regions.regions()
    }
    async fn retired(&self) -> Result<BTreeSet<KeyId>, PortError> {
        self.regions.retired().await
    }
    async fn load_region(
        &self,
        region: &Region,
        algs: &[Algorithm],
    ) -> Result<RegionKeys, PortError> {
        self.regions.load_region(region, algs).await
    }
    async fn replicate(&self, region: &Region, key: &KeyId) -> Result<(), PortError> {
        // As KMS: a single-Region key cannot be replicated (`UnsupportedOperationException`).
        let single = self
            .primary
            .observe()
            .await
            .is_ok_and(|(s, _)| slot_records(&s).any(|k| &k.id == key && k.single_region));
        let out = if single {
            Err(PortError::other(format!(
                "ReplicateKey: {key} is not a multi-Region key"
            )))
        } else {
            self.regions.replicate(region, key).await
        };
        self.checked(out).await
    }
    async fn point_current(
        &self,
        region: &Region,
        alg: Algorithm,
        key: Option<&KeyId>,
    ) -> Result<(), PortError> {
        let out = self.regions.point_current(region, alg, key).await;
        self.checked(out).await
    }
    async fn mark_demoted(
        &self,
        region: &Region,
        key: &KeyId,
        at: UnixTime,
    ) -> Result<(), PortError> {
        let out = self.regions.mark_demoted(region, key, at).await;
        self.checked(out).await
    }
    async fn schedule_deletion(&self, region: &Region, key: &KeyId) -> Result<(), PortError> {
        let out = self.regions.schedule_deletion(region, key).await;
        self.checked(out).await
    }
}
