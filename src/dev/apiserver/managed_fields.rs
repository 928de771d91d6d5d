//! Field ownership for server-side apply: which field manager owns which fields (`managedFields`
//! in `FieldsV1` form), apply conflicts, and the structured merge of an applied configuration.
//!
//! The model follows structured-merge-diff closely enough for kubectl and kube-rs: leaf fields are
//! owned; lists are atomic unless the schema marks them `x-kubernetes-list-type: map` (items owned
//! by their keys, e.g. `status.conditions` by `type`) or `set` (items owned by value, as
//! `metadata.finalizers` always is).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use super::error::ApiError;

/// One owned field: path elements in `FieldsV1` spelling (`f:name`, `k:{"type":"Ready"}`,
/// `v:"value"`, and `.` for a list item itself).
pub type FieldPath = Vec<String>;
pub type FieldSet = BTreeSet<FieldPath>;

/// How a list merges and is owned.
enum ListKind {
    Atomic,
    Set,
    Map(Vec<String>),
}

fn child_schema<'a>(schema: Option<&'a Value>, key: &str) -> Option<&'a Value> {
    let s = schema?;
    s.get("properties")
        .and_then(|p| p.get(key))
        .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))
}

fn items_schema(schema: Option<&Value>) -> Option<&Value> {
    schema?.get("items")
}

fn list_kind(schema: Option<&Value>, path: &[String]) -> ListKind {
    if path == ["f:metadata", "f:finalizers"] {
        return ListKind::Set;
    }
    if path == ["f:metadata", "f:ownerReferences"] {
        return ListKind::Map(vec!["uid".into()]);
    }
    match schema
        .and_then(|s| s.get("x-kubernetes-list-type"))
        .and_then(Value::as_str)
    {
        Some("set") => ListKind::Set,
        Some("map") => ListKind::Map(
            schema
                .and_then(|s| s.get("x-kubernetes-list-map-keys"))
                .and_then(Value::as_array)
                .map(|keys| {
                    keys.iter()
                        .filter_map(|k| k.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        ),
        _ => ListKind::Atomic,
    }
}

fn key_element(item: &Value, keys: &[String]) -> String {
    let mut m = Map::new();
    for k in keys {
        m.insert(k.clone(), item.get(k).cloned().unwrap_or(Value::Null));
    }
    format!("k:{}", Value::Object(m))
}

fn value_element(item: &Value) -> String {
    format!("v:{item}")
}

/// The metadata fields a manager can own; the rest belong to the server.
const OWNABLE_METADATA: [&str; 4] = ["labels", "annotations", "finalizers", "ownerReferences"];

/// The fields set in `object` (one part of it: the status, or all but the status).
pub fn fields_of(object: &Value, schema: Option<&Value>, part: Part) -> FieldSet {
    let mut out = FieldSet::new();
    let Some(map) = object.as_object() else {
        return out;
    };
    for (k, v) in map {
        if k == "apiVersion" || k == "kind" || !part.includes(k) {
            continue;
        }
        let mut path = vec![format!("f:{k}")];
        if k == "metadata" {
            let Some(meta) = v.as_object() else { continue };
            for (mk, mv) in meta {
                if OWNABLE_METADATA.contains(&mk.as_str()) {
                    path.push(format!("f:{mk}"));
                    collect(mv, None, &mut path, &mut out);
                    path.pop();
                }
            }
            continue;
        }
        collect(v, child_schema(schema, k), &mut path, &mut out);
    }
    out
}

fn collect(value: &Value, schema: Option<&Value>, path: &mut FieldPath, out: &mut FieldSet) {
    match value {
        Value::Object(m) if !m.is_empty() => {
            for (k, v) in m {
                path.push(format!("f:{k}"));
                collect(v, child_schema(schema, k), path, out);
                path.pop();
            }
        }
        Value::Array(items) => match list_kind(schema, path) {
            ListKind::Atomic => {
                out.insert(path.clone());
            }
            ListKind::Set => {
                for item in items {
                    path.push(value_element(item));
                    out.insert(path.clone());
                    path.pop();
                }
            }
            ListKind::Map(keys) => {
                for item in items {
                    path.push(key_element(item, &keys));
                    path.push(".".into());
                    out.insert(path.clone());
                    path.pop();
                    collect(item, items_schema(schema), path, out);
                    path.pop();
                }
            }
        },
        _ => {
            out.insert(path.clone());
        }
    }
}

/// Which part of an object a write touches: the `/status` subresource, or the main resource
/// (everything but `status` when status is a subresource).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Part {
    All,
    MainOnly,
    StatusOnly,
}

impl Part {
    fn includes(self, top_key: &str) -> bool {
        match self {
            Part::All => true,
            Part::MainOnly => top_key != "status",
            Part::StatusOnly => top_key == "status" || top_key == "metadata",
        }
    }
    fn subresource(self) -> Option<&'static str> {
        (self == Part::StatusOnly).then_some("status")
    }
}

fn parse_element(e: &str) -> Option<(char, Value)> {
    let (kind, rest) = e.split_at_checked(2)?;
    match kind {
        "f:" => Some(('f', json!(rest))),
        "k:" | "v:" => serde_json::from_str(rest)
            .ok()
            .map(|v| (kind.as_bytes()[0] as char, v)),
        _ => None,
    }
}

fn find_item(items: &[Value], element: &str) -> Option<usize> {
    match parse_element(element)? {
        ('k', Value::Object(keys)) => items.iter().position(|it| {
            keys.iter()
                .all(|(k, v)| it.get(k).unwrap_or(&Value::Null) == v)
        }),
        ('v', v) => items.iter().position(|it| *it == v),
        _ => None,
    }
}

/// The value at `path`, if the object has it.
pub fn value_at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = object;
    for e in path {
        if e == "." {
            continue;
        }
        cur = match cur {
            Value::Object(m) => m.get(e.strip_prefix("f:")?)?,
            Value::Array(items) => &items[find_item(items, e)?],
            _ => return None,
        };
    }
    Some(cur)
}

/// Removes the field at `path` (a whole list item for a `.` or `v:` path), and then any map or
/// list left empty by the removal, as structured-merge-diff does.
fn remove_at(object: &mut Value, path: &[String]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let (last, parents) = if last == "." {
        match parents.split_last() {
            Some((l, p)) => (l, p),
            None => return,
        }
    } else {
        (last, parents)
    };
    let mut cur = &mut *object;
    for e in parents {
        let next = match cur {
            Value::Object(m) => e.strip_prefix("f:").and_then(|k| m.get_mut(k)),
            Value::Array(items) => match find_item(items, e) {
                Some(i) => items.get_mut(i),
                None => None,
            },
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match cur {
        Value::Object(m) => {
            if let Some(k) = last.strip_prefix("f:") {
                m.remove(k);
            }
        }
        Value::Array(items) => {
            if let Some(i) = find_item(items, last) {
                items.remove(i);
            }
        }
        _ => {}
    }
    let emptied = value_at(object, parents).is_some_and(|v| match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    });
    if emptied && parents.len() > 1 {
        remove_at(object, parents);
    }
}

/// Merges an applied configuration into `target`: maps recursively, `map` lists item by item on
/// their keys, `set` lists as a union, other lists and scalars replaced.
pub fn merge(target: &mut Value, config: &Value, schema: Option<&Value>, path: &mut FieldPath) {
    match (target, config) {
        (Value::Object(t), Value::Object(c)) => {
            for (k, v) in c {
                path.push(format!("f:{k}"));
                let s = if path.len() == 1 && k == "metadata" {
                    None
                } else {
                    child_schema(schema, k)
                };
                match t.get_mut(k) {
                    Some(existing) => merge(existing, v, s, path),
                    None => {
                        t.insert(k.clone(), v.clone());
                    }
                }
                path.pop();
            }
        }
        (Value::Array(t), Value::Array(c)) => match list_kind(schema, path) {
            ListKind::Atomic => *t = c.clone(),
            ListKind::Set => {
                for item in c {
                    if !t.contains(item) {
                        t.push(item.clone());
                    }
                }
            }
            ListKind::Map(keys) => {
                for item in c {
                    let element = key_element(item, &keys);
                    match find_item(t, &element) {
                        Some(i) => merge(&mut t[i], item, items_schema(schema), path),
                        None => t.push(item.clone()),
                    }
                }
            }
        },
        (t, c) => *t = c.clone(),
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
struct Entry {
    manager: String,
    operation: String,
    api_version: String,
    subresource: Option<String>,
    time: String,
    fields: FieldSet,
}

fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Map::new();
    for path in set {
        let mut node = &mut root;
        for e in path {
            node = node
                .entry(e.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("FieldsV1 nodes are objects");
        }
    }
    Value::Object(root)
}

fn from_fields_v1(v: &Value, path: &mut FieldPath, out: &mut FieldSet) {
    match v.as_object() {
        Some(m) if !m.is_empty() => {
            for (k, child) in m {
                path.push(k.clone());
                from_fields_v1(child, path, out);
                path.pop();
            }
        }
        _ => {
            if !path.is_empty() {
                out.insert(path.clone());
            }
        }
    }
}

fn read_entries(object: &Value) -> Vec<Entry> {
    let Some(list) = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| {
            let mut fields = FieldSet::new();
            from_fields_v1(&e["fieldsV1"], &mut Vec::new(), &mut fields);
            let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            Entry {
                manager: s("manager"),
                operation: s("operation"),
                api_version: s("apiVersion"),
                subresource: e
                    .get("subresource")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                time: s("time"),
                fields,
            }
        })
        .collect()
}

fn without_managed_fields(object: &Value) -> Value {
    let mut copy = object.clone();
    if let Some(meta) = copy.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    copy
}

/// Stores the entries in kube-apiserver's order: by operation, time (undated first), manager,
/// API version and subresource.
fn write_entries(object: &mut Value, mut entries: Vec<Entry>) {
    entries.sort_by(|p, q| {
        (
            &p.operation,
            &p.time,
            &p.manager,
            &p.api_version,
            &p.subresource,
        )
            .cmp(&(
                &q.operation,
                &q.time,
                &q.manager,
                &q.api_version,
                &q.subresource,
            ))
    });
    let list: Vec<Value> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager, "operation": e.operation, "apiVersion": e.api_version,
                "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(&e.fields),
            });
            if !e.time.is_empty() {
                v["time"] = json!(e.time);
            }
            if let Some(s) = e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    let Some(obj) = object.as_object_mut() else {
        return;
    };
    if list.is_empty() {
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("managedFields");
        }
        return;
    }
    let meta = obj.entry("metadata").or_insert_with(|| json!({}));
    if let Some(meta) = meta.as_object_mut() {
        meta.insert("managedFields".into(), Value::Array(list));
    }
}

/// Who is writing, and how.
pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub part: Part,
    pub time: &'a str,
}

impl Writer<'_> {
    fn is(&self, e: &Entry, operation: &str) -> bool {
        e.manager == self.manager
            && e.operation == operation
            && e.subresource.as_deref() == self.part.subresource()
    }

    fn entry(&self, operation: &str, fields: FieldSet) -> Entry {
        Entry {
            manager: self.manager.to_string(),
            operation: operation.to_string(),
            api_version: self.api_version.to_string(),
            subresource: self.part.subresource().map(str::to_string),
            time: self.time.to_string(),
            fields,
        }
    }
}

fn dotted(path: &[String]) -> String {
    let mut s = String::new();
    for e in path {
        if e == "." {
            continue;
        }
        match e.split_at_checked(2) {
            Some(("f:", name)) => {
                s.push('.');
                s.push_str(name);
            }
            _ => {
                s.push('[');
                s.push_str(&e[2..]);
                s.push(']');
            }
        }
    }
    s
}

/// Server-side apply of `config` by `writer` onto `current` (None: the object does not exist yet).
/// Returns the object to store, with its `managedFields` updated, or the `409 Conflict` the real
/// server returns when another manager owns a field the configuration sets to a different value
/// and `force` is not given.
pub fn apply(
    current: Option<&Value>,
    config: &Value,
    schema: Option<&Value>,
    writer: &Writer,
    force: bool,
) -> Result<Value, ApiError> {
    let applied = fields_of(config, schema, writer.part);
    let Some(current) = current else {
        let mut out = config.clone();
        if writer.part == Part::MainOnly
            && let Some(m) = out.as_object_mut()
        {
            m.remove("status");
        }
        write_entries(&mut out, vec![writer.entry("Apply", applied)]);
        return Ok(out);
    };
    let mut entries = read_entries(current);
    let mut conflicts: BTreeMap<ManagerKey, Vec<String>> = BTreeMap::new();
    for e in entries.iter().filter(|e| !writer.is(e, "Apply")) {
        for p in applied.intersection(&e.fields) {
            if p.last().is_some_and(|l| l == ".") {
                continue;
            }
            if value_at(current, p) != value_at(config, p) {
                conflicts
                    .entry(ManagerKey::of(e))
                    .or_default()
                    .push(dotted(p));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(current, &conflicts));
    }
    let mut out = current.clone();
    let previous = entries
        .iter()
        .find(|e| writer.is(e, "Apply"))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for e in entries.iter_mut().filter(|e| !writer.is(e, "Apply")) {
        if force {
            e.fields
                .retain(|p| !applied.contains(p) || value_at(current, p) == value_at(config, p));
        }
    }
    let owned_by_others: FieldSet = entries
        .iter()
        .filter(|e| !writer.is(e, "Apply"))
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    // Fields this manager applied before and has now dropped, that nobody else holds, go away.
    for p in previous.difference(&applied) {
        if !owned_by_others.contains(p) && !applied.iter().any(|a| a.starts_with(p)) {
            remove_at(&mut out, p);
        }
    }
    let mut scoped = config.clone();
    if let Some(m) = scoped.as_object_mut() {
        m.retain(|k, _| writer.part.includes(k) && k != "apiVersion" && k != "kind");
        if let Some(meta) = m.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| OWNABLE_METADATA.contains(&k.as_str()));
        }
    }
    merge(&mut out, &scoped, schema, &mut Vec::new());
    let mut entry = writer.entry("Apply", applied);
    // As kube-apiserver: an apply that changes nothing but ownership does not date the entry.
    if without_managed_fields(&out) == without_managed_fields(current) {
        entry.time = entries
            .iter()
            .find(|e| writer.is(e, "Apply"))
            .map(|e| e.time.clone())
            .unwrap_or_default();
    }
    entries.retain(|e| !writer.is(e, "Apply"));
    entries.push(entry);
    write_entries(&mut out, entries);
    Ok(out)
}

/// A manager as the real server tells managers apart and orders them in a conflict message:
/// its encoded identifier starts with the name, then the operation (the API version only counts
/// for updates).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ManagerKey {
    manager: String,
    operation: String,
    api_version: String,
    subresource: Option<String>,
}

impl ManagerKey {
    fn of(e: &Entry) -> Self {
        let update = e.operation == "Update";
        ManagerKey {
            manager: e.manager.clone(),
            operation: e.operation.clone(),
            api_version: if update {
                e.api_version.clone()
            } else {
                String::new()
            },
            subresource: e.subresource.clone(),
        }
    }

    /// As kube-apiserver prints a manager: `"name"`, its subresource, and for updates the API
    /// version.
    fn printed(&self) -> String {
        let mut out = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            out.push_str(&format!(" with subresource {sub:?}"));
        }
        // The encoded manager kube-apiserver prints from carries no time.
        if self.operation == "Update" {
            out.push_str(&format!(" using {}", self.api_version));
        }
        out
    }
}

/// The `409 Conflict` kube-apiserver answers, worded as it words it (one conflict on one line;
/// several grouped by manager).
fn conflict_error(current: &Value, conflicts: &BTreeMap<ManagerKey, Vec<String>>) -> ApiError {
    let count: usize = conflicts.values().map(Vec::len).sum();
    let mut causes = Vec::new();
    let mut lines = Vec::new();
    for (key, fields) in conflicts {
        let who = key.printed();
        lines.push(format!("conflicts with {who}:"));
        for f in fields {
            causes.push(json!({"reason": "FieldManagerConflict", "message": format!("conflict with {who}"), "field": f}));
            lines.push(format!("- {f}"));
        }
    }
    let message = match conflicts.iter().next() {
        Some((key, fields)) if count == 1 => format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            key.printed(),
            fields[0]
        ),
        _ => format!("Apply failed with {count} conflicts: {}", lines.join("\n")),
    };
    let mut e = ApiError::conflict_plain(message);
    let name = current
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    e.details = Some(json!({"name": name, "causes": causes}));
    e
}

/// Ownership after a non-apply write (create, update, merge or JSON patch) by `writer`: the fields
/// it set or changed become its own (operation `Update`) and leave every other manager; removed
/// fields leave everyone.
pub fn track_update(old: Option<&Value>, new: &mut Value, schema: Option<&Value>, writer: &Writer) {
    let mut entries = old.map(read_entries).unwrap_or_default();
    let new_fields = fields_of(new, schema, writer.part);
    let old_fields = old
        .map(|o| fields_of(o, schema, writer.part))
        .unwrap_or_default();
    let mut changed: FieldSet = new_fields
        .iter()
        .filter(|p| old.is_none_or(|o| value_at(o, p) != value_at(new, p)))
        .cloned()
        .collect();
    // As structured-merge-diff's comparison: a map this write added is owned itself too (`.`),
    // besides its fields. `metadata` itself is never tracked.
    let added_maps: Vec<FieldPath> = changed
        .iter()
        .flat_map(|p| (1..p.len()).map(move |n| p[..n].to_vec()))
        .filter(|q| q.len() > 1 || q[0] != "f:metadata")
        .filter(|q| q.last().is_some_and(|l| l.starts_with("f:")))
        .filter(|q| value_at(new, q).is_some_and(Value::is_object))
        .filter(|q| old.is_none_or(|o| value_at(o, q).is_none()))
        .map(|mut q| {
            q.push(".".into());
            q
        })
        .collect();
    changed.extend(added_maps);
    let removed: FieldSet = old_fields.difference(&new_fields).cloned().collect();
    for e in entries.iter_mut() {
        e.fields.retain(|p| !removed.contains(p));
        // A map's own marker goes with the map.
        e.fields.retain(|p| {
            p.last().is_none_or(|l| l != ".")
                || p.len() < 2
                || !p[p.len() - 2].starts_with("f:")
                || value_at(new, &p[..p.len() - 1]).is_some()
        });
        if !writer.is(e, "Update") {
            e.fields.retain(|p| !changed.contains(p));
        }
    }
    if !changed.is_empty() {
        match entries.iter_mut().find(|e| writer.is(e, "Update")) {
            Some(e) => {
                e.fields.extend(changed);
                e.time = writer.time.to_string();
            }
            None => entries.push(writer.entry("Update", changed)),
        }
    }
    write_entries(new, entries);
}

/// The manager name the real server derives when a write names none: the user agent's program.
pub fn default_manager(user_agent: Option<&str>) -> String {
    user_agent
        .and_then(|ua| ua.split('/').next())
        .filter(|s| !s.is_empty())
        .unwrap_or("unknown")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Value {
        json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "string"},
                     "tags": {"type": "array", "items": {"type": "string"}}}},
            "status": {"type": "object", "properties": {"conditions": {
                "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                "items": {"type": "object", "properties": {"type": {"type": "string"}, "status": {"type": "string"}}}}}}
        }})
    }

    fn writer(manager: &str) -> Writer<'_> {
        Writer {
            manager,
            api_version: "v1",
            part: Part::MainOnly,
            time: "t",
        }
    }

    #[test]
    fn fields_v1_round_trips() {
        let obj = json!({"spec": {"a": "x"}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        let set = fields_of(&obj, Some(&schema()), Part::All);
        assert!(set.contains(&vec![
            "f:status".into(),
            "f:conditions".into(),
            r#"k:{"type":"Ready"}"#.into(),
            "f:status".into()
        ]));
        let mut back = FieldSet::new();
        from_fields_v1(&to_fields_v1(&set), &mut Vec::new(), &mut back);
        assert_eq!(set, back);
    }

    #[test]
    fn second_manager_conflicts_on_a_different_value_unless_forced() {
        let s = schema();
        let first = apply(
            None,
            &json!({"metadata": {"name": "x"}, "spec": {"a": "1"}}),
            Some(&s),
            &writer("one"),
            false,
        )
        .unwrap();
        // Same value: shared ownership, no conflict.
        let shared = apply(
            Some(&first),
            &json!({"spec": {"a": "1", "b": "2"}}),
            Some(&s),
            &writer("two"),
            false,
        )
        .unwrap();
        assert_eq!(shared["spec"], json!({"a": "1", "b": "2"}));
        let err = apply(
            Some(&shared),
            &json!({"spec": {"a": "9"}}),
            Some(&s),
            &writer("two"),
            false,
        )
        .unwrap_err();
        assert_eq!(err.code, 409);
        assert!(
            err.message
                .contains(r#"Apply failed with 1 conflict: conflict with "one": .spec.a"#),
            "{}",
            err.message
        );
        let forced = apply(
            Some(&shared),
            &json!({"spec": {"a": "9"}}),
            Some(&s),
            &writer("two"),
            true,
        )
        .unwrap();
        assert_eq!(forced["spec"]["a"], "9");
        // "two" dropped spec.b from its configuration and owned it alone: it is removed.
        assert!(forced["spec"].get("b").is_none());
        let entries = read_entries(&forced);
        let one = entries.iter().find(|e| e.manager == "one");
        assert!(
            one.is_none(),
            "manager one lost its only field: {entries:?}"
        );
    }

    #[test]
    fn dropping_a_field_keeps_it_while_another_manager_owns_it() {
        let s = schema();
        let a = apply(
            None,
            &json!({"spec": {"a": "1", "b": "2"}}),
            Some(&s),
            &writer("one"),
            false,
        )
        .unwrap();
        let b = apply(
            Some(&a),
            &json!({"spec": {"b": "2"}}),
            Some(&s),
            &writer("two"),
            false,
        )
        .unwrap();
        let c = apply(
            Some(&b),
            &json!({"spec": {"a": "1"}}),
            Some(&s),
            &writer("one"),
            false,
        )
        .unwrap();
        assert_eq!(c["spec"], json!({"a": "1", "b": "2"}));
    }

    #[test]
    fn list_map_items_merge_by_key_and_belong_to_their_writer() {
        let s = schema();
        let status = |m| Writer {
            manager: m,
            api_version: "v1",
            part: Part::StatusOnly,
            time: "t",
        };
        let base = json!({"metadata": {"name": "x"}, "spec": {"a": "1"}});
        let a = apply(
            Some(&base),
            &json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}}),
            Some(&s),
            &status("ctl"),
            false,
        )
        .unwrap();
        let b = apply(
            Some(&a),
            &json!({"status": {"conditions": [{"type": "Approved", "status": "True"}]}}),
            Some(&s),
            &status("approver"),
            false,
        )
        .unwrap();
        assert_eq!(b["status"]["conditions"].as_array().map(Vec::len), Some(2));
        let c = apply(
            Some(&b),
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}),
            Some(&s),
            &status("ctl"),
            false,
        )
        .unwrap();
        assert_eq!(
            c["status"]["conditions"],
            json!([{"type": "Ready", "status": "True"}, {"type": "Approved", "status": "True"}])
        );
        assert_eq!(c["spec"], base["spec"], "a status apply leaves spec alone");
    }

    #[test]
    fn updates_take_ownership_of_changed_fields() {
        let s = schema();
        let a = apply(
            None,
            &json!({"spec": {"a": "1"}}),
            Some(&s),
            &writer("one"),
            false,
        )
        .unwrap();
        let mut edited = a.clone();
        edited["spec"]["a"] = json!("2");
        track_update(Some(&a), &mut edited, Some(&s), &writer("kubectl-edit"));
        let err = apply(
            Some(&edited),
            &json!({"spec": {"a": "1"}}),
            Some(&s),
            &writer("one"),
            false,
        )
        .unwrap_err();
        assert!(err.message.contains(r#""kubectl-edit""#), "{}", err.message);
    }

    #[test]
    fn finalizers_are_a_set() {
        let a = apply(
            None,
            &json!({"metadata": {"finalizers": ["x/a"]}}),
            None,
            &writer("one"),
            false,
        )
        .unwrap();
        let b = apply(
            Some(&a),
            &json!({"metadata": {"finalizers": ["x/b"]}}),
            None,
            &writer("two"),
            false,
        )
        .unwrap();
        assert_eq!(b["metadata"]["finalizers"], json!(["x/a", "x/b"]));
        let c = apply(
            Some(&b),
            &json!({"metadata": {}}),
            None,
            &writer("two"),
            false,
        )
        .unwrap();
        assert_eq!(c["metadata"]["finalizers"], json!(["x/a"]));
    }
}
