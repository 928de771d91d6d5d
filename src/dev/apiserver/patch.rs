//! The patch formats of the Kubernetes API: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and
//! strategic merge patch, which for the types served here is taken as a merge patch (custom
//! resources do not support strategic merge at all; the core types served have no merge keys that
//! kubectl relies on).

use serde_json::Value;

use super::error::ApiError;

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// Splits a JSON pointer into its parent pointer and last token.
fn parent_and_key(path: &str) -> Result<(&str, String), ApiError> {
    let idx = path
        .rfind('/')
        .ok_or_else(|| ApiError::bad_request(format!("invalid JSON pointer {path:?}")))?;
    Ok((&path[..idx], unescape(&path[idx + 1..])))
}

fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), ApiError> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, key) = parent_and_key(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(key, value);
            Ok(())
        }
        Some(Value::Array(a)) => {
            if key == "-" {
                a.push(value);
                return Ok(());
            }
            let i: usize = key
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid array index {key:?}")))?;
            if i > a.len() {
                return Err(ApiError::invalid(format!(
                    "add operation: index {i} out of bounds"
                )));
            }
            a.insert(i, value);
            Ok(())
        }
        _ => Err(ApiError::invalid(format!(
            "add operation does not apply: doc is missing path: {path:?}"
        ))),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, ApiError> {
    let (parent, key) = parent_and_key(path)?;
    let missing = || {
        ApiError::invalid(format!(
            "remove operation does not apply: doc is missing path: {path:?}"
        ))
    };
    match doc.pointer_mut(parent) {
        Some(Value::Object(m)) => m.remove(&key).ok_or_else(missing),
        Some(Value::Array(a)) => {
            let i: usize = key.parse().map_err(|_| missing())?;
            if i < a.len() {
                Ok(a.remove(i))
            } else {
                Err(missing())
            }
        }
        _ => Err(missing()),
    }
}

/// RFC 6902: add, remove, replace, move, copy, test, applied in order; any failure leaves the
/// document untouched (the caller patches a copy).
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| ApiError::bad_request("a JSON patch must be an array of operations"))?;
    for op in ops {
        let kind = op.get("op").and_then(Value::as_str).unwrap_or("");
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or_else(|| ApiError::bad_request("JSON patch operation without a path"))?;
        let value = || {
            op.get("value")
                .cloned()
                .ok_or_else(|| ApiError::bad_request(format!("{kind} operation without a value")))
        };
        let from = || {
            op.get("from")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::bad_request(format!("{kind} operation without from")))
        };
        match kind {
            "add" => add(doc, path, value()?)?,
            "remove" => {
                remove(doc, path)?;
            }
            "replace" => {
                remove(doc, path)?;
                add(doc, path, value()?)?;
            }
            "move" => {
                let v = remove(doc, from()?)?;
                add(doc, path, v)?;
            }
            "copy" => {
                let v = doc
                    .pointer(from()?)
                    .cloned()
                    .ok_or_else(|| ApiError::invalid("copy operation: from path missing".into()))?;
                add(doc, path, v)?;
            }
            "test" => {
                // As the API server's json-patch does: a missing member tests equal to null
                // (what kube-rs's finalizer helper sends before adding the first finalizer).
                let want = value()?;
                let found = doc.pointer(path).unwrap_or(&Value::Null);
                if *found != want {
                    return Err(ApiError::invalid(format!("testing value {path} failed")));
                }
            }
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown JSON patch operation {other:?}"
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut doc = json!({"a": "b", "c": {"d": "e", "f": "g"}});
        merge_patch(&mut doc, &json!({"a": "z", "c": {"f": null}}));
        assert_eq!(doc, json!({"a": "z", "c": {"d": "e"}}));
    }

    #[test]
    fn json_patch_follows_rfc_6902() {
        let mut doc = json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"x": 1}});
        json_patch(
            &mut doc,
            &json!([
                {"op": "test", "path": "/spec/x", "value": 1},
                {"op": "test", "path": "/metadata/absent", "value": null},
                {"op": "remove", "path": "/metadata/finalizers/0"},
                {"op": "replace", "path": "/spec/x", "value": 2},
                {"op": "add", "path": "/spec/y", "value": [1]},
                {"op": "add", "path": "/spec/y/-", "value": 2}
            ]),
        )
        .expect("applies");
        assert_eq!(
            doc,
            json!({"metadata": {"finalizers": ["b"]}, "spec": {"x": 2, "y": [1, 2]}})
        );
        assert!(
            json_patch(
                &mut doc,
                &json!([{"op": "test", "path": "/spec/x", "value": 9}])
            )
            .is_err()
        );
        assert!(json_patch(&mut doc, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }
}
