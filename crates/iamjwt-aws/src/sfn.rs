//! Starting and following a rotation execution of the Step Functions state machine.

use crate::error::{Error, classify};
use aws_sdk_sfn::Client;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use serde::Serialize;
use std::io::Write;
use std::time::Duration;

#[derive(Serialize)]
struct Input {
    emergency: bool,
}

/// How an execution ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub execution_arn: String,
    pub states: Vec<String>,
}

pub struct RotationExecutions {
    client: Client,
    state_machine_arn: String,
    poll: Duration,
}

impl RotationExecutions {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
            poll: Duration::from_secs(2),
        }
    }

    pub fn with_poll_interval(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Refuses if an execution is already running, starts one, and waits for it, writing progress to `progress`.
    pub async fn run(
        &self,
        emergency: bool,
        progress: &mut (dyn Write + Send),
    ) -> Result<Outcome, Error> {
        let running = self
            .client
            .list_executions()
            .state_machine_arn(&self.state_machine_arn)
            .status_filter(ExecutionStatus::Running)
            .send()
            .await
            .map_err(|e| classify("ListExecutions", e))?;
        if let Some(e) = running.executions().first() {
            return Err(Error::Refused(format!(
                "a rotation is already running: {}",
                e.execution_arn()
            )));
        }
        let input = serde_json::to_string(&Input { emergency }).unwrap_or_else(|_| "{}".into());
        let started = self
            .client
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .input(input)
            .send()
            .await
            .map_err(|e| classify("StartExecution", e))?;
        let arn = started.execution_arn().to_owned();
        let _ = writeln!(
            progress,
            "started {arn}{}",
            if emergency { " (emergency)" } else { "" }
        );
        let mut seen = 0usize;
        let mut states = Vec::new();
        loop {
            // Status first, history second: once the status is final, the history read after it is complete
            // (the other order misses the states entered between the two calls).
            let d = self
                .client
                .describe_execution()
                .execution_arn(&arn)
                .send()
                .await
                .map_err(|e| classify("DescribeExecution", e))?;
            let history = self.history(&arn).await?;
            for ev in history.iter().skip(seen) {
                if let Some(entered) = ev.state_entered_event_details() {
                    let _ = writeln!(progress, "  → {}", entered.name());
                    states.push(entered.name().to_owned());
                }
            }
            seen = history.len();
            match d.status() {
                ExecutionStatus::Running | ExecutionStatus::PendingRedrive => {
                    tokio::time::sleep(self.poll).await;
                }
                ExecutionStatus::Succeeded => {
                    let _ = writeln!(progress, "rotation succeeded");
                    return Ok(Outcome {
                        execution_arn: arn,
                        states,
                    });
                }
                other => {
                    let (state, error, cause) = failure(&history);
                    return Err(Error::Execution {
                        status: other.as_str().to_owned(),
                        state,
                        error: d
                            .error()
                            .map(str::to_owned)
                            .filter(|e| e != "RotationFailed")
                            .unwrap_or(error),
                        cause: if cause.is_empty() {
                            d.cause().unwrap_or_default().to_owned()
                        } else {
                            cause
                        },
                    });
                }
            }
        }
    }

    async fn history(&self, arn: &str) -> Result<Vec<HistoryEvent>, Error> {
        let mut events = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .get_execution_history()
                .execution_arn(arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| classify("GetExecutionHistory", e))?;
            events.extend(out.events().iter().cloned());
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(events);
            }
        }
    }
}

/// The state that failed first, with its error and cause (the alarm and Fail states that follow are not it).
fn failure(history: &[HistoryEvent]) -> (String, String, String) {
    let mut current = String::from("?");
    for ev in history {
        if let Some(d) = ev.state_entered_event_details() {
            current = d.name().to_owned();
        }
        let failed = match ev.r#type() {
            HistoryEventType::TaskFailed => ev
                .task_failed_event_details()
                .map(|d| (d.error(), d.cause())),
            HistoryEventType::LambdaFunctionFailed => ev
                .lambda_function_failed_event_details()
                .map(|d| (d.error(), d.cause())),
            HistoryEventType::ExecutionFailed => ev
                .execution_failed_event_details()
                .map(|d| (d.error(), d.cause())),
            _ => None,
        };
        if let Some((error, cause)) = failed {
            return (
                current,
                error.unwrap_or("?").to_owned(),
                cause.unwrap_or_default().to_owned(),
            );
        }
    }
    (current, "?".into(), String::new())
}
