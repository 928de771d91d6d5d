//! The static cost of a CRD's CEL rules, estimated as kube-apiserver estimates it when the CRD is
//! written, so a rule that could run for seconds (a comparison of every pair of an unbounded
//! list's items held the store lock for 10 s) never gets in: a list or map without `maxItems` /
//! `maxProperties` is as long as a 3 MiB request can make it, a string without `maxLength` as
//! long as the request; a comprehension (`all`, `exists`, `map`, `filter`, …) costs its body
//! once per element; string functions cost 0.1 per byte they traverse, `matches` that times a
//! quarter of the pattern's length (cel-go's cost model). A rule over 10 000 000 is refused with
//! kube-apiserver's message, and so is a CRD whose rules, each multiplied by how often it runs
//! (once per element of the lists above it), exceed 100 000 000.

use cel::common::ast::{Expr, IdedExpr, LiteralValue};
use serde_json::Value;

use super::validation::{FieldError, FieldErrorKind};

/// kube-apiserver's `StaticEstimatedCostLimit` (per rule) and `StaticEstimatedCRDCostLimit`.
const RULE_LIMIT: f64 = 10_000_000.0;
const CRD_LIMIT: f64 = 100_000_000.0;
/// The largest request body the API server takes, which bounds every unbounded size.
const MAX_REQUEST: f64 = 3.0 * 1024.0 * 1024.0;

/// The smallest JSON an element of `schema` can be: what bounds how many fit in a request.
fn min_size(schema: &Value) -> f64 {
    match schema["type"].as_str() {
        Some("string") => 2.0,
        Some("boolean") => 4.0,
        Some("object") | Some("array") => 2.0,
        _ => 1.0,
    }
}

/// How many elements a list or map declared by `schema` can have.
fn cardinality(schema: Option<&Value>) -> f64 {
    let Some(s) = schema else {
        return MAX_REQUEST / 2.0;
    };
    match s["type"].as_str() {
        Some("array") => s["maxItems"]
            .as_f64()
            .unwrap_or_else(|| (MAX_REQUEST - 2.0) / (min_size(&s["items"]) + 1.0)),
        Some("object") => s["maxProperties"]
            .as_f64()
            .unwrap_or_else(|| (MAX_REQUEST - 2.0) / (min_size(&s["additionalProperties"]) + 4.0)),
        Some("string") => string_length(schema),
        _ => 1.0,
    }
}

fn string_length(schema: Option<&Value>) -> f64 {
    schema
        .and_then(|s| s["maxLength"].as_f64())
        .unwrap_or(MAX_REQUEST - 2.0)
}

/// The schema of what `e` evaluates to, when it is a path from `self` (or an iteration variable).
fn schema_of<'a>(e: &IdedExpr, env: &[(String, Option<&'a Value>)]) -> Option<&'a Value> {
    match &e.expr {
        Expr::Ident(name) => env
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, s)| *s),
        Expr::Select(sel) => {
            let parent = schema_of(&sel.operand, env)?;
            parent["properties"]
                .get(&sel.field)
                .or_else(|| parent.get("additionalProperties").filter(|a| a.is_object()))
        }
        Expr::Call(call) if call.func_name == "_[_]" => {
            let parent = schema_of(call.args.first()?, env)?;
            parent
                .get("items")
                .or_else(|| parent.get("additionalProperties"))
                .filter(|s| s.is_object())
        }
        _ => None,
    }
}

/// The estimated cost of `e` with `env` binding names to schemas.
fn cost(e: &IdedExpr, env: &mut Vec<(String, Option<&Value>)>) -> f64 {
    match &e.expr {
        Expr::Comprehension(c) => {
            let range = schema_of(&c.iter_range, env);
            let n = cardinality(range);
            let element = range.and_then(|r| match r["type"].as_str() {
                Some("array") => r.get("items"),
                // A map's iteration variable is its key: a string of unknown length.
                _ => None,
            });
            let range_cost = cost(&c.iter_range, env);
            let init = cost(&c.accu_init, env);
            env.push((c.iter_var.clone(), element));
            if let Some(v2) = &c.iter_var2 {
                env.push((v2.clone(), None));
            }
            let step = cost(&c.loop_cond, env) + cost(&c.loop_step, env) + 1.0;
            if c.iter_var2.is_some() {
                env.pop();
            }
            env.pop();
            range_cost + init + n * step + cost(&c.result, env)
        }
        Expr::Call(call) => {
            let mut total = 1.0;
            if let Some(t) = &call.target {
                total += cost(t, env);
            }
            for a in &call.args {
                total += cost(a, env);
            }
            let traversed = || {
                call.target
                    .as_deref()
                    .or(call.args.first())
                    .map(|t| string_length(schema_of(t, env)))
                    .unwrap_or(1.0)
            };
            match call.func_name.as_str() {
                "matches" => {
                    let pattern = call
                        .args
                        .last()
                        .and_then(|p| match &p.expr {
                            Expr::Literal(LiteralValue::String(s)) => Some(s.len() as f64),
                            _ => None,
                        })
                        .unwrap_or(MAX_REQUEST);
                    total += (traversed() * 0.1).max(1.0) * (pattern * 0.25).max(1.0);
                }
                "contains" | "startsWith" | "endsWith" | "indexOf" | "lastIndexOf" | "split"
                | "replace" | "lowerAscii" | "upperAscii" | "trim" | "substring" | "join" => {
                    total += traversed() * 0.1;
                }
                _ => {}
            }
            total
        }
        Expr::Select(sel) => 1.0 + cost(&sel.operand, env),
        Expr::List(list) => 1.0 + list.elements.iter().map(|x| cost(x, env)).sum::<f64>(),
        Expr::Map(map) => {
            1.0 + map
                .entries
                .iter()
                .map(|entry| match &entry.expr {
                    cel::common::ast::EntryExpr::MapEntry(m) => {
                        cost(&m.key, env) + cost(&m.value, env)
                    }
                    cel::common::ast::EntryExpr::StructField(f) => cost(&f.value, env),
                })
                .sum::<f64>()
        }
        _ => 1.0,
    }
}

/// The estimated cost of one rule whose `self` is `schema` (`None` when it does not parse: the
/// rule's compile error is reported elsewhere).
pub fn rule_cost(rule: &str, schema: &Value) -> Option<f64> {
    let ast = cel::parser::Parser::new().parse(rule).ok()?;
    let mut env = vec![
        ("self".to_string(), Some(schema)),
        ("oldSelf".to_string(), Some(schema)),
    ];
    Some(cost(&ast, &mut env))
}

/// Walks a CRD version's schema: every rule's cost, and how often it runs per object.
fn walk(schema: &Value, path: &str, runs: f64, out: &mut Vec<(String, f64, f64)>) {
    if let Some(rules) = schema["x-kubernetes-validations"].as_array() {
        for (i, r) in rules.iter().enumerate() {
            if let Some(c) = r["rule"].as_str().and_then(|rule| rule_cost(rule, schema)) {
                out.push((
                    format!("{path}.x-kubernetes-validations[{i}].rule"),
                    c,
                    runs,
                ));
            }
        }
    }
    if let Some(props) = schema["properties"].as_object() {
        for (name, p) in props {
            walk(p, &format!("{path}.properties[{name}]"), runs, out);
        }
    }
    if schema["items"].is_object() {
        let n = cardinality(Some(schema));
        walk(&schema["items"], &format!("{path}.items"), runs * n, out);
    }
    if schema["additionalProperties"].is_object() {
        let n = cardinality(Some(schema));
        walk(
            &schema["additionalProperties"],
            &format!("{path}.additionalProperties"),
            runs * n,
            out,
        );
    }
}

/// The errors kube-apiserver gives a CRD whose rules cost too much; empty when they fit. It
/// names the paths under `spec.validation.openAPIV3Schema` whatever the version (held to it by
/// `tests/apiserver_differential.rs`).
pub fn check_crd(crd: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let root = "spec.validation.openAPIV3Schema";
    let forbidden = |field: &str, detail: String| FieldError {
        field: field.to_string(),
        kind: FieldErrorKind::Forbidden { detail },
    };
    for version in crd["spec"]["versions"].as_array().into_iter().flatten() {
        let schema = &version["schema"]["openAPIV3Schema"];
        if !schema.is_object() {
            continue;
        }
        let mut rules = Vec::new();
        walk(schema, root, 1.0, &mut rules);
        for (field, c, _) in &rules {
            if *c > RULE_LIMIT {
                errors.push(forbidden(
                    field,
                    exceeds("estimated rule cost", *c, RULE_LIMIT),
                ));
            }
        }
        let total: f64 = rules.iter().map(|(_, c, runs)| c * runs).sum();
        if total > CRD_LIMIT {
            // As kube-apiserver: the (at most four) rules that cost the most, then the total.
            rules.sort_by(|a, b| (b.1 * b.2).total_cmp(&(a.1 * a.2)));
            for (field, _, _) in rules.iter().take(4) {
                errors.push(forbidden(
                    field,
                    "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema".into(),
                ));
            }
            errors.push(forbidden(
                root,
                exceeds(
                    "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema",
                    total,
                    CRD_LIMIT,
                ),
            ));
        }
    }
    errors
}

/// kube-apiserver's wording of a cost over its limit.
fn exceeds(what: &str, cost: f64, limit: f64) -> String {
    let f = cost / limit;
    let factor = if f > 100.0 {
        "more than 100x".to_string()
    } else if f < 1.5 {
        format!("{f:.6}x")
    } else {
        format!("{f:.1}x")
    };
    format!(
        "{what} exceeds budget by factor of {factor} (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comprehensions_over_unbounded_lists_cost_what_they_can_iterate() {
        let unbounded = json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "string"}}}});
        let bounded = json!({"type": "object", "properties": {"items": {"type": "array", "maxItems": 10, "items": {"type": "string", "maxLength": 20}}}});
        let pairs = "self.items.all(a, self.items.all(b, a == b || a != b))";
        assert!(rule_cost(pairs, &unbounded).expect("parses") > RULE_LIMIT);
        assert!(rule_cost(pairs, &bounded).expect("parses") < 10_000.0);
        // One pass over an unbounded list of strings fits; a regex over each does not.
        assert!(rule_cost("self.items.all(x, x != '')", &unbounded).expect("parses") < RULE_LIMIT);
        assert!(
            rule_cost("self.items.all(x, x.matches('^[a-z]+$'))", &unbounded).expect("parses")
                > RULE_LIMIT
        );
    }
}
