//! Table output (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), so `kubectl get` shows
//! the CRD's printer columns exactly as a real cluster does.

use serde_json::{Value, json};

use super::resources::ResourceType;

/// Evaluates the JSONPath subset printer columns use: `.a.b`, `[0]`, and
/// `[?(@.key=="value")]`. Returns the first result, as the API server's table convertor does.
pub fn jsonpath(object: &Value, path: &str) -> Option<Value> {
    let mut cur = vec![object.clone()];
    let mut rest = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = r.find(['.', '[']).unwrap_or(r.len());
            let key = &r[..end];
            cur = cur.iter().filter_map(|v| v.get(key).cloned()).collect();
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']')?;
            let inner = &r[..end];
            rest = &r[end + 1..];
            if let Some(filter) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')')) {
                let (key, want) = filter.split_once("==")?;
                let want = want.trim().trim_matches(|c| c == '"' || c == '\'');
                cur = cur
                    .iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .filter(|item| item.get(key.trim()).and_then(Value::as_str) == Some(want))
                    .cloned()
                    .collect();
            } else if inner == "*" {
                cur = cur
                    .iter()
                    .filter_map(Value::as_array)
                    .flatten()
                    .cloned()
                    .collect();
            } else {
                let i: usize = inner.parse().ok()?;
                cur = cur.iter().filter_map(|v| v.get(i).cloned()).collect();
            }
        } else {
            return None;
        }
    }
    cur.into_iter().next()
}

/// A duration as kubectl prints ages: `45s`, `12m`, `5h`, `3d`.
pub fn human_age(since: &str) -> String {
    let Ok(ts) = since.parse::<k8s_openapi::jiff::Timestamp>() else {
        return "<invalid>".into();
    };
    let secs = (k8s_openapi::jiff::Timestamp::now().as_second() - ts.as_second()).max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 8 * 3600 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

/// Core Events print as kube-apiserver prints them (`kubectl get events`): no name first, the
/// time last seen, and the object as `kind/name`.
fn is_core_event(rt: &ResourceType) -> bool {
    rt.group.is_empty() && rt.kind == "Event"
}

fn event_columns() -> Vec<Value> {
    vec![
        json!({"name": "Last Seen", "type": "string", "format": "", "description": "Time when last this event was observed", "priority": 0}),
        json!({"name": "Type", "type": "string", "format": "", "description": "Type of this event", "priority": 0}),
        json!({"name": "Reason", "type": "string", "format": "", "description": "Short, machine understandable string that gives the reason for this event being generated", "priority": 0}),
        json!({"name": "Object", "type": "string", "format": "", "description": "The object that this event is about", "priority": 0}),
        json!({"name": "Message", "type": "string", "format": "", "description": "A human-readable description of the status of this operation", "priority": 0}),
        json!({"name": "Count", "type": "string", "format": "", "description": "The number of times this event has occurred", "priority": 1}),
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 1}),
    ]
}

fn event_cells(e: &Value) -> Vec<Value> {
    let text = |p: &str| e.pointer(p).and_then(Value::as_str).unwrap_or("");
    let seen = [
        "/series/lastObservedTime",
        "/lastTimestamp",
        "/eventTime",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .map(|p| text(p))
    .find(|t| !t.is_empty())
    .map(human_age)
    .unwrap_or_else(|| "<unknown>".into());
    let count = e
        .pointer("/series/count")
        .or_else(|| e.pointer("/count"))
        .and_then(Value::as_i64)
        .unwrap_or(1);
    vec![
        json!(seen),
        json!(text("/type")),
        json!(text("/reason")),
        json!(format!(
            "{}/{}",
            text("/involvedObject/kind").to_lowercase(),
            text("/involvedObject/name")
        )),
        json!(text("/message")),
        json!(count.to_string()),
        json!(text("/metadata/name")),
    ]
}

fn columns(rt: &ResourceType) -> Vec<Value> {
    if is_core_event(rt) {
        return event_columns();
    }
    let mut cols = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    if rt.printer_columns.is_empty() {
        cols.push(json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp", "description": "", "priority": 0}));
    } else {
        for c in &rt.printer_columns {
            let mut c = c.clone();
            c["priority"] = json!(c["priority"].as_i64().unwrap_or(0));
            c["description"] = json!(c["description"].as_str().unwrap_or(""));
            cols.push(c);
        }
    }
    cols
}

fn cell(column: &Value, object: &Value) -> Value {
    let Some(path) = column["jsonPath"].as_str() else {
        return object
            .pointer("/metadata/name")
            .cloned()
            .unwrap_or(Value::Null);
    };
    let Some(v) = jsonpath(object, path) else {
        return Value::Null;
    };
    match column["type"].as_str() {
        Some("date") => v
            .as_str()
            .map(|s| json!(human_age(s)))
            .unwrap_or(Value::Null),
        Some("string") => match v {
            Value::String(_) => v,
            other => json!(other.to_string()),
        },
        _ => v,
    }
}

fn row(rt: &ResourceType, object: &Value, include_object: &str) -> Value {
    let cells: Vec<Value> = if is_core_event(rt) {
        event_cells(object)
    } else {
        columns(rt).iter().map(|c| cell(c, object)).collect()
    };
    let obj = match include_object {
        "None" => Value::Null,
        "Object" => object.clone(),
        _ => {
            json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": object["metadata"].clone()})
        }
    };
    json!({"cells": cells, "object": obj})
}

/// A `meta.k8s.io/v1` Table of `objects`; `with_columns` false leaves the column definitions out,
/// as the server does for watch events after the first.
pub fn table(
    rt: &ResourceType,
    objects: &[Value],
    resource_version: u64,
    with_columns: bool,
    include_object: &str,
    continue_token: Option<&str>,
) -> Value {
    let mut meta = json!({"resourceVersion": resource_version.to_string()});
    if let Some(c) = continue_token {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": if with_columns { json!(columns(rt)) } else { json!([]) },
        "rows": objects.iter().map(|o| row(rt, o, include_object)).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_subset() {
        let o = json!({"spec": {"name": "numpy"}, "status": {"conditions": [
            {"type": "Reconciling", "status": "False"}, {"type": "Ready", "status": "True"}]}});
        assert_eq!(jsonpath(&o, ".spec.name"), Some(json!("numpy")));
        assert_eq!(
            jsonpath(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            Some(json!("True"))
        );
        assert_eq!(
            jsonpath(&o, ".status.conditions[0].type"),
            Some(json!("Reconciling"))
        );
        assert_eq!(jsonpath(&o, ".status.phase"), None);
    }
}
