//! Request bodies in Kubernetes' protobuf encoding, for the built-in kinds kubectl sends that way.
//!
//! kubectl's typed clients (`kubectl create namespace`, `create configmap`, `create secret`)
//! encode built-in kinds as `application/vnd.kubernetes.protobuf`, and a server that answered
//! "not valid JSON" would fail the first command most people type. Only decoding is needed:
//! kubectl accepts JSON answers. The kinds covered are those the server stores; any other body
//! is refused with 415 as the real server refuses an encoding a kind does not support.

use serde_json::{Map, Value, json};

use super::error::ApiError;

/// `application/vnd.kubernetes.protobuf` bodies start with these four bytes, then a
/// `runtime.Unknown` message that carries the type and the object's own message.
const MAGIC: &[u8; 4] = b"k8s\0";

pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// The JSON form of a protobuf-encoded `kind` object, as the JSON decoder would have read it.
pub fn decode(kind: &str, body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body.strip_prefix(MAGIC).ok_or_else(|| {
        ApiError::bad_request(
            "the protobuf request body does not start with the Kubernetes magic bytes",
        )
    })?;
    let mut type_meta = (String::new(), String::new());
    let mut raw: &[u8] = &[];
    for field in Fields(envelope) {
        match field? {
            (1, Wire::Bytes(b)) => {
                for f in Fields(b) {
                    match f? {
                        (1, Wire::Bytes(v)) => type_meta.0 = text(v)?,
                        (2, Wire::Bytes(v)) => type_meta.1 = text(v)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            (3 | 4, Wire::Bytes(b)) if !b.is_empty() => {
                return Err(unsupported(kind));
            }
            _ => {}
        }
    }
    let mut object = match kind {
        "Namespace" => namespace(raw)?,
        "ConfigMap" => config_map(raw)?,
        "Secret" => secret(raw)?,
        _ => return Err(unsupported(kind)),
    };
    if !type_meta.0.is_empty() {
        object.insert("apiVersion".into(), json!(type_meta.0));
    }
    if !type_meta.1.is_empty() {
        object.insert("kind".into(), json!(type_meta.1));
    }
    Ok(Value::Object(object))
}

fn unsupported(kind: &str) -> ApiError {
    ApiError::unknown_format(&format!(
        "application/json, application/yaml (the dev API server reads protobuf for Namespace, ConfigMap and Secret only, not {kind})"
    ))
}

fn namespace(raw: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    for field in Fields(raw) {
        match field? {
            (1, Wire::Bytes(b)) => {
                out.insert("metadata".into(), object_meta(b)?);
            }
            (2, Wire::Bytes(b)) => {
                let mut finalizers = Vec::new();
                for f in Fields(b) {
                    if let (1, Wire::Bytes(v)) = f? {
                        finalizers.push(json!(text(v)?));
                    }
                }
                if !finalizers.is_empty() {
                    out.insert("spec".into(), json!({"finalizers": finalizers}));
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

fn config_map(raw: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let (mut data, mut binary) = (Map::new(), Map::new());
    for field in Fields(raw) {
        match field? {
            (1, Wire::Bytes(b)) => {
                out.insert("metadata".into(), object_meta(b)?);
            }
            (2, Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                data.insert(k, json!(text(v)?));
            }
            (3, Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                binary.insert(k, json!(base64(v)));
            }
            (4, Wire::Varint(v)) => {
                out.insert("immutable".into(), json!(v != 0));
            }
            _ => {}
        }
    }
    insert_non_empty(&mut out, "data", Value::Object(data));
    insert_non_empty(&mut out, "binaryData", Value::Object(binary));
    Ok(out)
}

fn secret(raw: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut out = Map::new();
    let (mut data, mut string_data) = (Map::new(), Map::new());
    for field in Fields(raw) {
        match field? {
            (1, Wire::Bytes(b)) => {
                out.insert("metadata".into(), object_meta(b)?);
            }
            (2, Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                data.insert(k, json!(base64(v)));
            }
            (3, Wire::Bytes(b)) if !b.is_empty() => {
                out.insert("type".into(), json!(text(b)?));
            }
            (4, Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                string_data.insert(k, json!(text(v)?));
            }
            (5, Wire::Varint(v)) => {
                out.insert("immutable".into(), json!(v != 0));
            }
            _ => {}
        }
    }
    insert_non_empty(&mut out, "data", Value::Object(data));
    insert_non_empty(&mut out, "stringData", Value::Object(string_data));
    Ok(out)
}

/// The fields of `ObjectMeta` a client may set on create; what the server sets is ignored there
/// anyway (uid, resourceVersion, timestamps).
fn object_meta(raw: &[u8]) -> Result<Value, ApiError> {
    let mut meta = Map::new();
    let (mut labels, mut annotations, mut finalizers, mut owners) =
        (Map::new(), Map::new(), Vec::new(), Vec::new());
    for field in Fields(raw) {
        match field? {
            (1, Wire::Bytes(b)) => {
                meta.insert("name".into(), json!(text(b)?));
            }
            (2, Wire::Bytes(b)) => {
                meta.insert("generateName".into(), json!(text(b)?));
            }
            (3, Wire::Bytes(b)) => {
                meta.insert("namespace".into(), json!(text(b)?));
            }
            (11, Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                labels.insert(k, json!(text(v)?));
            }
            (12, Wire::Bytes(b)) => {
                let (k, v) = entry(b)?;
                annotations.insert(k, json!(text(v)?));
            }
            (13, Wire::Bytes(b)) => owners.push(owner_reference(b)?),
            (14, Wire::Bytes(b)) => finalizers.push(json!(text(b)?)),
            _ => {}
        }
    }
    // Empty strings are protobuf's absent values; JSON clients leave such fields out.
    meta.retain(|_, v| v.as_str() != Some(""));
    insert_non_empty(&mut meta, "labels", Value::Object(labels));
    insert_non_empty(&mut meta, "annotations", Value::Object(annotations));
    insert_non_empty(&mut meta, "finalizers", Value::Array(finalizers));
    insert_non_empty(&mut meta, "ownerReferences", Value::Array(owners));
    Ok(Value::Object(meta))
}

/// Sets `key` unless `value` is an empty map or list: protobuf cannot tell empty from absent,
/// and JSON clients leave absent collections out.
fn insert_non_empty(out: &mut Map<String, Value>, key: &str, value: Value) {
    let empty =
        value.as_object().is_some_and(Map::is_empty) || value.as_array().is_some_and(Vec::is_empty);
    if !empty {
        out.insert(key.into(), value);
    }
}

fn owner_reference(raw: &[u8]) -> Result<Value, ApiError> {
    let mut owner = Map::new();
    for field in Fields(raw) {
        let (key, value) = match field? {
            (1, Wire::Bytes(b)) => ("kind", json!(text(b)?)),
            (3, Wire::Bytes(b)) => ("name", json!(text(b)?)),
            (4, Wire::Bytes(b)) => ("uid", json!(text(b)?)),
            (5, Wire::Bytes(b)) => ("apiVersion", json!(text(b)?)),
            (6, Wire::Varint(v)) => ("controller", json!(v != 0)),
            (7, Wire::Varint(v)) => ("blockOwnerDeletion", json!(v != 0)),
            _ => continue,
        };
        owner.insert(key.into(), value);
    }
    Ok(Value::Object(owner))
}

/// A map entry: field 1 the key, field 2 the value.
fn entry(raw: &[u8]) -> Result<(String, &[u8]), ApiError> {
    let (mut key, mut value): (String, &[u8]) = (String::new(), &[]);
    for field in Fields(raw) {
        match field? {
            (1, Wire::Bytes(b)) => key = text(b)?,
            (2, Wire::Bytes(b)) => value = b,
            _ => {}
        }
    }
    Ok((key, value))
}

fn text(b: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(b.to_vec())
        .map_err(|_| ApiError::bad_request("a string in the protobuf request body is not UTF-8"))
}

fn base64(b: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// One field's value: the wire types a Kubernetes message uses.
enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

/// The fields of one message, in order: (field number, value).
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u64, Wire<'a>), ApiError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let field = (|| {
            let tag = varint(&mut self.0)?;
            let value = match tag & 7 {
                0 => Wire::Varint(varint(&mut self.0)?),
                1 => take(&mut self.0, 8).map(|_| Wire::Fixed)?,
                2 => {
                    let len = usize::try_from(varint(&mut self.0)?).map_err(|_| malformed())?;
                    Wire::Bytes(take(&mut self.0, len)?)
                }
                5 => take(&mut self.0, 4).map(|_| Wire::Fixed)?,
                _ => return Err(malformed()),
            };
            Ok((tag >> 3, value))
        })();
        if field.is_err() {
            self.0 = &[];
        }
        Some(field)
    }
}

/// The next `n` bytes of `input`, which moves past them.
fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], ApiError> {
    if n > input.len() {
        return Err(malformed());
    }
    let (head, rest) = input.split_at(n);
    *input = rest;
    Ok(head)
}

fn varint(input: &mut &[u8]) -> Result<u64, ApiError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first().ok_or_else(malformed)?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(malformed())
}

fn malformed() -> ApiError {
    ApiError::bad_request("the protobuf request body is truncated or malformed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3 | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_truncated_body_is_a_bad_request_not_a_panic() {
        let mut body = MAGIC.to_vec();
        body.extend(field(2, &field(1, &field(1, b"team-a"))));
        for cut in 0..body.len() {
            let _ = decode("Namespace", &body[..cut]);
        }
        let err = decode("Namespace", &body[..body.len() - 2]).expect_err("truncated");
        assert_eq!(err.code, 400);
    }

    #[test]
    fn other_kinds_are_refused_with_415() {
        let mut body = MAGIC.to_vec();
        body.extend(field(2, b""));
        assert_eq!(decode("PackageRequest", &body).expect_err("415").code, 415);
    }
}
