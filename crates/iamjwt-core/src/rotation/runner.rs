//! The runner: load → decide → act through the ports, until a step has nothing left to do.

use super::{Action, Decide, RotationPolicy, Step, next_action};
use crate::discovery::{DiscoveryDocument, IssuerDocuments};
use crate::error::Error;
use crate::keys::KeyState;
use crate::ports::{KeyStore, Publisher};
use crate::region::Region;
use crate::time::UnixTime;
use crate::types::{Algorithm, Kid};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// What one step did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StepReport {
    pub step: Option<Step>,
    pub actions: Vec<String>,
    pub current_kids: BTreeMap<Algorithm, Kid>,
    /// Replica regions whose part of the step failed, with why ([`super::regions`]); their part is retried by the
    /// next run of any step, while the primary and the other regions went on.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub region_errors: BTreeMap<Region, String>,
}

impl StepReport {
    /// Every region did its part.
    pub fn complete(&self) -> bool {
        self.region_errors.is_empty()
    }
}

/// Upper bound on actions in one step; a correct decision function needs far fewer.
const MAX_ACTIONS: usize = 32;

/// Everything a rotation step needs, wired once.
pub struct Rotator<'a> {
    pub store: &'a dyn KeyStore,
    pub publisher: &'a dyn Publisher,
    pub issuer: &'a str,
    pub algs: &'a [Algorithm],
    pub policy: RotationPolicy,
}

impl Rotator<'_> {
    /// Runs one step to completion: load → decide → act, until the step has nothing left to do.
    pub async fn run_step(
        &self,
        step: Step,
        emergency: bool,
        now: UnixTime,
    ) -> Result<StepReport, Error> {
        let mut report = StepReport {
            step: Some(step),
            ..StepReport::default()
        };
        let want_discovery = DiscoveryDocument::new(self.issuer, self.algs);
        for _ in 0..MAX_ACTIONS {
            let state = self.store.load(self.algs).await?;
            let published: BTreeSet<Kid> = self
                .publisher
                .read_jwks()
                .await?
                .map(|j| j.kids().cloned().collect())
                .unwrap_or_default();
            let discovery_current =
                self.publisher.read_discovery().await?.as_ref() == Some(&want_discovery);
            let decision = Decide {
                step,
                emergency,
                state: &state,
                published: &published,
                discovery_current,
                now,
                policy: self.policy,
            };
            let Some(action) = next_action(&decision)? else {
                report.current_kids = state
                    .algs
                    .iter()
                    .filter_map(|(alg, s)| s.current.as_ref().map(|c| (*alg, c.kid.clone())))
                    .collect();
                return Ok(report);
            };
            report.actions.push(action.to_string());
            self.apply(&action, &state, now).await?;
        }
        Err(Error::InconsistentState(format!(
            "{step} did not settle after {MAX_ACTIONS} actions"
        )))
    }

    pub(super) async fn apply(
        &self,
        action: &Action,
        state: &KeyState,
        now: UnixTime,
    ) -> Result<(), Error> {
        match action {
            Action::Create { alg, slot } => {
                self.store.create_key(*alg, *slot, now).await.map(|_| ())?
            }
            Action::Assign { alg, slot, key } => self.store.assign(*alg, *slot, Some(key)).await?,
            Action::Clear { alg, slot } => self.store.assign(*alg, *slot, None).await?,
            Action::Mark { key, mark } => self.store.mark(key, *mark).await?,
            Action::ScheduleDeletion { key } => self.store.schedule_deletion(key).await?,
            Action::Publish => self.publish(state).await?,
        }
        Ok(())
    }

    async fn publish(&self, state: &KeyState) -> Result<(), Error> {
        let docs = IssuerDocuments {
            discovery: DiscoveryDocument::new(self.issuer, self.algs),
            jwks: state.jwks(),
        };
        self.publisher.publish(&docs).await?;
        // Read back: the published document must hold exactly what we wrote (and so every signing key).
        let back = self.publisher.read_jwks().await?.unwrap_or_default();
        let want = state.desired_kids();
        let got: BTreeSet<Kid> = back.kids().cloned().collect();
        if got != want {
            return Err(Error::InconsistentState(format!(
                "published JWKS read back with kids {got:?}, expected {want:?}"
            )));
        }
        Ok(())
    }
}
