//! The embedded dev API server held to kube-apiserver: the same sequence of requests — through
//! kubectl, and raw through `kube::Client` — goes to `airlock dev` on each, and what a client can
//! see must agree: exit codes and status codes, `reason`s, error messages and their field paths,
//! the resulting objects (less uids, timestamps and resourceVersion values), Table output and
//! watch event sequences. A divergence is fixed in the embedded server or listed in the README's
//! dev API server section, never accepted here.

mod common;

use std::time::Duration;

use airlock::dev::control_plane::client_for;
use common::dev::Dev;
use serde_json::Value;

/// One thing a client does, and what it saw.
#[derive(Debug, PartialEq)]
struct Seen {
    code: i32,
    out: String,
    err: String,
}

/// Both servers, the same namespace on each.
struct Pair {
    embedded: Dev,
    real: Dev,
    /// Every disagreement, reported together at the end (later steps still run).
    divergences: std::sync::Mutex<Vec<String>>,
}

const NS: &str = "diff";

const REQUEST: &str = "apiVersion: airlock.dev/v1alpha1\nkind: PackageRequest\nmetadata: {name: six, namespace: diff, labels: {team: data}}\nspec: {ecosystem: pypi, name: six, version: '1.16.0', repositoryRef: builtin, justification: differential}\n";

/// Values that differ between any two servers (or runs) by nature, replaced by placeholders.
fn normalise(text: &str) -> String {
    let rules: [(&str, &str); 7] = [
        (r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", "<time>"),
        (
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            "<uid>",
        ),
        (r#"("resourceVersion": ?)"\d+""#, "$1\"<rv>\""),
        (r#"(resourceVersion: )"?\d+"?"#, "$1<rv>"),
        (r"127\.0\.0\.1:\d+", "<addr>"),
        // The AGE column of tables: 0s, 5s, 2m3s, …
        (r"(?m) +(\d+m)?\d+s$", " <age>"),
        (r"(?m) +\d+m$", " <age>"),
    ];
    let mut out = text.to_string();
    for (pattern, with) in rules {
        let re = regex::Regex::new(pattern).expect("pattern");
        out = re.replace_all(&out, with).into_owned();
    }
    out
}

/// A JSON document without the values that differ by nature, for comparing objects.
fn normalise_json(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for key in [
                    "uid",
                    "creationTimestamp",
                    "resourceVersion",
                    "time",
                    "lastTransitionTime",
                    "deletionTimestamp",
                    "selfLink",
                    "continue",
                ] {
                    if let Some(x) = m.get_mut(key) {
                        *x = Value::from("<normalised>");
                    }
                }
                m.values_mut().for_each(walk);
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

impl Pair {
    fn start() -> Pair {
        let plane = std::env::var("AIRLOCK_CONTROL_PLANE").expect("AIRLOCK_CONTROL_PLANE");
        // No controller on either: what is compared is the API server alone.
        let embedded = Dev::start_embedded("diff-embedded", &["--no-controller"]);
        let real = Dev::start("diff-real", &["--no-controller", "--control-plane", &plane]);
        Pair {
            embedded,
            real,
            divergences: Default::default(),
        }
    }

    fn kubectl(dev: &Dev, args: &[&str], stdin: Option<&str>) -> Seen {
        let out = dev.kubectl(args, stdin);
        Seen {
            code: out.status.code().unwrap_or(-1),
            out: normalise(&String::from_utf8_lossy(&out.stdout)),
            err: normalise(&String::from_utf8_lossy(&out.stderr)),
        }
    }

    fn check(&self, agree: bool, what: String) {
        if !agree {
            self.divergences
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(what);
        }
    }

    /// Runs kubectl with the same arguments on both; they must agree. Returns what was seen.
    fn same(&self, args: &[&str], stdin: Option<&str>) -> Seen {
        let e = Self::kubectl(&self.embedded, args, stdin);
        let r = Self::kubectl(&self.real, args, stdin);
        // JSON output is compared as documents (key order and spacing are not a difference).
        let json = |s: &Seen| {
            serde_json::from_str::<Value>(&s.out)
                .ok()
                .map(normalise_json)
        };
        let outputs_agree = match (json(&e), json(&r)) {
            (Some(a), Some(b)) => a == b,
            _ => e.out == r.out,
        };
        self.check(
            e.code == r.code && outputs_agree && e.err == r.err,
            format!("kubectl {}\n--- embedded (exit {}) ---\n{}{}\n--- kube-apiserver (exit {}) ---\n{}{}",
            args.join(" "),
            e.code,
            e.out,
            e.err,
            r.code,
            r.out,
            r.err
        ));
        r
    }

    /// A raw request through kube::Client on both: status code and body (JSON, normalised).
    async fn raw(&self, method: &str, path: &str, content_type: &str, body: &str) -> (u16, Value) {
        let seen = self
            .send_each(method, [path, path], content_type, body)
            .await;
        let parse = |t: &str| {
            t.lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| {
                    serde_json::from_str::<Value>(l)
                        .map(normalise_json)
                        .unwrap_or(Value::from(normalise(l)))
                })
                .collect::<Vec<_>>()
        };
        let (e, r) = (&seen[0], &seen[1]);
        self.check(
            e.0 == r.0 && parse(&e.1) == parse(&r.1),
            format!(
                "{method} {path}\n--- embedded ({}) ---\n{}\n--- kube-apiserver ({}) ---\n{}",
                e.0, e.1, r.0, r.1
            ),
        );
        let docs = parse(&r.1);
        (
            r.0,
            if docs.len() == 1 {
                docs[0].clone()
            } else {
                Value::Array(docs)
            },
        )
    }

    /// One request to each server (its own path: resourceVersions differ), status and body.
    async fn send_each(
        &self,
        method: &str,
        paths: [&str; 2],
        content_type: &str,
        body: &str,
    ) -> Vec<(u16, String)> {
        let mut seen = Vec::new();
        for (dev, path) in [&self.embedded, &self.real].into_iter().zip(paths) {
            let kubeconfig = std::fs::read_to_string(dev.var("KUBECONFIG")).expect("kubeconfig");
            let client = client_for(&kubeconfig).await.expect("client");
            let request = http::Request::builder()
                .method(method)
                .uri(path)
                .header(http::header::CONTENT_TYPE, content_type)
                .body(body.as_bytes().to_vec())
                .expect("request");
            let response = client
                .send(request.map(Into::into))
                .await
                .expect("response");
            let code = response.status().as_u16();
            let bytes = http_body_util::BodyExt::collect(response.into_body())
                .await
                .expect("body")
                .to_bytes();
            let text = String::from_utf8_lossy(&bytes).into_owned();
            seen.push((code, text));
        }
        seen
    }

    /// A watch on each server from its own resourceVersion: the events as (type, name, what
    /// changed), which must agree.
    async fn watch_same(&self, base: &str, query: &str, rvs: [&str; 2]) -> Vec<String> {
        let paths =
            rvs.map(|rv| format!("{base}?watch=1&timeoutSeconds=2&resourceVersion={rv}{query}"));
        let seen = self
            .send_each("GET", [&paths[0], &paths[1]], "application/json", "")
            .await;
        let events = |body: &str| -> Vec<String> {
            body.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                .map(|e| {
                    let o = &e["object"];
                    format!(
                        "{} {} labels={} annotations={}",
                        e["type"].as_str().unwrap_or(""),
                        o["metadata"]["name"].as_str().unwrap_or(""),
                        o["metadata"]["labels"],
                        o["metadata"]["annotations"]
                    )
                })
                .collect()
        };
        let (e, r) = (events(&seen[0].1), events(&seen[1].1));
        self.check(
            seen[0].0 == seen[1].0 && e == r,
            format!(
                "watch {query}\n--- embedded ({}) ---\n{}\n--- kube-apiserver ({}) ---\n{}",
                seen[0].0,
                e.join("\n"),
                seen[1].0,
                r.join("\n")
            ),
        );
        r
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(airlock_control_plane),
    ignore = "the real control plane was not run: AIRLOCK_CONTROL_PLANE=$(scripts/control-plane.sh) (needs Go); scripts/test.sh and CI set it"
)]
async fn the_embedded_server_answers_as_kube_apiserver_does() {
    let pair = tokio::task::spawn_blocking(Pair::start)
        .await
        .expect("join");
    let pair = std::sync::Arc::new(pair);
    let p = pair.clone();
    tokio::task::spawn_blocking(move || kubectl_sequence(&p))
        .await
        .expect("kubectl sequence");
    raw_sequence(&pair).await;
    let divergences = pair
        .divergences
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    assert!(
        divergences.is_empty(),
        "{} divergences:\n\n{}",
        divergences.len(),
        divergences.join("\n\n")
    );
}

fn kubectl_sequence(p: &Pair) {
    // Built-in kinds, sent as protobuf by kubectl's typed clients.
    p.same(&["create", "namespace", NS], None);
    p.same(&["create", "namespace", NS], None);
    p.same(
        &[
            "create",
            "configmap",
            "settings",
            "-n",
            NS,
            "--from-literal=mode=fast",
        ],
        None,
    );
    p.same(
        &[
            "create",
            "secret",
            "generic",
            "token",
            "-n",
            NS,
            "--from-literal=key=s3cr3t",
        ],
        None,
    );
    p.same(
        &["get", "configmap", "settings", "-n", NS, "-o", "json"],
        None,
    );
    p.same(&["get", "secret", "token", "-n", NS, "-o", "json"], None);
    p.same(&["get", "namespace", NS, "-o", "json"], None);
    p.same(&["get", "configmap", "missing", "-n", NS], None);
    p.same(&["create", "configmap", "Bad_Name", "-n", NS], None);
    // Strategic merge patch (kubectl's default) on a built-in kind.
    p.same(
        &[
            "patch",
            "configmap",
            "settings",
            "-n",
            NS,
            "-p",
            r#"{"data":{"extra":"1"}}"#,
        ],
        None,
    );
    p.same(
        &[
            "get",
            "configmap",
            "settings",
            "-n",
            NS,
            "-o",
            "jsonpath={.data}",
        ],
        None,
    );

    // A custom resource: create, read, the same again, tables.
    p.same(&["apply", "-f", "-"], Some(REQUEST));
    p.same(&["create", "-f", "-"], Some(REQUEST));
    p.same(&["get", "pkgreq", "six", "-n", NS, "-o", "json"], None);
    p.same(&["get", "pkgreq", "-n", NS], None);
    p.same(&["get", "pkgreq", "-n", NS, "-o", "wide"], None);
    p.same(&["get", "pkgreq", "-A", "-o", "name"], None);
    p.same(&["get", "pkgreq", "nope", "-n", NS], None);
    // Selectors.
    p.same(
        &["get", "pkgreq", "-n", NS, "-l", "team=data", "-o", "name"],
        None,
    );
    p.same(
        &["get", "pkgreq", "-n", NS, "-l", "team!=data", "-o", "name"],
        None,
    );
    p.same(
        &[
            "get",
            "pkgreq",
            "-n",
            NS,
            "--field-selector",
            "metadata.name=six",
            "-o",
            "name",
        ],
        None,
    );
    p.same(
        &[
            "get",
            "pkgreq",
            "-n",
            NS,
            "--field-selector",
            "spec.name=six",
        ],
        None,
    );
    // Schema and CEL errors, with their field paths.
    p.same(
        &["apply", "-f", "-"],
        Some(
            &REQUEST
                .replace("name: six,", "name: seven,")
                .replace("ecosystem: pypi", "ecosystem: cargo"),
        ),
    );
    p.same(
        &["apply", "-f", "-"],
        Some(&REQUEST.replace("version: '1.16.0'", "version: '1.17.0'")),
    );
    // A rule's message, field-scoped (the version rule is CEL, not a pattern).
    p.same(
        &["apply", "-f", "-"],
        Some(
            &REQUEST
                .replace("name: six,", "name: nine,")
                .replace("version: '1.16.0'", "version: '>=1.0'"),
        ),
    );
    p.same(
        &["apply", "-f", "-"],
        Some(
            &REQUEST
                .replace("name: six,", "name: eight,")
                .replace(", justification: differential", ""),
        ),
    );
    // Patches a custom resource supports, and the one it does not.
    p.same(
        &[
            "patch",
            "pkgreq",
            "six",
            "-n",
            NS,
            "--type=merge",
            "-p",
            r#"{"metadata":{"labels":{"stage":"one"}}}"#,
        ],
        None,
    );
    p.same(
        &[
            "patch",
            "pkgreq",
            "six",
            "-n",
            NS,
            "--type=json",
            "-p",
            r#"[{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]"#,
        ],
        None,
    );
    p.same(
        &[
            "patch",
            "pkgreq",
            "six",
            "-n",
            NS,
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/metadata/labels/team","value":"other"}]"#,
        ],
        None,
    );
    p.same(
        &[
            "patch",
            "pkgreq",
            "six",
            "-n",
            NS,
            "-p",
            r#"{"metadata":{"labels":{"stage":"two"}}}"#,
        ],
        None,
    );
    p.same(&["get", "pkgreq", "six", "-n", NS, "-o", "json"], None);
    // The status subresource: status writes change status only.
    p.same(
        &[
            "patch",
            "pkgreq",
            "six",
            "-n",
            NS,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Pending"},"spec":{"name":"other"}}"#,
        ],
        None,
    );
    p.same(
        &[
            "get",
            "pkgreq",
            "six",
            "-n",
            NS,
            "-o",
            "jsonpath={.status.phase} {.spec.name} {.metadata.generation}",
        ],
        None,
    );
    // Server-side apply: another manager, a conflict, then forced.
    let changed = REQUEST.replace("team: data", "team: platform");
    p.same(
        &[
            "apply",
            "--server-side",
            "--field-manager=gitops",
            "-f",
            "-",
        ],
        Some(&changed),
    );
    p.same(
        &[
            "apply",
            "--server-side",
            "--field-manager=gitops",
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(&changed),
    );
    p.same(
        &[
            "get",
            "pkgreq",
            "six",
            "-n",
            NS,
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager} {.metadata.labels.team}",
        ],
        None,
    );
    // Optimistic concurrency: a replace from a stale resourceVersion.
    p.same(
        &["replace", "-f", "-"],
        Some(&REQUEST.replace("metadata: {", "metadata: {resourceVersion: '1', ")),
    );
    // Finalizers and deletion.
    p.same(
        &[
            "patch",
            "pkgreq",
            "six",
            "-n",
            NS,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
        ],
        None,
    );
    p.same(&["delete", "pkgreq", "six", "-n", NS, "--wait=false"], None);
    p.same(
        &[
            "get",
            "pkgreq",
            "six",
            "-n",
            NS,
            "-o",
            "jsonpath={.metadata.finalizers} {.metadata.deletionGracePeriodSeconds}",
        ],
        None,
    );
    p.same(
        &[
            "patch",
            "pkgreq",
            "six",
            "-n",
            NS,
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":["example.com/another"]}}"#,
        ],
        None,
    );
    p.same(
        &[
            "patch",
            "pkgreq",
            "six",
            "-n",
            NS,
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ],
        None,
    );
    std::thread::sleep(Duration::from_millis(500));
    p.same(&["get", "pkgreq", "six", "-n", NS], None);
    // A rule that compares every pair of an unbounded list's items is refused when the CRD is
    // written (its estimated cost), and a bounded version of it is taken.
    let pairs = |bound: &str| {
        format!(
            "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: pairs.cost.example.com}}\nspec:\n  group: cost.example.com\n  scope: Namespaced\n  names: {{plural: pairs, singular: pair, kind: Pair}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema:\n      openAPIV3Schema:\n        type: object\n        properties:\n          spec:\n            type: object\n            x-kubernetes-validations:\n            - rule: self.items.all(a, self.items.all(b, a == b || a != b))\n            properties:\n              items:\n                type: array\n                {bound}\n                items: {{type: string, maxLength: 20}}\n"
        )
    };
    p.same(
        &["apply", "-f", "-"],
        Some(&pairs("x-kubernetes-list-type: atomic")),
    );
    p.same(&["apply", "-f", "-"], Some(&pairs("maxItems: 10")));
    p.same(&["delete", "crd", "pairs.cost.example.com"], None);
    // Cluster-scoped kinds and a kind that does not exist.
    p.same(&["get", "scanpolicy", "default", "-o", "json"], None);
    p.same(&["get", "widgets"], None);
}

async fn raw_sequence(p: &Pair) {
    let base = format!("/apis/airlock.dev/v1alpha1/namespaces/{NS}/packagerequests");
    let body = serde_json::json!({
        "apiVersion": "airlock.dev/v1alpha1", "kind": "PackageRequest",
        "metadata": {"name": "watched", "namespace": NS},
        "spec": {"ecosystem": "npm", "name": "left-pad", "version": "1.3.0", "repositoryRef": "builtin", "justification": "watch"},
    })
    .to_string();
    let (code, created) = p.raw("POST", &base, "application/json", &body).await;
    assert_eq!(code, 201);
    assert_eq!(created["metadata"]["name"], "watched");
    // Known difference (README): the wording of a JSON syntax error is the parser's own.
    let bad = p
        .send_each("POST", [&base, &base], "application/json", "{not json")
        .await;
    let reason = |b: &str| {
        serde_json::from_str::<Value>(b)
            .ok()
            .map(|v| (v["code"].clone(), v["reason"].clone()))
    };
    assert_eq!(reason(&bad[0].1), reason(&bad[1].1), "{bad:?}");
    p.raw("POST", &base, "application/json", r#"{"apiVersion":"airlock.dev/v1alpha1","kind":"PackageRequest","metadata":{"name":"x"},"spec":{"ecosystem":"pypi"}}"#).await;
    p.raw("PUT", &format!("{base}/watched"), "application/json", &body)
        .await;
    p.raw(
        "PATCH",
        &format!("{base}/watched"),
        "application/strategic-merge-patch+json",
        "{}",
    )
    .await;
    p.raw(
        "PATCH",
        &format!("{base}/watched?fieldManager=x"),
        "application/apply-patch+yaml",
        "{}",
    )
    .await;
    p.raw(
        "PATCH",
        &format!("{base}/watched"),
        "application/apply-patch+yaml",
        "{}",
    )
    .await;
    p.raw(
        "GET",
        &format!("{base}?labelSelector=a%3D%3D%3D"),
        "application/json",
        "",
    )
    .await;
    p.raw(
        "GET",
        &format!("{base}?fieldSelector=spec.name%3Dx"),
        "application/json",
        "",
    )
    .await;
    p.raw("GET", &format!("{base}?limit=1"), "application/json", "")
        .await;
    // A watch from a resourceVersion sees what came after it, in order.
    let lists = p
        .send_each("GET", [&base, &base], "application/json", "")
        .await;
    let rv = |body: &str| -> String {
        serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| {
                v["metadata"]["resourceVersion"]
                    .as_str()
                    .map(str::to_string)
            })
            .unwrap_or_default()
    };
    let rvs = [rv(&lists[0].1), rv(&lists[1].1)];
    p.raw(
        "PATCH",
        &format!("{base}/watched"),
        "application/merge-patch+json",
        r#"{"metadata":{"labels":{"seen":"yes"}}}"#,
    )
    .await;
    p.raw("DELETE", &format!("{base}/watched"), "application/json", "")
        .await;
    p.raw("DELETE", &format!("{base}/watched"), "application/json", "")
        .await;
    let events = p.watch_same(&base, "", [&rvs[0], &rvs[1]]).await;
    assert_eq!(events.len(), 2, "{events:?}");
    // A streaming list (what kube's watcher asks for with streaming lists): the objects that exist
    // as ADDED events, then a bookmark that marks the end of them.
    p.raw("POST", &base, "application/json", &body).await;
    let events = p
        .watch_same(
            &base,
            "&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true",
            ["", ""],
        )
        .await;
    assert!(
        events.iter().any(|e| e.starts_with("ADDED watched"))
            && events.last().is_some_and(
                |e| e.starts_with("BOOKMARK") && e.contains("k8s.io/initial-events-end")
            ),
        "{events:?}"
    );
}
