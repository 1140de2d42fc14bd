//! CloudWatch Embedded Metric Format: a JSON log line CloudWatch turns into metrics, no API call needed.
//!
//! The token Lambda writes ONE document per request ([`token_request`]): `TokensIssued` (Count, dimension
//! `Function`) and `KmsSignLatency` (Milliseconds, dimension `Algorithm`) side by side, each metric in its own
//! directive so both keep the dimension sets the dashboard reads. The signer reports its `Sign` latency into the
//! request's scope ([`request_scope`], [`sign_latency`]); outside a scope it writes a line of its own.

use iamjwt_core::Algorithm;
use serde::Serialize;
use std::cell::Cell;
use std::future::Future;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

pub const NAMESPACE: &str = "iamjwt";

/// One metric value with its one dimension.
#[derive(Debug, Clone, Copy)]
pub struct Metric<'a> {
    pub name: &'a str,
    pub unit: &'a str,
    pub value: f64,
    pub dimension: (&'a str, &'a str),
}

#[derive(Serialize)]
struct MetricDef<'a> {
    #[serde(rename = "Name")]
    name: &'a str,
    #[serde(rename = "Unit")]
    unit: &'a str,
}

#[derive(Serialize)]
struct Directive<'a> {
    #[serde(rename = "Namespace")]
    namespace: &'a str,
    #[serde(rename = "Dimensions")]
    dimensions: Vec<Vec<&'a str>>,
    #[serde(rename = "Metrics")]
    metrics: Vec<MetricDef<'a>>,
}

#[derive(Serialize)]
struct Meta<'a> {
    #[serde(rename = "Timestamp")]
    timestamp: u128,
    #[serde(rename = "CloudWatchMetrics")]
    cloudwatch_metrics: Vec<Directive<'a>>,
}

/// One EMF document carrying `metrics`, each in its own directive (its own dimension set). Metric and dimension
/// names share the document's top level: a metric appears once, a dimension shared by two metrics must have one
/// value, and a clash is an error, not a silent loss.
pub fn document(metrics: &[Metric<'_>]) -> Result<String, String> {
    let mut obj = serde_json::Map::new();
    for (i, m) in metrics.iter().enumerate() {
        if metrics[..i].iter().any(|o| o.name == m.name) {
            return Err(format!("EMF metric {} given twice", m.name));
        }
        for (key, value) in [
            (m.dimension.0, serde_json::Value::from(m.dimension.1)),
            (m.name, serde_json::Value::from(m.value)),
        ] {
            if let Some(old) = obj.insert(key.to_owned(), value.clone())
                && old != value
            {
                return Err(format!("EMF member {key} given twice ({old} and {value})"));
            }
        }
    }
    let meta = Meta {
        timestamp: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
        cloudwatch_metrics: metrics
            .iter()
            .map(|m| Directive {
                namespace: NAMESPACE,
                dimensions: vec![vec![m.dimension.0]],
                metrics: vec![MetricDef {
                    name: m.name,
                    unit: m.unit,
                }],
            })
            .collect(),
    };
    obj.insert(
        "_aws".into(),
        serde_json::to_value(meta).map_err(|e| e.to_string())?,
    );
    Ok(serde_json::Value::Object(obj).to_string())
}

/// One EMF record: a metric with one dimension.
pub fn line(metric: &str, unit: &str, value: f64, dimension: (&str, &str)) -> String {
    // One metric cannot clash with itself unless its dimension is named like it; then say so in the line.
    document(&[Metric {
        name: metric,
        unit,
        value,
        dimension,
    }])
    .unwrap_or_else(|e| serde_json::json!({ "emf_error": e }).to_string())
}

/// Writes a line to stdout (Lambda ships stdout to CloudWatch Logs).
pub fn write(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
}

/// Writes an EMF record to stdout.
pub fn emit(metric: &str, unit: &str, value: f64, dimension: (&str, &str)) {
    write(&line(metric, unit, value, dimension));
}

/// The `Sign` call of one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SignSample {
    pub alg: Algorithm,
    pub ms: f64,
}

tokio::task_local! {
    static REQUEST: Cell<Option<SignSample>>;
}

/// Runs one request's future and returns, with its output, the `Sign` latency the signer recorded while it ran.
pub async fn request_scope<F: Future>(fut: F) -> (F::Output, Option<SignSample>) {
    REQUEST
        .scope(Cell::new(None), async move {
            let out = fut.await;
            (out, REQUEST.with(Cell::get))
        })
        .await
}

/// Called by the signer after each `Sign`: recorded into the request's document inside [`request_scope`], else
/// written as a `KmsSignLatency` line of its own.
pub fn sign_latency(alg: Algorithm, ms: f64) {
    let sample = SignSample { alg, ms };
    if REQUEST.try_with(|c| c.set(Some(sample))).is_err() {
        emit(
            "KmsSignLatency",
            "Milliseconds",
            ms,
            ("Algorithm", alg.as_str()),
        );
    }
}

/// The one EMF document of a token request of `function`: `TokensIssued` = 1 when a token was issued and
/// `KmsSignLatency` when KMS was asked to sign (a failed `Sign` has a latency too); `None` when neither happened.
pub fn token_request(function: &str, issued: bool, sign: Option<SignSample>) -> Option<String> {
    let mut metrics = Vec::with_capacity(2);
    if issued {
        metrics.push(Metric {
            name: "TokensIssued",
            unit: "Count",
            value: 1.0,
            dimension: ("Function", function),
        });
    }
    if let Some(s) = sign {
        metrics.push(Metric {
            name: "KmsSignLatency",
            unit: "Milliseconds",
            value: s.ms,
            dimension: ("Algorithm", s.alg.as_str()),
        });
    }
    if metrics.is_empty() {
        return None;
    }
    Some(document(&metrics).unwrap_or_else(|e| serde_json::json!({ "emf_error": e }).to_string()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn emf_shape() {
        let v = parse(&line("TokensIssued", "Count", 1.0, ("Algorithm", "ES256")));
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "iamjwt");
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0][0],
            "Algorithm"
        );
        assert_eq!(
            v["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"],
            "TokensIssued"
        );
        assert_eq!(v["Algorithm"], "ES256");
        assert_eq!(v["TokensIssued"], 1.0);
    }

    #[test]
    fn one_document_per_token_keeps_both_metrics_and_their_dimensions() {
        let sign = SignSample {
            alg: Algorithm::RS256,
            ms: 12.5,
        };
        let v = parse(&token_request("token", true, Some(sign)).unwrap());
        let directives = v["_aws"]["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 2);
        for d in directives {
            assert_eq!(d["Namespace"], "iamjwt");
            assert_eq!(d["Dimensions"].as_array().unwrap().len(), 1);
            assert_eq!(d["Metrics"].as_array().unwrap().len(), 1);
        }
        assert_eq!(
            directives[0]["Dimensions"][0],
            serde_json::json!(["Function"])
        );
        assert_eq!(
            directives[0]["Metrics"][0],
            serde_json::json!({"Name": "TokensIssued", "Unit": "Count"})
        );
        assert_eq!(
            directives[1]["Dimensions"][0],
            serde_json::json!(["Algorithm"])
        );
        assert_eq!(
            directives[1]["Metrics"][0],
            serde_json::json!({"Name": "KmsSignLatency", "Unit": "Milliseconds"})
        );
        assert_eq!(v["Function"], "token");
        assert_eq!(v["TokensIssued"], 1.0);
        assert_eq!(v["Algorithm"], "RS256");
        assert_eq!(v["KmsSignLatency"], 12.5);
        assert!(v["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);
        assert!(
            !token_request("token", true, Some(sign))
                .unwrap()
                .contains('\n')
        );

        // A failed Sign still reports its latency; a request that never reached KMS writes nothing.
        let failed = parse(&token_request("token", false, Some(sign)).unwrap());
        assert_eq!(
            failed["_aws"]["CloudWatchMetrics"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert!(failed.get("TokensIssued").is_none());
        assert_eq!(token_request("token", false, None), None);
    }

    #[test]
    fn clashing_names_are_refused() {
        let m = |name, dim| Metric {
            name,
            unit: "Count",
            value: 1.0,
            dimension: ("D", dim),
        };
        assert!(document(&[m("X", "a"), m("Y", "a")]).is_ok());
        assert!(
            document(&[m("X", "a"), m("Y", "b")])
                .unwrap_err()
                .contains("D")
        );
        assert!(
            document(&[m("X", "a"), m("X", "a")])
                .unwrap_err()
                .contains("X")
        );
    }

    #[tokio::test]
    async fn the_signers_latency_lands_in_the_request_scope() {
        let ((), sample) = request_scope(async {
            tokio::task::yield_now().await;
            sign_latency(Algorithm::ES256, 3.0);
        })
        .await;
        assert_eq!(
            sample,
            Some(SignSample {
                alg: Algorithm::ES256,
                ms: 3.0
            })
        );
        let ((), none) = request_scope(async {}).await;
        assert_eq!(none, None);
    }
}
