//! The multi-region runner: load the primary and every replica region → decide → act, until the step has nothing
//! left to do. A region that fails to load or to change is taken out of the rest of this step and reported.

use super::{Move, RegionAction, RegionKeyStore, RegionView, RegionalDecide, next_move};
use crate::discovery::DiscoveryDocument;
use crate::error::Error;
use crate::region::Region;
use crate::rotation::{Decide, Rotator, Step, StepReport};
use crate::time::UnixTime;
use crate::types::Kid;
use std::collections::{BTreeMap, BTreeSet};

/// Upper bound on changes in one step: the primary's share plus a generous share per region.
const MAX_PRIMARY_ACTIONS: usize = 32;
const MAX_ACTIONS_PER_REGION: usize = 24;

/// The primary's [`Rotator`] and the replica regions, wired once.
pub struct RegionalRotator<'a> {
    pub primary: Rotator<'a>,
    pub regions: &'a dyn RegionKeyStore,
}

impl RegionalRotator<'_> {
    /// Runs one step to completion in the primary and every reachable region.
    ///
    /// Errors of the primary (its key store, the publisher, a refusal) fail the step as in a single region; a
    /// region's errors do not: they are in [`StepReport::region_errors`].
    pub async fn run_step(
        &self,
        step: Step,
        emergency: bool,
        now: UnixTime,
    ) -> Result<StepReport, Error> {
        let p = &self.primary;
        let mut report = StepReport {
            step: Some(step),
            ..StepReport::default()
        };
        let mut failed: BTreeMap<Region, String> = BTreeMap::new();
        let budget = MAX_PRIMARY_ACTIONS + MAX_ACTIONS_PER_REGION * self.regions.regions().len();
        let want_discovery = DiscoveryDocument::new(p.issuer, p.algs);
        for _ in 0..budget {
            let state = p.store.load(p.algs).await?;
            let published: BTreeSet<Kid> = match p.publisher.read_jwks().await? {
                Some(jwks) => jwks.kids().cloned().collect(),
                None => BTreeSet::new(),
            };
            let discovery_current =
                p.publisher.read_discovery().await?.as_ref() == Some(&want_discovery);
            let retired = self.regions.retired().await?;
            // The regions' aliases of the configured algorithms and of removed ones that still hold keys (their
            // aliases must go, and hold back the keys' retirement until they have).
            let region_algs: Vec<_> = p.algs.iter().chain(&state.removed).copied().collect();
            let mut views = Vec::with_capacity(self.regions.regions().len());
            for region in self.regions.regions() {
                let view = match failed.get(region) {
                    Some(why) => RegionView::Down(why.clone()),
                    None => match self.regions.load_region(region, &region_algs).await {
                        Ok(keys) => RegionView::Up(keys),
                        Err(e) => {
                            failed.insert(region.clone(), e.to_string());
                            RegionView::Down(e.to_string())
                        }
                    },
                };
                views.push((region.clone(), view));
            }
            let decision = RegionalDecide {
                primary: Decide {
                    step,
                    emergency,
                    state: &state,
                    published: &published,
                    discovery_current,
                    now,
                    policy: p.policy,
                },
                retired: &retired,
                regions: &views,
            };
            let Some(next) = next_move(&decision)? else {
                report.current_kids = state
                    .algs
                    .iter()
                    .filter_map(|(alg, s)| s.current.as_ref().map(|c| (*alg, c.kid.clone())))
                    .collect();
                report.region_errors = failed;
                return Ok(report);
            };
            report.actions.push(next.to_string());
            match next {
                Move::Primary(action) => p.apply(&action, &state, now).await?,
                Move::Region { region, action } => {
                    if let Err(e) = self.apply(&region, &action).await {
                        failed.insert(region, format!("{action}: {e}"));
                    }
                }
            }
        }
        Err(Error::InconsistentState(format!(
            "{step} did not settle after {budget} actions"
        )))
    }

    async fn apply(&self, region: &Region, action: &RegionAction) -> Result<(), Error> {
        let r = self.regions;
        match action {
            RegionAction::Replicate { key } => r.replicate(region, key).await?,
            RegionAction::Point { alg, key } => r.point_current(region, *alg, key.as_ref()).await?,
            RegionAction::MarkDemoted { key, at } => r.mark_demoted(region, key, *at).await?,
            RegionAction::ScheduleDeletion { key } => r.schedule_deletion(region, key).await?,
        }
        Ok(())
    }
}
