//! The multi-region soak (issue 21, docs/multi-region.md "The soak across regions"): many rotations of an issuer in three regions
//! on a virtual clock, with seeded random regional outages of random length, through the real adapters
//! (`KmsKeyStore` with multi-Region keys, `KmsRegions`, `S3Publisher`, the token function's `KmsSigner` behind
//! `PublishedOnly`) against moto with one backend per region, every request through a [`crate::counting_proxy::CountingProxy`] that plays
//! the outages by credential scope.
//!
//! Each soak step is one rotation step ([`RotateHandler::handle`] at the virtual `now`, in workflow order; a step
//! that fails ends that execution and the next step starts a new one at `retire`, as the state machine does), then
//! one token of every algorithm from every region through that region's token handler. After every step the soak
//! reads, straight from moto (no proxy, no outage), what KMS and S3 really hold: the primary's slots, every region's
//! aliases and replicas, the published JWKS; and checks [`region_invariant_violations`] and
//! [`invariant_violations`] against the previous observation. It fails on:
//! - any invariant violation (a promotion of an unpublished or unreplicated key anywhere among them);
//! - a token that does not verify against the JWKS of its moment (checked here, and at the end by PyJWT, which
//!   makes its `exp`/`nbf`/`iat` checks as at that moment);
//! - a region that is not down and does not issue: a region's own outage is the only excuse (see [`SILENCE_BOUND`]);
//! - a region that is down and answers anything but `503`, or fewer rotations than asked within
//!   [`RegionsSoakConfig::max_steps`].
//!
//! The clock: a step is [`STEP_SECONDS`] (12 h) with the default rotation policy (a pending key published a day
//! before it signs, `retire_after` ≈ 2 h, keys deleted 7 days after they are scheduled), so an execution of the
//! four steps rotates when nothing is down, and about 7 days of scheduled keys exist at any time: KMS deletes a key
//! at the end of its window, which the soak plays on moto (`EndDeletionWindow`, tests/moto_server_mrk.py). The token
//! function's signer keeps its key until the next request (its TTL is zero in wall time, so every token starts a
//! background refresh that ends within the step), so a region signs with the alias of the step before: more lag
//! than the refresh interval that `retire_after` allows for, and still safe, because an alias never leaves a key in the
//! same step that retires it (retire waits `retire_after` after the last region's demotion). `PublishedOnly`
//! re-reads the JWKS at every token.

use crate::Error;
use crate::kms_path::{event_api, request};
use crate::moto::{self, PREFIX};
use crate::regions::{BUCKET, Moments, REGIONS, RegionalMoto, TokenAt, pyjwt_verify_at};
use iamjwt_aws::kms::{KmsKeyStore, KmsRegions, KmsSigner};
use iamjwt_aws::published::PublishedOnly;
use iamjwt_aws::s3::S3Publisher;
use iamjwt_aws::sdk;
use iamjwt_core::config::Settings;
use iamjwt_core::issuer::Issuer;
use iamjwt_core::keys::{KeyRecord, KeyState};
use iamjwt_core::ports::{KeyStore as _, Publisher as _};
use iamjwt_core::region::Region;
use iamjwt_core::rotation::regions::{RegionKeyStore as _, RegionKeys, slot_records};
use iamjwt_core::rotation::{
    RegionalSnapshot, Step, invariant_violations, region_invariant_violations,
};
use iamjwt_core::{Algorithm, KeyId, Kid, UnixTime};
use iamjwt_edge::rotate::{RotateHandler, StepEvent};
use iamjwt_lambda::token::TokenHandler;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Virtual seconds per soak step.
pub const STEP_SECONDS: u64 = 12 * 3600;
/// The virtual clock starts here.
pub const T0: UnixTime = UnixTime(1_700_000_000);
/// Steps a region that is not down may go without issuing a token of every algorithm. Zero: nothing but its own
/// outage stops a region. Another region's outage does not (its KMS is its own, and `PublishedOnly` keeps the last
/// JWKS when the primary's bucket cannot be read); a new key does not (an alias moves only to a key published a
/// step before, which every region's JWKS read has seen); the end of an outage does not (the cached key is still
/// current, or still published and not scheduled: retire waits for every region, and for `retire_after` after it).
pub const SILENCE_BOUND: u64 = 0;

/// The default rotation policy (`min_publish_age` one day, `retire_after` = 3600 + 3600 + 300 s) and the shortest
/// deletion window KMS allows. With 12 h steps a pending key is published 2 steps (24 h) before the next promote,
/// and a demoted key waits 3 steps for the next retire.
const SETTINGS: [(&str, &str); 2] = [("IAMJWT_BUCKET", BUCKET), ("IAMJWT_KEY_DELETION_DAYS", "7")];

/// The issuer's settings for the soak: the bench issuer's, in [`REGIONS`], with the default rotation policy and
/// a 7-day deletion window.
pub fn settings() -> Result<Settings, Error> {
    Settings::from_lookup(|k| {
        if k == "IAMJWT_REGIONS" {
            return Some(REGIONS.join(","));
        }
        moto::env()
            .iter()
            .chain(&SETTINGS)
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .map_err(|e| Error::Setup(e.to_string()))
}

#[derive(Debug, Clone)]
pub struct RegionsSoakConfig {
    /// Rotations (the primary's current key replaced, every algorithm) to run.
    pub rotations: u32,
    /// Seeds the outages: the same seed plays the same outages.
    pub seed: u64,
    /// The chance, per step and per region that is up, that an outage of that region starts.
    pub outage_chance: f64,
    /// An outage lasts 1 to this many steps.
    pub max_outage_steps: u32,
    /// At this step, after the rotation step, the second region's RS256 alias is moved by hand to a key in no
    /// JWKS ([`RegionalMoto::point_at_stray_key`]): the soak must report it (the test that it can fail).
    pub stray_alias_at: Option<u64>,
    /// Print a line on stderr every this many rotations (a long run).
    pub progress_every: Option<u32>,
}

impl RegionsSoakConfig {
    /// `rotations` with the default outages, seeded by `seed` (`SOAK_SEED`) or, without one, at random.
    pub fn new(rotations: u32, seed: Option<&str>) -> Result<Self, Error> {
        let seed = match seed {
            Some(s) => s.trim().parse().map_err(|_| {
                Error::Setup(format!(
                    "SOAK_SEED={s:?}: not a seed; give the unsigned integer a soak printed"
                ))
            })?,
            None => getrandom::u64().map_err(|e| Error::Setup(format!("a random seed: {e}")))?,
        };
        Ok(Self {
            rotations,
            seed,
            outage_chance: 0.05,
            max_outage_steps: 8,
            stray_alias_at: None,
            progress_every: None,
        })
    }

    /// The steps the soak may take: four per rotation with no outage, six times that, plus the longest outage.
    pub fn max_steps(&self) -> u64 {
        u64::from(self.rotations) * 4 * 6 + u64::from(self.max_outage_steps) + 8
    }
}

/// SplitMix64: a seeded, reproducible sequence (no cryptographic use).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64) / ((1u64 << 53) as f64) < p
    }

    /// 1..=n.
    fn one_to(&mut self, n: u32) -> u32 {
        u32::try_from(self.next() % u64::from(n.max(1))).unwrap_or(0) + 1
    }
}

/// One region over the whole soak.
#[derive(Debug, Default, Clone, Serialize)]
pub struct RegionReport {
    pub region: String,
    /// Tokens issued (every algorithm counts).
    pub tokens: u64,
    /// Requests answered `503` while the region was down.
    pub refused_while_down: u64,
    pub outages: u64,
    pub steps_down: u64,
    pub longest_outage_steps: u64,
    /// The longest run of steps without a token of every algorithm, and the outage it fell in.
    pub longest_silence_steps: u64,
    /// Times this region's `current` alias moved (any algorithm).
    pub alias_moves: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct RegionsSoakReport {
    pub seed: u64,
    pub rotations: u32,
    pub steps: u64,
    pub virtual_seconds: u64,
    pub regions: Vec<RegionReport>,
    /// Steps that failed (the execution ended there), by `error_type`: `Retryable` under outages, refusals
    /// (`UnsafePromotion`, `PreviousStillNeeded`) when an outage delayed the key they wait for.
    pub failed_steps: BTreeMap<String, u64>,
    /// Steps done except in a region that was down (`region_errors`).
    pub partial_steps: u64,
    /// Keys (primary or replica) whose deletion window ended during the soak.
    pub keys_deleted: u64,
    /// Alias moves (any region) to a key that was not published, or not replicated there: must be 0.
    pub unsafe_promotions: u64,
    pub violations: Vec<String>,
    /// Tokens verified here (signature, `iss`, `aud`, against the JWKS of their step).
    pub verified: u64,
    /// Tokens PyJWT verified at the end.
    pub verified_pyjwt: usize,
    /// Everything that went wrong; the soak passes when it is empty.
    pub problems: Vec<String>,
    /// Requests the rotate and token functions sent (through the proxy), by operation.
    pub requests: BTreeMap<String, u64>,
    pub seconds: WallTime,
}

/// Wall time in seconds: in all, and in rotation steps, token requests, observing what is there (and checking it).
#[derive(Debug, Default, Serialize)]
pub struct WallTime {
    pub total: f64,
    pub rotating: f64,
    pub issuing: f64,
    pub observing: f64,
}

impl RegionsSoakReport {
    pub fn check(&self) -> Result<(), Error> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(Error::Failed(format!(
                "multi-region soak (SOAK_SEED={} reproduces it): {}",
                self.seed,
                self.problems.join("; ")
            )))
        }
    }

    /// One line per region and a summary.
    pub fn table(&self) -> String {
        let mut out = format!(
            "{:<15} {:>7} {:>8} {:>8} {:>10} {:>9} {:>9} {:>12}\n",
            "region",
            "tokens",
            "503 down",
            "outages",
            "steps down",
            "longest",
            "silence",
            "alias moves"
        );
        for r in &self.regions {
            out.push_str(&format!(
                "{:<15} {:>7} {:>8} {:>8} {:>10} {:>9} {:>9} {:>12}\n",
                r.region,
                r.tokens,
                r.refused_while_down,
                r.outages,
                r.steps_down,
                r.longest_outage_steps,
                r.longest_silence_steps,
                r.alias_moves
            ));
        }
        out.push_str(&format!(
            "seed {} | {} rotations in {} steps ({} virtual s) | failed steps {:?}, partial {} | keys deleted {} | unsafe promotions {} | invariant violations {} | tokens verified {} (PyJWT {}) | {} requests | {:.1} s (rotating {:.1}, issuing {:.1}, observing {:.1})",
            self.seed,
            self.rotations,
            self.steps,
            self.virtual_seconds,
            self.failed_steps,
            self.partial_steps,
            self.keys_deleted,
            self.unsafe_promotions,
            self.violations.len(),
            self.verified,
            self.verified_pyjwt,
            self.requests.values().sum::<u64>(),
            self.seconds.total,
            self.seconds.rotating,
            self.seconds.issuing,
            self.seconds.observing
        ));
        out
    }
}

/// What KMS and S3 hold at one moment, read straight from moto.
struct Observation {
    state: KeyState,
    jwks: jsonwebtoken::jwk::JwkSet,
    jwks_json: serde_json::Value,
    published: BTreeSet<Kid>,
    regions: BTreeMap<Region, RegionKeys>,
    /// The primary keys scheduled for deletion.
    retired: BTreeSet<KeyId>,
    /// Every key the primary has held in a slot so far, as last seen.
    keys: BTreeMap<KeyId, KeyRecord>,
}

impl Observation {
    fn snapshot(&self) -> RegionalSnapshot<'_> {
        RegionalSnapshot {
            state: &self.state,
            published: &self.published,
            regions: &self.regions,
            keys: &self.keys,
        }
    }

    /// Where `region`'s `current` alias of `alg` points (the primary's slot, or a replica region's alias).
    fn current(&self, region: &Region, alg: Algorithm) -> Option<&KeyId> {
        match self.regions.get(region) {
            Some(r) => r.current.get(&alg),
            None => self
                .state
                .algs
                .get(&alg)
                .and_then(|s| s.current.as_ref())
                .map(|k| &k.id),
        }
    }
}

/// Reads what is really there, past the proxy.
struct Observer {
    store: KmsKeyStore,
    publisher: S3Publisher,
    regions: KmsRegions,
    algs: Vec<Algorithm>,
    keys: BTreeMap<KeyId, KeyRecord>,
}

impl Observer {
    async fn observe(&mut self) -> Result<Observation, Error> {
        let failed = |what: &str, e: &dyn std::fmt::Display| Error::Failed(format!("{what}: {e}"));
        let state = self
            .store
            .load(&self.algs)
            .await
            .map_err(|e| failed("observing the primary", &e))?;
        let jwks = self
            .publisher
            .read_jwks()
            .await
            .map_err(|e| failed("observing the JWKS", &e))?
            .unwrap_or_default();
        let jwks_json = serde_json::to_value(&jwks).map_err(|e| failed("the JWKS", &e))?;
        let mut regions = BTreeMap::new();
        for region in self.regions.regions() {
            let keys = self
                .regions
                .load_region(region, &self.algs)
                .await
                .map_err(|e| failed(&format!("observing {region}"), &e))?;
            regions.insert(region.clone(), keys);
        }
        let retired = self
            .regions
            .retired()
            .await
            .map_err(|e| failed("observing the retired keys", &e))?;
        for k in slot_records(&state) {
            self.keys.insert(k.id.clone(), k.clone());
        }
        Ok(Observation {
            retired,
            published: jwks.kids().cloned().collect(),
            jwks: serde_json::from_value(jwks_json.clone()).map_err(|e| failed("the JWKS", &e))?,
            jwks_json,
            state,
            regions,
            keys: self.keys.clone(),
        })
    }
}

/// A region's token function, wired as the `token` Lambda wires it, its requests through the proxy.
struct TokenFunction {
    region: Region,
    signer: Arc<KmsSigner>,
    handler: TokenHandler,
}

/// The key store, publisher and region store the `rotate` Lambda builds, over `conf`'s endpoint.
fn rotation_ports(
    conf: &sdk::SdkConfig,
    settings: &Settings,
) -> Result<(KmsKeyStore, S3Publisher, KmsRegions), Error> {
    let store = KmsKeyStore::new(
        sdk::kms(conf),
        PREFIX,
        settings.key_deletion_days,
        iamjwt_aws::testing::key_access().map_err(Error::Setup)?,
    )
    .with_multi_region(true);
    let publisher = S3Publisher::new(sdk::s3(conf), BUCKET, settings.jwks_max_age);
    let replicas = settings
        .replica_regions()
        .iter()
        .map(|r| (r.clone(), sdk::kms_in(conf, r.as_str())))
        .collect();
    let regions = KmsRegions::new(sdk::kms(conf), replicas, PREFIX, settings.key_deletion_days);
    Ok((store, publisher, regions))
}

/// The workflow's event for `step` of a scheduled (not an emergency) rotation.
fn scheduled_step(step: Step) -> StepEvent {
    StepEvent {
        step,
        emergency: false,
    }
}

fn token_of(body: &[u8]) -> Option<String> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get("token")?
        .as_str()
        .map(str::to_owned)
}

/// `before` with the keys scheduled for deletion by now marked so. A retire step schedules a key for deletion and
/// then clears its slot; one observation per step cannot see the moment in between, when the single-region rule
/// "a healthy key leaves every slot only once scheduled for deletion" looks at it. Judged per step, the rule is
/// that a key gone from every slot is scheduled for deletion by the end of the step (the order within the step is
/// the crash-injection tests' part, in `iamjwt-core`).
fn step_granular(before: &KeyState, retired: &BTreeSet<KeyId>) -> KeyState {
    let mut state = before.clone();
    for slots in state.algs.values_mut() {
        for k in [&mut slots.pending, &mut slots.current, &mut slots.previous]
            .into_iter()
            .flatten()
        {
            if retired.contains(&k.id) {
                k.pending_deletion = true;
            }
        }
    }
    state
}

/// Every alias that moved between two observations, as `(region, alg, key)`.
fn moves<'a>(
    before: &Observation,
    after: &'a Observation,
    regions: &'a [Region],
    algs: &'a [Algorithm],
) -> Vec<(&'a Region, Algorithm, &'a KeyId)> {
    let mut out = Vec::new();
    for region in regions {
        for &alg in algs {
            if let Some(key) = after.current(region, alg)
                && before.current(region, alg) != Some(key)
            {
                out.push((region, alg, key));
            }
        }
    }
    out
}

pub async fn run(cfg: &RegionsSoakConfig) -> Result<RegionsSoakReport, Error> {
    let started = Instant::now();
    let world = RegionalMoto::start().await?;
    let settings = settings()?;
    let policy = settings.rotation_policy();
    let algs = settings.issue.algorithms.clone();
    let all: Vec<Region> = settings.regions.clone();
    let primary = all
        .first()
        .cloned()
        .ok_or_else(|| Error::Setup("no regions".into()))?;

    // The rotate function, in the primary region, through the proxy.
    let (store, publisher, regions) =
        rotation_ports(&world.proxied(primary.as_str()).await, &settings)?;
    let rotate = RotateHandler::new(&settings, Arc::new(store), Arc::new(publisher))
        .with_regions(Arc::new(regions));
    // The observer, straight to moto.
    let (store, publisher, regions) =
        rotation_ports(&world.direct(primary.as_str()).await, &settings)?;
    let mut observer = Observer {
        store,
        publisher,
        regions,
        algs: algs.clone(),
        keys: BTreeMap::new(),
    };

    let mut now = T0;
    // The first execution, nothing down: keys in every region.
    for step in Step::ALL {
        rotate
            .handle(scheduled_step(step), now)
            .await
            .map_err(|e| Error::Setup(format!("first rotation, {step}: {e}")))?;
    }

    // A token function per region.
    let mut functions = Vec::new();
    for region in &all {
        let conf = world.proxied(region.as_str()).await;
        let signer = Arc::new(
            KmsSigner::new(sdk::kms(&conf), PREFIX, Duration::ZERO).with_confirmation_limit(
                Duration::from_secs(settings.signing_key_confirmation_limit()),
            ),
        );
        signer
            .warm(&algs)
            .await
            .map_err(|e| Error::Setup(format!("{region}: {e}")))?;
        let jwks = Arc::new(S3Publisher::new(
            sdk::s3_in(&conf, primary.as_str()),
            BUCKET,
            settings.jwks_max_age,
        ));
        let guarded = PublishedOnly::new(signer.clone(), jwks, Duration::ZERO);
        // As the token function does at start: until it has read the JWKS once, it signs nothing (a primary down
        // at the first step would otherwise silence every region).
        guarded
            .warm()
            .await
            .map_err(|e| Error::Setup(format!("{region}: the JWKS: {e}")))?;
        let issuer = Issuer::new(settings.issue.clone(), Arc::new(guarded));
        functions.push(TokenFunction {
            region: region.clone(),
            signer,
            handler: TokenHandler::new(issuer, event_api()?),
        });
    }

    let mut report = RegionsSoakReport {
        seed: cfg.seed,
        regions: all
            .iter()
            .map(|r| RegionReport {
                region: r.to_string(),
                ..RegionReport::default()
            })
            .collect(),
        ..RegionsSoakReport::default()
    };
    let mut rng = Rng(cfg.seed);
    let mut down_for = vec![0u64; all.len()];
    let mut silence = vec![0u64; all.len()];
    let mut outage_len = vec![0u64; all.len()];
    let mut rotations: BTreeMap<Algorithm, u32> = algs.iter().map(|a| (*a, 0)).collect();
    let mut moments = Moments::default();
    let mut last = observer.observe().await?;
    let mut next = 0usize;
    // (region, key) scheduled for deletion → when its window started.
    let mut scheduled: BTreeMap<(Region, KeyId), UnixTime> = BTreeMap::new();
    let window = u64::from(settings.key_deletion_days) * 86_400;

    while report.rotations < cfg.rotations && report.steps < cfg.max_steps() {
        report.steps += 1;
        now = now.plus(STEP_SECONDS);
        // KMS deletes the keys whose window has passed (in whichever region is down, too).
        let due: Vec<(Region, KeyId)> = scheduled
            .iter()
            .filter(|(_, at)| now >= at.plus(window))
            .map(|(k, _)| k.clone())
            .collect();
        for (region, key) in due {
            world
                .end_deletion_window(region.as_str(), key.as_str())
                .await?;
            scheduled.remove(&(region, key));
            report.keys_deleted += 1;
        }
        for (i, region) in all.iter().enumerate() {
            if down_for[i] == 0 && cfg.outage_chance > 0.0 && rng.chance(cfg.outage_chance) {
                down_for[i] = u64::from(rng.one_to(cfg.max_outage_steps));
                let r = &mut report.regions[i];
                r.outages += 1;
                r.longest_outage_steps = r.longest_outage_steps.max(down_for[i]);
                world.proxy.fail_region(region.as_str(), true);
            }
        }

        // One rotation step, in workflow order; a failure ends the execution.
        let phase = Instant::now();
        let step = Step::ALL[next];
        match rotate.handle(scheduled_step(step), now).await {
            Ok(r) => {
                next = (next + 1) % Step::ALL.len();
                if !r.complete() {
                    report.partial_steps += 1;
                }
            }
            Err(e) => {
                next = 0;
                *report
                    .failed_steps
                    .entry(e.error_type().to_owned())
                    .or_default() += 1;
                if !matches!(
                    e.error_type(),
                    "Retryable" | "UnsafePromotion" | "PreviousStillNeeded"
                ) {
                    report.problems.push(format!(
                        "step {} ({step}): {} {e}",
                        report.steps,
                        e.error_type()
                    ));
                }
            }
        }

        if cfg.stray_alias_at == Some(report.steps)
            && let Some(region) = all.get(1)
        {
            world.point_at_stray_key(region.as_str()).await?;
        }
        report.seconds.rotating += phase.elapsed().as_secs_f64();
        let phase = Instant::now();

        // A token of every algorithm from every region.
        let mut issued = Vec::new();
        for (i, f) in functions.iter().enumerate() {
            let down = down_for[i] > 0;
            let mut all_issued = true;
            for &alg in &algs {
                let resp = f.handler.handle(request(alg)?, now).await;
                let status = resp.status().as_u16();
                match (token_of(resp.body().as_ref()), down) {
                    (Some(token), false) if status == 200 => {
                        report.regions[i].tokens += 1;
                        issued.push((i, token));
                    }
                    (_, true) if status == 503 => {
                        report.regions[i].refused_while_down += 1;
                        all_issued = false;
                    }
                    _ => {
                        all_issued = false;
                        report.problems.push(format!(
                            "step {}: {} {alg} ({}): {status} {}",
                            report.steps,
                            f.region,
                            if down { "down" } else { "up" },
                            String::from_utf8_lossy(resp.body().as_ref())
                        ));
                    }
                }
            }
            // The background refresh a token started finishes within the step, as it would within a refresh interval.
            while f.signer.refreshing() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let r = &mut report.regions[i];
            if down {
                r.steps_down += 1;
                outage_len[i] += 1;
            }
            if all_issued {
                silence[i] = 0;
                outage_len[i] = 0;
            } else {
                silence[i] += 1;
                r.longest_silence_steps = r.longest_silence_steps.max(silence[i]);
                if silence[i] > outage_len[i] + SILENCE_BOUND {
                    report.problems.push(format!(
                        "step {}: {} silent for {} steps, down for {} of them",
                        report.steps, f.region, silence[i], outage_len[i]
                    ));
                }
            }
        }

        report.seconds.issuing += phase.elapsed().as_secs_f64();
        for call in world.proxy.take() {
            *report.requests.entry(call.operation).or_default() += 1;
        }
        let phase = Instant::now();

        // What is really there now; the invariants since the last step.
        let seen = observer.observe().await?;
        let mut v = region_invariant_violations(&last.snapshot(), &seen.snapshot(), now, policy);
        v.extend(invariant_violations(
            (&step_granular(&last.state, &seen.retired), &last.published),
            (&seen.state, &seen.published),
            now,
            policy,
        ));
        for (region, alg, key) in moves(&last, &seen, &all, &algs) {
            let i = all.iter().position(|r| r == region).unwrap_or(0);
            report.regions[i].alias_moves += 1;
            let published = seen
                .keys
                .get(key)
                .is_some_and(|k| last.published.contains(&k.kid));
            let replicated = seen.regions.get(region).is_none_or(|r| r.live(key));
            if !published || !replicated {
                report.unsafe_promotions += 1;
                v.push(format!(
                    "{region}: {alg} alias moved to {key} (published before: {published}, replicated: {replicated})"
                ));
            }
            if region == &primary {
                *rotations.entry(alg).or_default() += 1;
            }
        }
        for x in v {
            report
                .violations
                .push(format!("step {} at {now}: {x}", report.steps));
        }
        let done = rotations.values().copied().min().unwrap_or(0);
        if let Some(every) = cfg.progress_every
            && done > report.rotations
            && done % every.max(1) == 0
        {
            eprintln!(
                "  {done}/{} rotations, {} steps, {:.0} s",
                cfg.rotations,
                report.steps,
                started.elapsed().as_secs_f64()
            );
        }
        report.rotations = done;

        // Every token against the JWKS of this moment: here, and later by PyJWT.
        if moments.jwks.last() != Some(&seen.jwks_json) {
            moments.jwks.push(seen.jwks_json.clone());
        }
        for (i, token) in issued {
            match crate::soak::verify(&seen.jwks, &token, moto::ISSUER, false) {
                Ok(()) => report.verified += 1,
                Err(e) => report.problems.push(format!(
                    "step {}: a token from {} does not verify against the JWKS: {e}",
                    report.steps, all[i]
                )),
            }
            moments.tokens.push(TokenAt {
                token,
                at: now.0,
                jwks: moments.jwks.len() - 1,
            });
        }
        // A replica's window starts when it is scheduled; a primary's once its last replica is gone.
        for (region, keys) in &seen.regions {
            for (id, r) in &keys.replicas {
                if r.pending_deletion {
                    scheduled.entry((region.clone(), id.clone())).or_insert(now);
                }
            }
        }
        for id in &seen.retired {
            if !seen.regions.values().any(|r| r.replicas.contains_key(id)) {
                scheduled
                    .entry((primary.clone(), id.clone()))
                    .or_insert(now);
            }
        }
        last = seen;
        report.seconds.observing += phase.elapsed().as_secs_f64();

        for (i, region) in all.iter().enumerate() {
            if down_for[i] > 0 {
                down_for[i] -= 1;
                if down_for[i] == 0 {
                    world.proxy.fail_region(region.as_str(), false);
                }
            }
        }
    }

    report.virtual_seconds = now.0 - T0.0;
    if report.rotations < cfg.rotations {
        report.problems.push(format!(
            "{} rotations in {} steps, {} asked",
            report.rotations, report.steps, cfg.rotations
        ));
    }
    if !report.violations.is_empty() {
        report.problems.push(format!(
            "{} invariant violations, the first: {}",
            report.violations.len(),
            report.violations[0]
        ));
    }
    match tokio::task::spawn_blocking(move || pyjwt_verify_at(&moments)).await {
        Ok(Ok(n)) => report.verified_pyjwt = n,
        Ok(Err(e)) => report.problems.push(e.to_string()),
        Err(e) => report.problems.push(format!("PyJWT: {e}")),
    }
    report.seconds.total = started.elapsed().as_secs_f64();
    Ok(report)
}
