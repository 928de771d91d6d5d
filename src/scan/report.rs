//! How `airlock scan` reports: a table for people, JSON for scripts, SARIF 2.1.0 for code-scanning
//! dashboards (GitHub accepts it as is).

use serde_json::{Value, json};

use super::command::ScanError;
use super::package::PackageReport;
use crate::api::package_request::{Severity, Verdict};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
    Sarif,
}

pub fn render(output: Output, reports: &[(String, PackageReport)], errors: &[ScanError]) -> String {
    match output {
        Output::Table => table(reports),
        Output::Json => {
            serde_json::to_string_pretty(&json_doc(reports, errors)).unwrap_or_default() + "\n"
        }
        Output::Sarif => serde_json::to_string_pretty(&sarif(reports)).unwrap_or_default() + "\n",
    }
}

fn severity_word(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

fn verdict_word(r: &PackageReport) -> &'static str {
    match r.ruling.verdict {
        Verdict::Approved => "approved",
        Verdict::Denied => "denied",
        Verdict::AwaitingApproval => "awaiting-approval",
    }
}

/// The exit code of `airlock scan` for a verdict: 0 approved, 1 denied, 2 needs approval.
pub fn exit_code(verdict: Verdict) -> i32 {
    match verdict {
        Verdict::Approved => 0,
        Verdict::Denied => 1,
        Verdict::AwaitingApproval => 2,
    }
}

fn table(reports: &[(String, PackageReport)]) -> String {
    let mut out = String::new();
    for (spec, r) in reports {
        let bytes: u64 = r.files.iter().map(|f| f.bytes).sum();
        out.push_str(&format!(
            "{spec}  {}  ({} file(s), {:.1} MB scanned in {} ms, licence {})\n  {}\n",
            verdict_word(r).to_uppercase(),
            r.files.len(),
            bytes as f64 / 1e6,
            r.scan_millis,
            r.license.as_deref().unwrap_or("unknown"),
            r.ruling.reason
        ));
        for f in &r.findings {
            let place = match (&f.file, f.line) {
                (Some(file), Some(line)) => format!("  {file}:{line}"),
                (Some(file), None) => format!("  {file}"),
                _ => String::new(),
            };
            out.push_str(&format!(
                "  {:<8} {:<34}{place}\n           {}\n",
                severity_word(f.severity),
                f.rule,
                f.evidence.as_deref().unwrap_or("")
            ));
        }
        for x in &r.ruling.excepted {
            out.push_str(&format!(
                "  excepted {:<34} {}\n",
                x.finding.rule, x.exception
            ));
        }
    }
    out
}

fn json_doc(reports: &[(String, PackageReport)], errors: &[ScanError]) -> Value {
    json!({
        "packages": reports.iter().map(|(spec, r)| json!({
            "spec": spec,
            "ecosystem": r.ecosystem,
            "name": r.name,
            "version": r.version,
            "license": r.license,
            "decision": verdict_word(r),
            "reason": r.ruling.reason,
            "heuristicScore": r.ruling.heuristic_score,
            "findings": r.findings.iter().map(|f| json!({
                "rule": f.rule, "severity": severity_word(f.severity), "file": f.file,
                "line": f.line, "evidence": f.evidence,
            })).collect::<Vec<_>>(),
            "deciding": r.ruling.deciding.iter().map(|f| f.rule.clone()).collect::<Vec<_>>(),
            "excepted": r.ruling.excepted,
            "files": r.files,
            "scanMillis": r.scan_millis,
        })).collect::<Vec<_>>(),
        "errors": errors.iter().map(|e| json!({"spec": e.spec, "error": e.error})).collect::<Vec<_>>(),
    })
}

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

/// SARIF 2.1.0: one run, a rule per distinct finding rule, a result per finding, located at the
/// file inside the package (or the package itself).
fn sarif(reports: &[(String, PackageReport)]) -> Value {
    let mut rules: Vec<Value> = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    let mut results = Vec::new();
    for (_, r) in reports {
        let package_uri = format!("{}/{}/{}", r.ecosystem.as_str(), r.name, r.version);
        for f in &r.findings {
            if seen.insert(f.rule.clone()) {
                rules.push(json!({
                    "id": f.rule,
                    "shortDescription": {"text": f.rule},
                    "defaultConfiguration": {"level": level(f.severity)},
                    "properties": {"security-severity": match f.severity {
                        Severity::Critical => "9.5", Severity::High => "8.0", Severity::Medium => "5.5",
                        Severity::Low => "2.0", Severity::Info => "0.0" }},
                }));
            }
            let uri = match &f.file {
                Some(file) => format!("{package_uri}/{}", file.replace("!/", "/")),
                None => package_uri.clone(),
            };
            let mut location = json!({"physicalLocation": {"artifactLocation": {"uri": uri}}});
            if let Some(line) = f.line {
                location["physicalLocation"]["region"] = json!({"startLine": line});
            }
            results.push(json!({
                "ruleId": f.rule,
                "level": level(f.severity),
                "message": {"text": format!("{} {}: {}", r.name, r.version, f.evidence.as_deref().unwrap_or(&f.rule))},
                "locations": [location],
                "properties": {"decision": verdict_word(r)},
            }));
        }
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "airlock",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rules,
            }},
            "results": results,
        }],
    })
}
