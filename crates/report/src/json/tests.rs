//! The report's wire format against the hand-written schema.

// A failed expectation in a test is the test failing; that is what it is for.
#![allow(clippy::expect_used)]

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};
use wsdoctor_diagnosis::{CauseId, Verdict};

use super::{Report, SCHEMA_ID};
use crate::testkit::{healthy_echo_at, nginx_400_with, rst_after_idle};

fn schema() -> Value {
    let text = include_str!("../../../../schema/report.schema.json");
    serde_json::from_str(text).expect("schema is JSON")
}

fn validator() -> jsonschema::Validator {
    jsonschema::validator_for(&schema()).expect("schema compiles")
}

fn started() -> SystemTime {
    // 2026-11-26T03:16:16Z
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_795_662_976)
}

fn sample_reports() -> Vec<Report> {
    let (healthy, healthy_findings) = healthy_echo_at("wss://echo.example.com/ws", true);
    let (_, nginx_findings) = nginx_400_with(&[]);
    let (_, rst_findings) = rst_after_idle();
    vec![
        Report::new(
            "probe",
            vec![healthy.connection.target.clone()],
            started(),
            Duration::from_micros(30_131_499),
            healthy_findings,
            serde_json::to_value(&healthy).expect("evidence serializes"),
        ),
        Report::new(
            "probe",
            vec![
                "ws://localhost:8080/ws".to_owned(),
                "wss://app.example.com/ws?token=REDACTED".to_owned(),
            ],
            started(),
            Duration::from_millis(62),
            nginx_findings,
            json!({}),
        ),
        Report::new(
            "probe",
            vec!["ws://10.0.4.7:8080/feed".to_owned()],
            started(),
            Duration::from_secs(60),
            rst_findings,
            json!({}),
        ),
        Report::new(
            "lint",
            Vec::new(),
            started(),
            Duration::ZERO,
            Vec::new(),
            json!({}),
        ),
    ]
}

#[test]
fn reports_validate_against_the_schema() {
    let validator = validator();
    for report in sample_reports() {
        let instance = serde_json::to_value(&report).expect("report serializes");
        let errors: Vec<String> = validator
            .iter_errors(&instance)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{instance:#}");
    }
}

#[test]
fn unknown_cause_id_fails_validation() {
    let mut instance = serde_json::to_value(&sample_reports()[0]).expect("report serializes");
    instance["findings"][0]["id"] = json!("gremlins");
    assert!(!validator().is_valid(&instance));
}

#[test]
fn missing_fix_and_bad_confidence_fail_validation() {
    let base = serde_json::to_value(&sample_reports()[2]).expect("report serializes");
    let mut no_fix = base.clone();
    no_fix["findings"][0]["fix"] = json!([]);
    let mut overconfident = base.clone();
    overconfident["findings"][0]["confidence"] = json!(1.5);
    let mut no_verdict = base;
    no_verdict.as_object_mut().map(|o| o.remove("verdict"));
    for bad in [no_fix, overconfident, no_verdict] {
        assert!(!validator().is_valid(&bad), "{bad:#}");
    }
}

#[test]
fn schema_ids_are_exactly_the_cause_ids() {
    let schema = schema();
    let ids = schema["$defs"]["cause_id"]["enum"]
        .as_array()
        .expect("enum is an array");
    // Every schema id is a CauseId that spells itself the same way...
    for id in ids {
        let cause: CauseId = serde_json::from_value(id.clone()).expect("schema id is a CauseId");
        assert_eq!(Some(cause.as_str()), id.as_str());
    }
    // ...and the contract's table has 29 of them (with
    // app-heartbeat-timeout and app-init-timeout), plus the extension
    // proxy-refused (CauseId cannot be listed).
    assert_eq!(ids.len(), 30);
}

#[test]
fn constructor_fills_the_contract_fields() {
    let reports = sample_reports();
    let single = &reports[0];
    assert_eq!(single.schema, SCHEMA_ID);
    assert_eq!(single.target, "wss://echo.example.com/ws");
    assert!(single.targets.is_empty());
    assert_eq!(single.started_at, "2026-11-26T03:16:16Z");
    assert_eq!(single.duration_s, 30.131);
    assert_eq!(single.verdict, Verdict::Healthy);

    let several = serde_json::to_value(&reports[1]).expect("report serializes");
    assert_eq!(several["target"], "ws://localhost:8080/ws");
    assert_eq!(several["targets"].as_array().map(Vec::len), Some(2));
    assert_eq!(several["verdict"], "problems");
    assert!(serde_json::to_value(single)
        .expect("serializes")
        .get("targets")
        .is_none());

    assert_eq!(reports[3].target, "");
    assert_eq!(reports[3].verdict, Verdict::Inconclusive);
}

#[test]
fn round_trips_and_refuses_other_schemas() {
    for report in sample_reports() {
        let text = serde_json::to_string(&report).expect("serializes");
        let back: Report = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(back, report);
    }
    let mut other = serde_json::to_value(&sample_reports()[0]).expect("serializes");
    other["schema"] = json!("wsdoctor.report/v2");
    let err = serde_json::from_value::<Report>(other).expect_err("v2 is refused");
    assert!(
        err.to_string().contains("unsupported report schema"),
        "{err}"
    );
}
