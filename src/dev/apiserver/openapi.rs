//! OpenAPI v3 discovery (`/openapi/v3`), as kubectl reads it to learn that the server validates
//! fields itself (`fieldValidation=Strict`) and to find each kind's schema.

use serde_json::{Value, json};

use super::store::Store;

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// `/openapi/v3`: one entry per group/version.
pub fn index(store: &Store) -> Value {
    let mut paths = serde_json::Map::new();
    for t in store.types() {
        let p = gv_path(&t.group, &t.version);
        let url = format!("/openapi/v3/{p}?hash={}", store.resource_version());
        paths.insert(p, json!({"serverRelativeURL": url}));
    }
    json!({"paths": paths})
}

/// `/openapi/v3/apis/G/V`: the kinds' schemas and, for each resource path, the operations with the
/// `fieldValidation` parameter that tells kubectl to leave validation to the server.
pub fn document(store: &Store, group: &str, version: &str) -> Value {
    let mut schemas = serde_json::Map::new();
    let mut paths = serde_json::Map::new();
    for t in store
        .types()
        .into_iter()
        .filter(|t| t.group == group && t.version == version)
    {
        let gvk = json!([{"group": t.group, "version": t.version, "kind": t.kind}]);
        let reversed: Vec<&str> = t.group.split('.').rev().collect();
        let schema_name = format!("{}.{}.{}", reversed.join("."), t.version, t.kind);
        let mut schema = t.schema.clone().unwrap_or_else(
            || json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
        );
        schema["x-kubernetes-group-version-kind"] = gvk.clone();
        schemas.insert(schema_name.clone(), schema);
        let params = json!([
            {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "dryRun", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
            {"name": "fieldManager", "in": "query", "schema": {"type": "string", "uniqueItems": true}},
        ]);
        let op = |action: &str| {
            json!({"x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk[0].clone(), "parameters": params.clone(),
                   "responses": {"200": {"content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema_name}")}}}}}})
        };
        let base = if t.namespaced {
            format!(
                "/{}/namespaces/{{namespace}}/{}",
                gv_path(&t.group, &t.version),
                t.plural
            )
        } else {
            format!("/{}/{}", gv_path(&t.group, &t.version), t.plural)
        };
        paths.insert(base.clone(), json!({"post": op("post")}));
        paths.insert(
            format!("{base}/{{name}}"),
            json!({"put": op("put"), "patch": op("patch")}),
        );
    }
    json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0-airlock-dev"}, "paths": paths, "components": {"schemas": schemas}})
}
