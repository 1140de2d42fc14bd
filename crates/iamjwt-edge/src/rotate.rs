//! One rotation step per invocation: `{"step": "retire" | "promote" | "create" | "publish", "emergency": false}`.
//!
//! The workflow in `infra/rotation.asl.json` calls this four times per rotation. Failures carry an `error_type`
//! the workflow can Retry (`Retryable`) or Catch (refusals and everything else).

use crate::error::Error;
use iamjwt_core::UnixTime;
use iamjwt_core::config::Settings;
use iamjwt_core::ports::{KeyStore, Publisher};
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
            issuer: settings.issue.issuer.clone(),
            algs: settings.issue.algorithms.clone(),
            policy: settings.rotation_policy(),
        }
    }

    pub async fn handle(&self, event: StepEvent, now: UnixTime) -> Result<StepReport, Error> {
        let rotator = Rotator {
            store: &*self.store,
            publisher: &*self.publisher,
            issuer: &self.issuer,
            algs: &self.algs,
            policy: self.policy,
        };
        match rotator.run_step(event.step, event.emergency, now).await {
            Ok(report) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use iamjwt_core::error::{Error as CoreError, PortError, PortErrorKind, Refusal};
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
}
