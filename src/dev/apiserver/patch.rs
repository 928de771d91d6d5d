//! The patch formats of the Kubernetes API: JSON merge patch (RFC 7386), JSON patch (RFC 6902), and
//! strategic merge patch, which for the types served here is taken as a merge patch (custom
//! resources do not support strategic merge at all; the core types served have no merge keys that
//! kubectl relies on).

use json_patch::PatchOperation;
use serde_json::Value;

use super::error::ApiError;

/// RFC 7386: objects merge recursively, `null` deletes, anything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    json_patch::merge(target, patch);
}

/// RFC 6902: add, remove, replace, move, copy, test, applied in order. A failure can leave the
/// document half-patched: the caller patches a copy and drops it.
///
/// One difference from the RFC, as kube-apiserver's json-patch has it: a `test` that a member is
/// `null` passes when the member is missing (kube-rs's finalizer helper sends one before adding
/// the first finalizer). So the operations are applied one at a time, such a test skipped.
pub fn json_patch(doc: &mut Value, patch: &Value) -> Result<(), ApiError> {
    if !patch.is_array() {
        return Err(ApiError::bad_request(
            "a JSON patch must be an array of operations",
        ));
    }
    let ops: json_patch::Patch = serde_json::from_value(patch.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
    for op in ops.0 {
        if let PatchOperation::Test(t) = &op
            && t.value.is_null()
            && doc.pointer(t.path.as_str()).is_none()
        {
            continue;
        }
        json_patch::patch(doc, std::slice::from_ref(&op))
            .map_err(|e| ApiError::invalid(e.to_string()))?;
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
