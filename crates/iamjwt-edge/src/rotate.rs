//! One rotation step per invocation: `{"step": "retire" | "promote" | "create" | "publish", "emergency": false}`.
//!
//! The workflow in `infra/rotation.asl.json` calls this four times per rotation. Failures carry an `error_type`
//! the workflow can Retry (`Retryable`) or Catch (refusals and everything else).
//!
//! With replica regions ([`RotateHandler::with_regions`]) a region that fails only fails its own part: retire,
//! promote and create report it and succeed, so the rotation (an emergency above all) goes on for the primary and
//! the other regions. Publish, the last step, redoes every region's part and fails `Retryable` while a region
//! still has not done it, so the workflow retries and, if the region stays down, the execution fails and alarms.

use crate::error::Error;
use iamjwt_core::UnixTime;
use iamjwt_core::config::Settings;
use iamjwt_core::error::{Error as CoreError, PortError, PortErrorKind};
use iamjwt_core::ports::{KeyStore, Publisher};
use iamjwt_core::rotation::regions::{RegionKeyStore, RegionalRotator};
use iamjwt_core::rotation::{RotationPolicy, Rotator, Step, StepReport};
use iamjwt_core::types::Algorithm;
use serde::Deserialize;
use std::sync::Arc;

/// The step event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepEvent {
    pub step: Step,
    #[serde(default)]
    pub emergency: bool,
}

impl StepEvent {
    pub fn from_json(v: serde_json::Value) -> Result<Self, Error> {
        serde_json::from_value(v).map_err(|e| Error::InvalidEvent(e.to_string()))
    }
}

/// Runs rotation steps against a key store and a publisher.
#[derive(Clone)]
pub struct RotateHandler {
    store: Arc<dyn KeyStore>,
    publisher: Arc<dyn Publisher>,
    regions: Option<Arc<dyn RegionKeyStore>>,
    issuer: String,
    algs: Vec<Algorithm>,
    policy: RotationPolicy,
}

impl RotateHandler {
    pub fn new(
        settings: &Settings,
        store: Arc<dyn KeyStore>,
        publisher: Arc<dyn Publisher>,
    ) -> Self {
        Self {
            store,
            publisher,
            regions: None,
            issuer: settings.issue.issuer.clone(),
            algs: settings.issue.algorithms.clone(),
            policy: settings.rotation_policy(),
        }
    }

    /// Keys are multi-Region keys replicated into these regions' stores (the primary is the key store's).
    pub fn with_regions(mut self, regions: Arc<dyn RegionKeyStore>) -> Self {
        self.regions = Some(regions);
        self
    }

    pub async fn handle(&self, event: StepEvent, now: UnixTime) -> Result<StepReport, Error> {
        let rotator = Rotator {
            store: &*self.store,
            publisher: &*self.publisher,
            issuer: &self.issuer,
            algs: &self.algs,
            policy: self.policy,
        };
        let result = match &self.regions {
            None => rotator.run_step(event.step, event.emergency, now).await,
            Some(regions) => {
                let regional = RegionalRotator {
                    primary: rotator,
                    regions: &**regions,
                };
                regional.run_step(event.step, event.emergency, now).await
            }
        };
        let result = result.and_then(|report| {
            if event.step == Step::Publish && !report.complete() {
                return Err(CoreError::Port(PortError::new(
                    PortErrorKind::Transient,
                    format!(
                        "published, but these regions are not up to date yet: {}",
                        describe(&report)
                    ),
                )));
            }
            Ok(report)
        });
        match result {
            Ok(report) => {
                if !report.complete() {
                    tracing::warn!(step = %event.step, regions = %describe(&report),
                        "rotation step done except in these regions; the next step retries them");
                }
                tracing::info!(
                    step = %event.step,
                    emergency = event.emergency,
                    actions = ?report.actions,
                    current = ?report.current_kids,
                    "rotation step done"
                );
                Ok(report)
            }
            Err(e) => {
                let err = Error::from(e);
                if err.is_retryable() {
                    tracing::warn!(step = %event.step, error = %err, "rotation step failed; retryable");
                } else {
                    tracing::error!(step = %event.step, error_type = err.error_type(), error = %err, "rotation step failed");
                }
                Err(err)
            }
        }
    }
}

fn describe(report: &StepReport) -> String {
    report
        .region_errors
        .iter()
        .map(|(region, why)| format!("{region}: {why}"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use iamjwt_core::error::Refusal;
    use iamjwt_core::region::Region;
    use iamjwt_core::rotation::regions::testing::{MemRegions, RegionHarness};
    use iamjwt_core::testing::{FaultMode, Harness, MemKeyStore, MemPublisher};

    fn settings() -> Settings {
        Settings::from_lookup(|k| match k {
            "IAMJWT_ISSUER" => Some("https://id.example.com".into()),
            "IAMJWT_DEFAULT_AUDIENCE" => Some("sts.amazonaws.com".into()),
            _ => None,
        })
        .unwrap()
    }

    #[test]
    fn step_event_shape() {
        let e = StepEvent::from_json(serde_json::json!({"step": "promote", "emergency": true}))
            .unwrap();
        assert_eq!(
            e,
            StepEvent {
                step: Step::Promote,
                emergency: true
            }
        );
        assert!(
            !StepEvent::from_json(serde_json::json!({"step": "create"}))
                .unwrap()
                .emergency
        );
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"step": "rotate"}),
            serde_json::json!({"step": "create", "extra": 1}),
            serde_json::json!({"step": "create", "emergency": "yes"}),
        ] {
            let err = StepEvent::from_json(bad).unwrap_err();
            assert_eq!(err.error_type(), "InvalidInput");
        }
    }

    #[test]
    fn error_types_for_the_workflow() {
        let retry = Error::from(CoreError::Port(PortError::new(
            PortErrorKind::Throttled,
            "slow down",
        )));
        assert_eq!(retry.error_type(), "Retryable");
        let refused = Error::from(CoreError::Refused(Refusal::UnsafePromotion {
            kid: "k".into(),
            published_at: UnixTime(0),
            ready_at: UnixTime(1),
        }));
        assert_eq!(refused.error_type(), "UnsafePromotion");
        let denied = Error::from(CoreError::Port(PortError::new(
            PortErrorKind::AccessDenied,
            "no",
        )));
        assert_eq!(denied.error_type(), "KeyStoreError");
    }

    #[tokio::test]
    async fn runs_steps_and_classifies_failures() {
        let s = settings();
        let h = Arc::new(Harness::new(
            MemKeyStore::new(),
            MemPublisher::default(),
            s.issue.algorithms.clone(),
            s.rotation_policy(),
        ));
        let handler = RotateHandler::new(&s, h.clone(), h.clone());
        h.set_now(UnixTime(1000));
        for step in Step::ALL {
            handler
                .handle(
                    StepEvent {
                        step,
                        emergency: false,
                    },
                    UnixTime(1000),
                )
                .await
                .unwrap();
        }
        let early = handler
            .handle(
                StepEvent {
                    step: Step::Promote,
                    emergency: false,
                },
                UnixTime(2000),
            )
            .await;
        assert_eq!(early.unwrap_err().error_type(), "UnsafePromotion");
        h.fail_at(0, FaultMode::Before);
        let later = UnixTime(1000 + 86_400);
        h.set_now(later);
        let failed = handler
            .handle(
                StepEvent {
                    step: Step::Promote,
                    emergency: false,
                },
                later,
            )
            .await;
        assert_eq!(failed.unwrap_err().error_type(), "Retryable");
        h.clear_fault();
        let report = handler
            .handle(
                StepEvent {
                    step: Step::Promote,
                    emergency: false,
                },
                later,
            )
            .await
            .unwrap();
        assert!(!report.actions.is_empty());
        assert_eq!(report.current_kids.len(), 2);
        assert_eq!(h.violations(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn a_down_region_fails_only_publish_and_never_an_emergency() {
        let s = settings();
        let eu = Region::parse("eu-west-1").unwrap();
        let w = Arc::new(RegionHarness::new(
            Harness::new(
                MemKeyStore::new(),
                MemPublisher::default(),
                s.issue.algorithms.clone(),
                s.rotation_policy(),
            ),
            MemRegions::new(vec![eu.clone()]),
        ));
        let handler = RotateHandler::new(&s, w.clone(), w.clone()).with_regions(w.clone());
        let at = |step, emergency| StepEvent { step, emergency };
        let t = UnixTime(1000);
        w.set_now(t);
        w.regions.set_down(&eu, true);
        for step in [Step::Retire, Step::Promote, Step::Create] {
            let r = handler.handle(at(step, false), t).await.unwrap();
            assert!(r.region_errors.contains_key(&eu), "{step}: {r:?}");
        }
        let publish = handler
            .handle(at(Step::Publish, false), t)
            .await
            .unwrap_err();
        assert_eq!(publish.error_type(), "Retryable");
        assert!(publish.to_string().contains("eu-west-1"), "{publish}");
        // The primary issues regardless; an emergency goes through every step with the region down.
        let later = UnixTime(1060);
        w.set_now(later);
        for step in [Step::Retire, Step::Promote, Step::Create] {
            handler.handle(at(step, true), later).await.unwrap();
        }
        // Back up: publish brings it up to date and succeeds.
        w.regions.set_down(&eu, false);
        let r = handler
            .handle(at(Step::Publish, true), later)
            .await
            .unwrap();
        assert!(r.complete() && r.actions.iter().any(|a| a.starts_with("eu-west-1:")));
        assert_eq!(w.violations(), Vec::<String>::new());
        // The report says which regions failed, and only when one did.
        let json = serde_json::to_value(&r).unwrap();
        assert!(json.get("region_errors").is_none(), "{json}");
    }
}
