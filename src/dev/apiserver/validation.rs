//! Admission of custom resources against their CRD, as the real API server does it: OpenAPI v3
//! structural-schema validation, pruning of unknown fields, and the CEL rules
//! (`x-kubernetes-validations`, including transition rules that read `oldSelf`).
//!
//! Messages are worded as kube-apiserver words them (`spec.version: Invalid value: ">=1.0":
//! spec.version in body should match '…'`), so what a user sees from `airlock dev` is what a real
//! cluster would tell them.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock};

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use regex::Regex;
use serde_json::Value;

/// One field that failed validation.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// The field's path (`spec.subnetIds[0]`).
    pub field: String,
    pub kind: FieldErrorKind,
}

/// The `field.ErrorType`s of the Kubernetes apimachinery that schema validation produces.
#[derive(Clone, Debug, PartialEq)]
pub enum FieldErrorKind {
    Required,
    /// A value outside an enum; carries the rendered value and the allowed ones.
    NotSupported {
        value: String,
        supported: Vec<String>,
    },
    /// A malformed value; carries the rendered value and the detail.
    Invalid {
        value: String,
        detail: String,
    },
    /// A value the rules forbid in this context (CEL rules with reason `FieldValueForbidden`).
    Forbidden {
        detail: String,
    },
    TooLong {
        max: u64,
    },
    TooMany {
        actual: usize,
        max: u64,
    },
    Duplicate {
        value: String,
    },
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = &self.field;
        match &self.kind {
            FieldErrorKind::Required => write!(f, "{field}: Required value"),
            FieldErrorKind::NotSupported { value, supported } => {
                let list: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
                write!(
                    f,
                    "{field}: Unsupported value: {value}: supported values: {}",
                    list.join(", ")
                )
            }
            FieldErrorKind::Invalid { value, detail } if value.is_empty() => {
                write!(f, "{field}: Invalid value: {detail}")
            }
            FieldErrorKind::Invalid { value, detail } => {
                write!(f, "{field}: Invalid value: {value}: {detail}")
            }
            FieldErrorKind::Forbidden { detail } => write!(f, "{field}: Forbidden: {detail}"),
            FieldErrorKind::TooLong { max } => {
                write!(f, "{field}: Too long: may not be more than {max} bytes")
            }
            FieldErrorKind::TooMany { actual, max } => {
                write!(
                    f,
                    "{field}: Too many: {actual}: must have at most {max} items"
                )
            }
            FieldErrorKind::Duplicate { value } => write!(f, "{field}: Duplicate value: {value}"),
        }
    }
}

impl FieldError {
    /// The `StatusCause` the real server lists for it in `details.causes`.
    pub fn cause(&self) -> Value {
        let reason = match &self.kind {
            FieldErrorKind::Required => "FieldValueRequired",
            FieldErrorKind::NotSupported { .. } => "FieldValueNotSupported",
            FieldErrorKind::Invalid { .. } => "FieldValueInvalid",
            FieldErrorKind::Forbidden { .. } => "FieldValueForbidden",
            FieldErrorKind::TooLong { .. } => "FieldValueTooLong",
            FieldErrorKind::TooMany { .. } => "FieldValueTooMany",
            FieldErrorKind::Duplicate { .. } => "FieldValueDuplicate",
        };
        let text = self.to_string();
        let message = text
            .strip_prefix(&format!("{}: ", self.field))
            .unwrap_or(&text)
            .to_string();
        serde_json::json!({"reason": reason, "message": message, "field": self.field})
    }
}

/// The `details` of a `422 Invalid` Status: what kubectl lists, one line per cause.
pub fn invalid_details(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> Value {
    let mut details = serde_json::json!({"name": name, "kind": kind,
        "causes": errors.iter().map(FieldError::cause).collect::<Vec<_>>()});
    if !group.is_empty() {
        details["group"] = Value::from(group);
    }
    details
}

/// Why admission refused an object.
#[derive(Debug)]
pub enum Refusal {
    /// `fieldValidation=Strict` and unknown fields: the message.
    Strict(String),
    /// Schema or CEL errors: the message and the errors, for `details.causes`.
    Invalid {
        message: String,
        errors: Vec<FieldError>,
    },
}

/// The reason a whole object was refused: the `message` of the `422 Invalid` Status.
pub fn invalid_message(kind: &str, group: &str, name: &str, errors: &[FieldError]) -> String {
    let qualified = if group.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}.{group}")
    };
    let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
    if list.len() == 1 {
        format!("{qualified} {name:?} is invalid: {}", list[0])
    } else {
        format!("{qualified} {name:?} is invalid: [{}]", list.join(", "))
    }
}

/// The `openAPIV3Schema` of the served `version` of a CRD, as JSON.
pub fn crd_version_schema(crd: &CustomResourceDefinition, version: &str) -> Option<Value> {
    let v = crd.spec.versions.iter().find(|v| v.name == version)?;
    let schema = v.schema.as_ref()?.open_api_v3_schema.as_ref()?;
    serde_json::to_value(schema).ok()
}

/// Removes every field the schema does not declare (unless `x-kubernetes-preserve-unknown-fields`
/// keeps it), as the API server prunes custom resources before storing them. `metadata` at the
/// root is the server's own and is left alone, as are `apiVersion` and `kind`.
pub fn prune(schema: &Value, value: &mut Value) -> Vec<String> {
    let mut removed = Vec::new();
    prune_at(schema, value, true, "", &mut removed);
    removed
}

fn prune_at(schema: &Value, value: &mut Value, root: bool, path: &str, removed: &mut Vec<String>) {
    if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true))
        && schema.get("properties").is_none()
    {
        return;
    }
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let preserve =
                schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
            map.retain(|k, _| {
                let keep = (root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
                    || props.is_some_and(|p| p.contains_key(k))
                    || additional.is_some_and(|a| a.is_object() || a == &Value::Bool(true))
                    || preserve;
                if !keep {
                    removed.push(join(path, k));
                }
                keep
            });
            for (k, v) in map.iter_mut() {
                if root && k == "metadata" {
                    continue;
                }
                if let Some(sub) = props.and_then(|p| p.get(k)) {
                    prune_at(sub, v, false, &join(path, k), removed);
                } else if let Some(sub) = additional.filter(|a| a.is_object()) {
                    prune_at(sub, v, false, &join(path, k), removed);
                }
            }
        }
        Value::Array(items) => {
            if let Some(sub) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_at(sub, item, false, &format!("{path}[{i}]"), removed);
                }
            }
        }
        _ => {}
    }
}

/// Checks `value` against a structural OpenAPI v3 schema: types, `required`, `enum`, `pattern`,
/// lengths, bounds, item counts, `nullable`, `x-kubernetes-int-or-string`, list-map uniqueness.
/// `metadata` at the root is not checked here: the server validates object metadata itself.
pub fn validate_schema(schema: &Value, value: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    check(schema, value, "", true, &mut errors);
    errors
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Renders a value as the API server's field errors do (Go's `%#v`-like quoting of scalars).
fn render(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Object(_) => "\"object\"".to_string(),
        Value::Array(_) => "\"array\"".to_string(),
        Value::Null => "\"null\"".to_string(),
        other => other.to_string(),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compiled patterns, shared across calls: schemas repeat the same few dozen.
fn pattern(p: &str) -> Option<Arc<Regex>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<Arc<Regex>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(p.to_string())
        .or_insert_with(|| Regex::new(p).ok().map(Arc::new))
        .clone()
}

fn check(schema: &Value, value: &Value, path: &str, root: bool, errors: &mut Vec<FieldError>) {
    let in_body = |detail: String| {
        format!(
            "{} in body {detail}",
            if path.is_empty() { "<root>" } else { path }
        )
    };
    if value.is_null() {
        if schema.get("nullable") != Some(&Value::Bool(true)) && schema.get("type").is_some() {
            errors.push(FieldError {
                field: path.to_string(),
                kind: FieldErrorKind::Invalid {
                    value: "\"null\"".into(),
                    detail: in_body(format!(
                        "must be of type {}: \"null\"",
                        schema["type"].as_str().unwrap_or("object")
                    )),
                },
            });
        }
        return;
    }
    let int_or_string = schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true));
    if let Some(want) = schema.get("type").and_then(Value::as_str) {
        let got = type_name(value);
        let ok = got == want
            || (want == "number" && got == "integer")
            || (int_or_string && (got == "integer" || got == "string"));
        if !ok {
            errors.push(FieldError {
                field: path.to_string(),
                kind: FieldErrorKind::Invalid {
                    value: format!("{got:?}"),
                    detail: in_body(format!("must be of type {want}: {got:?}")),
                },
            });
            return;
        }
    }

    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(FieldError {
            field: path.to_string(),
            kind: FieldErrorKind::NotSupported {
                value: render(value),
                supported: allowed
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| v.to_string())
                    })
                    .collect(),
            },
        });
    }

    match value {
        Value::String(s) => {
            if let Some(max) = schema.get("maxLength").and_then(Value::as_u64)
                && s.chars().count() as u64 > max
            {
                errors.push(FieldError {
                    field: path.to_string(),
                    kind: FieldErrorKind::TooLong { max },
                });
            }
            if let Some(min) = schema.get("minLength").and_then(Value::as_u64)
                && (s.chars().count() as u64) < min
            {
                errors.push(FieldError {
                    field: path.to_string(),
                    kind: FieldErrorKind::Invalid {
                        value: render(value),
                        detail: in_body(format!("should be at least {min} chars long")),
                    },
                });
            }
            if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
                match pattern(p) {
                    Some(re) if re.is_match(s) => {}
                    _ => errors.push(FieldError {
                        field: path.to_string(),
                        kind: FieldErrorKind::Invalid {
                            value: render(value),
                            detail: in_body(format!("should match '{p}'")),
                        },
                    }),
                }
            }
            if schema.get("format").and_then(Value::as_str) == Some("date-time")
                && s.parse::<k8s_openapi::jiff::Timestamp>().is_err()
            {
                errors.push(FieldError {
                    field: path.to_string(),
                    kind: FieldErrorKind::Invalid {
                        value: render(value),
                        detail: in_body("must be of type date-time".to_string()),
                    },
                });
            }
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(0.0);
            if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
                let exclusive = schema.get("exclusiveMinimum") == Some(&Value::Bool(true));
                if x < min || (exclusive && x == min) {
                    let rel = if exclusive {
                        "greater than"
                    } else {
                        "greater than or equal to"
                    };
                    errors.push(FieldError {
                        field: path.to_string(),
                        kind: FieldErrorKind::Invalid {
                            value: n.to_string(),
                            detail: in_body(format!("should be {rel} {min}")),
                        },
                    });
                }
            }
            if let Some(max) = schema.get("maximum").and_then(Value::as_f64) {
                let exclusive = schema.get("exclusiveMaximum") == Some(&Value::Bool(true));
                if x > max || (exclusive && x == max) {
                    let rel = if exclusive {
                        "less than"
                    } else {
                        "less than or equal to"
                    };
                    errors.push(FieldError {
                        field: path.to_string(),
                        kind: FieldErrorKind::Invalid {
                            value: n.to_string(),
                            detail: in_body(format!("should be {rel} {max}")),
                        },
                    });
                }
            }
        }
        Value::Array(items) => {
            if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
                && items.len() as u64 > max
            {
                errors.push(FieldError {
                    field: path.to_string(),
                    kind: FieldErrorKind::TooMany {
                        actual: items.len(),
                        max,
                    },
                });
            }
            if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
                && (items.len() as u64) < min
            {
                errors.push(FieldError {
                    field: path.to_string(),
                    kind: FieldErrorKind::Invalid {
                        value: render(value),
                        detail: in_body(format!("should have at least {min} items")),
                    },
                });
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &format!("{path}[{i}]"), false, errors);
                }
            }
            check_list_type(schema, items, path, errors);
        }
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            if let Some(required) = schema.get("required").and_then(Value::as_array) {
                for key in required.iter().filter_map(Value::as_str) {
                    if !map.contains_key(key) {
                        errors.push(FieldError {
                            field: join(path, key),
                            kind: FieldErrorKind::Required,
                        });
                    }
                }
            }
            for (k, v) in map {
                if root && matches!(k.as_str(), "metadata" | "apiVersion" | "kind") {
                    continue;
                }
                if let Some(sub) = props.and_then(|p| p.get(k)) {
                    check(sub, v, &join(path, k), false, errors);
                } else if let Some(sub) =
                    schema.get("additionalProperties").filter(|a| a.is_object())
                {
                    check(sub, v, &join(path, k), false, errors);
                }
            }
        }
        _ => {}
    }
}

/// `x-kubernetes-list-type: set | map`: no duplicate items, or no two items with the same keys.
fn check_list_type(schema: &Value, items: &[Value], path: &str, errors: &mut Vec<FieldError>) {
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("set") => {
            for (i, item) in items.iter().enumerate() {
                if items[..i].contains(item) {
                    errors.push(FieldError {
                        field: format!("{path}[{i}]"),
                        kind: FieldErrorKind::Duplicate {
                            value: render(item),
                        },
                    });
                }
            }
        }
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)
                .map(|ks| ks.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let key_of = |item: &Value| {
                keys.iter()
                    .map(|k| item.get(*k).cloned().unwrap_or(Value::Null))
                    .collect::<Vec<_>>()
            };
            for (i, item) in items.iter().enumerate() {
                let key = key_of(item);
                if items[..i].iter().any(|other| key_of(other) == key) {
                    let rendered = keys
                        .iter()
                        .zip(&key)
                        .map(|(k, v)| format!("\"{k}\":{v}"))
                        .collect::<Vec<_>>()
                        .join(",");
                    errors.push(FieldError {
                        field: format!("{path}[{i}]"),
                        kind: FieldErrorKind::Duplicate {
                            value: format!("map[string]interface {{}}{{{rendered}}}"),
                        },
                    });
                }
            }
        }
        _ => {}
    }
}

/// Evaluates the CEL rules of the schema with the real CEL engine of kube-rs (`kube::core::cel`),
/// `old` being the stored object on an update (transition rules need it) and `None` on create.
pub fn validate_cel(schema: &Value, value: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let validator = kube::core::cel::Validator::new();
    match validator.validate(schema, value, old) {
        Ok(()) => Vec::new(),
        Err(errs) => errs
            .iter()
            .map(|e| {
                let field = e.field_path.trim_start_matches('.').to_string();
                let kind = if e.reason.as_deref() == Some("FieldValueForbidden") {
                    FieldErrorKind::Forbidden {
                        detail: e.message.clone(),
                    }
                } else if e.reason.as_deref() == Some("FieldValueRequired") {
                    FieldErrorKind::Required
                } else {
                    // kube-apiserver (1.37) leaves the value out of a rule's message.
                    FieldErrorKind::Invalid {
                        value: String::new(),
                        detail: e.message.clone(),
                    }
                };
                FieldError { field, kind }
            })
            .collect(),
    }
}

/// Everything admission checks for a custom resource: the schema first, then (when the object is
/// well-formed) its CEL rules. `old` is the stored object on an update.
pub fn validate_custom_resource(
    schema: &Value,
    value: &Value,
    old: Option<&Value>,
) -> Vec<FieldError> {
    let mut errors = validate_schema(schema, value);
    if !errors.is_empty() {
        // As kube-apiserver: CEL rules run only on a valid object, and it says so.
        if schema.to_string().contains("x-kubernetes-validations") {
            errors.push(FieldError {
                field: "<nil>".into(),
                kind: FieldErrorKind::Invalid {
                    value: "null".into(),
                    detail: "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".into(),
                },
            });
        }
        return errors;
    }
    validate_cel(schema, value, old)
}

/// Admits a custom resource as the API server does on create (`old` = None) or update: prune
/// unknown fields, apply schema defaults, validate the schema and the CEL rules. Returns the object
/// as it would be stored, or the message of the `422 Invalid` Status.
pub fn admit(
    crd: &CustomResourceDefinition,
    object: &Value,
    old: Option<&Value>,
) -> Result<Value, String> {
    let kind = &crd.spec.names.kind;
    let group = &crd.spec.group;
    let version = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|av| av.strip_prefix(&format!("{group}/")))
        .unwrap_or("");
    let Some(schema) = crd_version_schema(crd, version) else {
        return Err(format!(
            "no matches for kind {kind:?} in version \"{group}/{version}\""
        ));
    };
    admit_with_schema(&schema, kind, group, object, old)
}

/// [`admit`] with the schema already at hand, as the API server holds it.
pub fn admit_with_schema(
    schema: &Value,
    kind: &str,
    group: &str,
    object: &Value,
    old: Option<&Value>,
) -> Result<Value, String> {
    admit_checked(schema, kind, group, object, old, false).map_err(|r| match r {
        Refusal::Strict(m) | Refusal::Invalid { message: m, .. } => m,
    })
}

/// [`admit_with_schema`]; with `strict` (the `fieldValidation=Strict` kubectl sends), unknown
/// fields are an error instead of being pruned silently.
pub fn admit_checked(
    schema: &Value,
    kind: &str,
    group: &str,
    object: &Value,
    old: Option<&Value>,
    strict: bool,
) -> Result<Value, Refusal> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let mut stored = object.clone();
    let removed = prune(schema, &mut stored);
    if strict && !removed.is_empty() {
        let list: Vec<String> = removed
            .iter()
            .map(|f| format!("unknown field {f:?}"))
            .collect();
        return Err(Refusal::Strict(format!(
            "strict decoding error: {}",
            list.join(", ")
        )));
    }
    let stored = kube::core::cel::apply_defaults(schema, &stored);
    let errors = validate_custom_resource(schema, &stored, old);
    if errors.is_empty() {
        Ok(stored)
    } else {
        Err(Refusal::Invalid {
            message: invalid_message(kind, group, name, &errors),
            errors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pruning_drops_undeclared_fields_only() {
        let schema = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"a": {"type": "string"}}},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }});
        let mut v = json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "extra": 1},
            "spec": {"a": "x", "b": 1}, "status": {"anything": true}, "junk": 1});
        prune(&schema, &mut v);
        assert_eq!(
            v,
            json!({"apiVersion": "x/v1", "kind": "K", "metadata": {"name": "n", "extra": 1},
            "spec": {"a": "x"}, "status": {"anything": true}})
        );
    }

    #[test]
    fn messages_read_like_the_api_server() {
        let schema = json!({"type": "object", "required": ["spec"], "properties": {"spec": {"type": "object",
        "required": ["name"], "properties": {
            "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
            "mode": {"type": "string", "enum": ["A", "B"]},
            "n": {"type": "integer", "minimum": 1},
            "tags": {"type": "array", "maxItems": 1, "items": {"type": "string"}, "x-kubernetes-list-type": "set"}
        }}}});
        let errs = validate_schema(
            &schema,
            &json!({"spec": {"name": "Abcdefg", "mode": "C", "n": 0, "tags": ["x", "x"]}}),
        );
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            text.contains(&"spec.name: Too long: may not be more than 5 bytes".to_string()),
            "{text:?}"
        );
        assert!(
            text.contains(
                &"spec.name: Invalid value: \"Abcdefg\": spec.name in body should match '^[a-z]+$'"
                    .to_string()
            ),
            "{text:?}"
        );
        assert!(
            text.contains(
                &"spec.mode: Unsupported value: \"C\": supported values: \"A\", \"B\"".to_string()
            ),
            "{text:?}"
        );
        assert!(
            text.contains(
                &"spec.n: Invalid value: 0: spec.n in body should be greater than or equal to 1"
                    .to_string()
            ),
            "{text:?}"
        );
        assert!(
            text.contains(&"spec.tags: Too many: 2: must have at most 1 items".to_string()),
            "{text:?}"
        );
        assert!(
            text.contains(&"spec.tags[1]: Duplicate value: \"x\"".to_string()),
            "{text:?}"
        );

        let errs = validate_schema(&schema, &json!({"spec": {"mode": 3}}));
        let text: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert!(
            text.contains(&"spec.name: Required value".to_string()),
            "{text:?}"
        );
        assert!(
            text.iter().any(|t| t.starts_with(
                "spec.mode: Invalid value: \"integer\": spec.mode in body must be of type string"
            )),
            "{text:?}"
        );
        assert_eq!(
            invalid_message("PackageRequest", "airlock.dev", "x", &errs[..1]),
            format!("PackageRequest.airlock.dev \"x\" is invalid: {}", errs[0])
        );
    }

    #[test]
    fn cel_transition_rules_see_the_old_object() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object",
            "properties": {"v": {"type": "string"}},
            "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "spec is immutable"}]}}});
        let new = json!({"spec": {"v": "2"}});
        assert!(
            validate_cel(&schema, &new, None).is_empty(),
            "transition rules do not run on create"
        );
        let old = json!({"spec": {"v": "1"}});
        let errs = validate_cel(&schema, &new, Some(&old));
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "spec: Invalid value: spec is immutable"
        );
        assert!(validate_cel(&schema, &old, Some(&old)).is_empty());
    }
}
