//! CloudWatch Embedded Metric Format: a JSON log line CloudWatch turns into metrics, no API call needed.

use serde::Serialize;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

pub const NAMESPACE: &str = "iamjwt";

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

/// One EMF record: a metric with one dimension.
pub fn line(metric: &str, unit: &str, value: f64, dimension: (&str, &str)) -> String {
    let meta = Meta {
        timestamp: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default(),
        cloudwatch_metrics: vec![Directive {
            namespace: NAMESPACE,
            dimensions: vec![vec![dimension.0]],
            metrics: vec![MetricDef { name: metric, unit }],
        }],
    };
    let mut obj = serde_json::Map::new();
    obj.insert(
        "_aws".into(),
        serde_json::to_value(meta).unwrap_or_default(),
    );
    obj.insert(dimension.0.into(), dimension.1.into());
    obj.insert(metric.into(), value.into());
    serde_json::Value::Object(obj).to_string()
}

/// Writes an EMF record to stdout (Lambda ships stdout to CloudWatch Logs).
pub fn emit(metric: &str, unit: &str, value: f64, dimension: (&str, &str)) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line(metric, unit, value, dimension));
}

#[cfg(test)]
mod tests {
    #[test]
    fn emf_shape() {
        let v: serde_json::Value = serde_json::from_str(&super::line(
            "TokensIssued",
            "Count",
            1.0,
            ("Algorithm", "ES256"),
        ))
        .unwrap();
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
}
