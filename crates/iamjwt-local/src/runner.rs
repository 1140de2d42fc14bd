//! Runs the rotation workflow locally by interpreting `infra/rotation.asl.json`, the same definition Step
//! Functions runs in AWS, so the order of steps, retries and failure handling are written down once.
//!
//! Supported: `Task` (Lambda invoke → the rotate handler; `sns:publish` → an info log; `sfn:listExecutions` → the
//! state-directory lock), `Choice` (numeric/boolean/string equality and numeric greater-than), `Succeed`, `Fail`,
//! `Retry`, `Catch`, `ResultPath`. Anything else is a definition error, not silently skipped.

use crate::error::Error;
use crate::fsutil::try_lock;
use crate::layout;
use iamjwt_core::UnixTime;
use iamjwt_core::error::Refusal;
use iamjwt_core::rotation::{Step, StepReport};
use iamjwt_edge::rotate::{RotateHandler, StepEvent};
use serde_json::{Map, Value, json};
use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

/// The workflow definition, compiled in.
pub const WORKFLOW: &str = include_str!("../../../infra/rotation.asl.json");

const MAX_TRANSITIONS: usize = 64;

/// Local rotation over a state directory.
pub struct LocalRotation {
    handler: RotateHandler,
    state_dir: PathBuf,
}

/// Holds the state-directory lock for the duration of a run.
struct RotationLock(#[allow(dead_code)] File);

impl LocalRotation {
    pub fn new(handler: RotateHandler, state_dir: impl Into<PathBuf>) -> Self {
        Self {
            handler,
            state_dir: state_dir.into(),
        }
    }

    fn lock(&self) -> Result<RotationLock, Error> {
        match try_lock(&layout::rotation_lock(&self.state_dir))? {
            Some(f) => Ok(RotationLock(f)),
            None => Err(Error::Core(iamjwt_core::Error::Refused(
                Refusal::RotationInProgress,
            ))),
        }
    }

    /// One step, as a single Lambda invocation would run it (under the same lock).
    pub async fn run_step(
        &self,
        step: Step,
        emergency: bool,
        now: UnixTime,
    ) -> Result<StepReport, Error> {
        let _lock = self.lock()?;
        self.invoke(StepEvent { step, emergency }, now)
            .await
            .map_err(|(error, cause)| Error::Workflow {
                state: step.to_string(),
                error,
                cause,
            })
    }

    /// The whole workflow. Returns every step's report, or the state and error the run failed with.
    pub async fn run(&self, emergency: bool, now: UnixTime) -> Result<Vec<StepReport>, Error> {
        let def: Value =
            serde_json::from_str(WORKFLOW).map_err(|e| Error::Definition(e.to_string()))?;
        let states = def["States"]
            .as_object()
            .ok_or_else(|| Error::Definition("no States".into()))?;
        let mut name = str_field(&def, "StartAt")?.to_owned();
        let mut data = json!({ "emergency": emergency });
        let mut reports = Vec::new();
        let mut lock = None;
        let mut last_failure: Option<(String, String, String)> = None;
        for _ in 0..MAX_TRANSITIONS {
            let st = states
                .get(&name)
                .ok_or_else(|| Error::Definition(format!("no state {name}")))?;
            match str_field(st, "Type")? {
                "Task" => {
                    let outcome = self.task(st, &data, now, &mut lock, &mut reports).await?;
                    match outcome {
                        Ok(result) => {
                            apply_result_path(&mut data, st.get("ResultPath"), result)?;
                            match next(st)? {
                                Some(n) => name = n,
                                None => return Ok(reports),
                            }
                        }
                        Err((error, cause)) => {
                            let catch = st["Catch"]
                                .as_array()
                                .into_iter()
                                .flatten()
                                .find(|c| matches_error(c, &error));
                            let Some(catch) = catch else {
                                return Err(Error::Workflow {
                                    state: name,
                                    error,
                                    cause,
                                });
                            };
                            last_failure = Some((name.clone(), error.clone(), cause.clone()));
                            let err = json!({ "Error": error, "Cause": cause });
                            apply_result_path(&mut data, catch.get("ResultPath"), err)?;
                            name = str_field(catch, "Next")?.to_owned();
                        }
                    }
                }
                "Choice" => name = choose(st, &data)?,
                "Succeed" => return Ok(reports),
                "Fail" => {
                    let (state, error, cause) = last_failure.unwrap_or_else(|| {
                        (
                            name.clone(),
                            st["Error"].as_str().unwrap_or("Failed").to_owned(),
                            st["Cause"].as_str().unwrap_or("").to_owned(),
                        )
                    });
                    return Err(Error::Workflow {
                        state,
                        error,
                        cause,
                    });
                }
                other => {
                    return Err(Error::Definition(format!(
                        "state type {other} is not supported locally"
                    )));
                }
            }
        }
        Err(Error::Definition(format!(
            "more than {MAX_TRANSITIONS} transitions"
        )))
    }

    /// Runs one Task state. Outer error: the runner itself failed; inner: the task failed (Catch-able).
    async fn task(
        &self,
        st: &Value,
        data: &Value,
        now: UnixTime,
        lock: &mut Option<RotationLock>,
        reports: &mut Vec<StepReport>,
    ) -> Result<Result<Value, (String, String)>, Error> {
        let resource = str_field(st, "Resource")?;
        if resource.ends_with(":sfn:listExecutions") {
            // Locally, "no other execution running" is the state-directory lock, held until the run ends.
            return Ok(match self.lock() {
                Ok(l) => {
                    *lock = Some(l);
                    Ok(json!({ "running": 1 }))
                }
                Err(Error::Core(iamjwt_core::Error::Refused(Refusal::RotationInProgress))) => {
                    Ok(json!({ "running": 2 }))
                }
                Err(e) => Err(("States.TaskFailed".into(), e.to_string())),
            });
        }
        if resource.ends_with(":sns:publish") {
            let msg = st["Parameters"]["Message"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    format!(
                        "{}: {}",
                        data["error"]["Error"].as_str().unwrap_or("?"),
                        data["error"]["Cause"].as_str().unwrap_or("?")
                    )
                });
            // The caller reports the failure itself (`iamjwt rotate` in one line); locally the notification is a log.
            tracing::info!(
                notification = msg,
                "sns:publish (local mode: logged, not sent)"
            );
            return Ok(Ok(Value::Null));
        }
        if !resource.ends_with(":lambda:invoke") {
            return Err(Error::Definition(format!(
                "task resource {resource} is not supported locally"
            )));
        }
        let payload = resolve(&st["Parameters"]["Payload"], data)?;
        let event = match StepEvent::from_json(payload) {
            Ok(e) => e,
            Err(e) => return Ok(Err((e.error_type().into(), e.to_string()))),
        };
        let retries: Vec<&Value> = st["Retry"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default();
        let mut attempts: Vec<u64> = vec![0; retries.len()];
        loop {
            match self.invoke(event, now).await {
                Ok(report) => {
                    let result = json!({ "actions": report.actions });
                    reports.push(report);
                    return Ok(Ok(result));
                }
                Err((error, cause)) => {
                    let Some(i) = retries.iter().position(|r| matches_error(r, &error)) else {
                        return Ok(Err((error, cause)));
                    };
                    let max = retries[i]["MaxAttempts"].as_u64().unwrap_or(3);
                    if attempts[i] >= max {
                        return Ok(Err((error, cause)));
                    }
                    let interval = retries[i]["IntervalSeconds"].as_f64().unwrap_or(1.0);
                    let rate = retries[i]["BackoffRate"].as_f64().unwrap_or(2.0);
                    let exp = i32::try_from(attempts[i]).unwrap_or(i32::MAX);
                    // Locally, waits are capped: nothing here is rate limited the way KMS is.
                    let wait = (interval * rate.powi(exp)).min(2.0);
                    attempts[i] += 1;
                    tracing::warn!(%error, attempt = attempts[i], "retrying {}", event.step);
                    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
                }
            }
        }
    }

    async fn invoke(
        &self,
        event: StepEvent,
        now: UnixTime,
    ) -> Result<StepReport, (String, String)> {
        self.handler
            .handle(event, now)
            .await
            .map_err(|e| (e.error_type().to_owned(), e.to_string()))
    }
}

fn str_field<'a>(v: &'a Value, name: &str) -> Result<&'a str, Error> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Definition(format!("missing string field {name}")))
}

fn next(st: &Value) -> Result<Option<String>, Error> {
    if st.get("End").and_then(Value::as_bool) == Some(true) {
        return Ok(None);
    }
    Ok(Some(str_field(st, "Next")?.to_owned()))
}

fn matches_error(rule: &Value, error: &str) -> bool {
    rule["ErrorEquals"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|e| {
            e == error
                || e == "States.ALL"
                || (e == "States.TaskFailed" && !error.starts_with("States."))
        })
}

/// Looks up a `$.a.b` path.
fn lookup<'a>(data: &'a Value, path: &str) -> Result<&'a Value, Error> {
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| Error::Definition(format!("unsupported path {path}")))?;
    let mut v = data;
    for key in rest.split('.').filter(|k| !k.is_empty()) {
        v = v.get(key).ok_or_else(|| {
            Error::Definition(format!("path {path} not found in the state input"))
        })?;
    }
    Ok(v)
}

/// Evaluates `Parameters`: keys ending `.$` take their value from a path in the state input.
fn resolve(template: &Value, data: &Value) -> Result<Value, Error> {
    let Some(obj) = template.as_object() else {
        return Ok(template.clone());
    };
    let mut out = Map::new();
    for (k, v) in obj {
        match (k.strip_suffix(".$"), v.as_str()) {
            (Some(key), Some(path)) => {
                out.insert(key.to_owned(), lookup(data, path)?.clone());
            }
            _ => {
                out.insert(k.clone(), resolve(v, data)?);
            }
        }
    }
    Ok(Value::Object(out))
}

fn apply_result_path(data: &mut Value, path: Option<&Value>, result: Value) -> Result<(), Error> {
    let path = match path {
        None => "$",
        Some(Value::Null) => return Ok(()),
        Some(p) => p
            .as_str()
            .ok_or_else(|| Error::Definition("ResultPath must be a string or null".into()))?,
    };
    let rest = path
        .strip_prefix('$')
        .ok_or_else(|| Error::Definition(format!("unsupported ResultPath {path}")))?;
    let keys: Vec<&str> = rest.split('.').filter(|k| !k.is_empty()).collect();
    let Some((last, parents)) = keys.split_last() else {
        *data = result;
        return Ok(());
    };
    let mut cur = data;
    for k in parents {
        if !cur.get(*k).is_some_and(Value::is_object) {
            cur[*k] = json!({});
        }
        cur = &mut cur[*k];
    }
    cur[*last] = result;
    Ok(())
}

fn choose(st: &Value, data: &Value) -> Result<String, Error> {
    for rule in st["Choices"].as_array().into_iter().flatten() {
        let var = lookup(data, str_field(rule, "Variable")?)?;
        let hit = if let Some(n) = rule.get("NumericGreaterThan").and_then(Value::as_f64) {
            var.as_f64().is_some_and(|v| v > n)
        } else if let Some(n) = rule.get("NumericEquals").and_then(Value::as_f64) {
            var.as_f64() == Some(n)
        } else if let Some(b) = rule.get("BooleanEquals").and_then(Value::as_bool) {
            var.as_bool() == Some(b)
        } else if let Some(s) = rule.get("StringEquals").and_then(Value::as_str) {
            var.as_str() == Some(s)
        } else {
            return Err(Error::Definition("unsupported Choice rule".into()));
        };
        if hit {
            return Ok(str_field(rule, "Next")?.to_owned());
        }
    }
    Ok(str_field(st, "Default")?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SoftKeyStore;
    use crate::publisher::DirPublisher;
    use iamjwt_core::config::Settings;
    use iamjwt_core::ports::{KeyStore, Publisher};
    use std::sync::Arc;

    fn rotation(dir: &std::path::Path) -> LocalRotation {
        let s = Settings::from_lookup(|k| match k {
            "IAMJWT_ISSUER" => Some("http://127.0.0.1:1".into()),
            "IAMJWT_DEFAULT_AUDIENCE" => Some("aud".into()),
            "IAMJWT_ALGORITHMS" => Some("ES256".into()),
            _ => None,
        })
        .unwrap();
        let store = Arc::new(SoftKeyStore::new(dir));
        let publisher = Arc::new(DirPublisher::new(layout::public_dir(dir), 60));
        LocalRotation::new(RotateHandler::new(&s, store, publisher), dir)
    }

    #[tokio::test]
    async fn workflow_runs_steps_in_order_and_refuses_early_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let r = rotation(dir.path());
        let reports = r.run(false, UnixTime(1000)).await.unwrap();
        let steps: Vec<_> = reports.iter().map(|r| r.step.unwrap()).collect();
        assert_eq!(steps, Step::ALL.to_vec());
        let before = SoftKeyStore::new(dir.path())
            .load(&[iamjwt_core::Algorithm::ES256])
            .await
            .unwrap();
        match r.run(false, UnixTime(1010)).await {
            Err(Error::Workflow { state, error, .. }) => {
                assert_eq!(state, "Promote");
                assert_eq!(error, "UnsafePromotion");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        let after = SoftKeyStore::new(dir.path())
            .load(&[iamjwt_core::Algorithm::ES256])
            .await
            .unwrap();
        assert_eq!(before, after, "a refused rotation changes nothing");
        let published = DirPublisher::new(layout::public_dir(dir.path()), 60)
            .read_jwks()
            .await
            .unwrap()
            .unwrap();
        assert_eq!(published.keys.len(), 2);
    }

    #[tokio::test]
    async fn a_held_lock_refuses_a_second_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let r = rotation(dir.path());
        let _held = r.lock().unwrap();
        match r.run(false, UnixTime(1000)).await {
            Err(Error::Workflow { error, .. }) => assert_eq!(error, "RotationInProgress"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            r.run_step(Step::Create, false, UnixTime(1)).await,
            Err(Error::Core(_))
        ));
    }

    #[test]
    fn result_paths_and_resolution() {
        let mut d = json!({"emergency": true});
        apply_result_path(
            &mut d,
            Some(&json!("$.results.retire")),
            json!({"actions": []}),
        )
        .unwrap();
        apply_result_path(&mut d, Some(&Value::Null), json!(1)).unwrap();
        assert_eq!(
            d,
            json!({"emergency": true, "results": {"retire": {"actions": []}}})
        );
        let p = resolve(&json!({"step": "retire", "emergency.$": "$.emergency"}), &d).unwrap();
        assert_eq!(p, json!({"step": "retire", "emergency": true}));
        assert!(resolve(&json!({"x.$": "$.missing"}), &d).is_err());
    }
}
