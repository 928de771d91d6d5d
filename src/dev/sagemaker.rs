//! A SageMaker emulator for `airlock dev` and tests: the domain and app operations the
//! SageMakerDomain controller uses, in the awsJson1.1 protocol the SDK speaks (`POST /` with
//! `X-Amz-Target: SageMaker.<Operation>`), answering as the SageMaker API reference documents:
//! ids of the form `d-xxxxxxxxxxxx`, a domain `Pending` after `CreateDomain` and `Updating` after
//! `UpdateDomain` before it is `InService` again, `ResourceNotFound` / `ResourceInUse` /
//! `ValidationException`, no in-place change of the VPC or KMS key, a switch to `VpcOnly` only
//! with the domain's `VpcId` and `SubnetIds`, and no network change while apps are `InService`,
//! `Pending` or `Deleting` (AWS's `ValidationException` "Unable to update Domain [arn] with
//! InService App"). It also counts the calls per operation, so tests and benchmarks
//! can assert how many API calls a resync makes (`GET /_emulator/sagemaker/calls`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{Response, StatusCode, header};
use serde_json::{Value, json};

use crate::net::server::Body;

use super::codeartifact::ACCOUNT;

/// How long a domain stays `Pending` / `Updating` / `Deleting` (and an app `Pending` /
/// `Deleting`) before the change completes.
pub const DEFAULT_TRANSITION: Duration = Duration::from_millis(800);

struct Domain {
    region: String,
    doc: Value,
    /// The status the domain is in until `busy_until`, after which it is `InService` (or gone,
    /// when deleting).
    busy: Option<(&'static str, Instant)>,
}

struct App {
    domain: String,
    key: (String, String, String),
    status: &'static str,
    until: Option<Instant>,
    created: i64,
}

#[derive(Default)]
struct State {
    domains: BTreeMap<String, Domain>,
    apps: Vec<App>,
    calls: BTreeMap<String, u64>,
    counter: u64,
}

pub struct SageMaker {
    state: Mutex<State>,
    pub transition: Duration,
}

fn now() -> i64 {
    k8s_openapi::jiff::Timestamp::now().as_second()
}

fn json_reply(status: StatusCode, v: &Value) -> Response<Body> {
    crate::net::server::respond(status, "application/x-amz-json-1.1", v.to_string())
}

/// An error as SageMaker's awsJson1.1 sends it: status, `__type` and `Message` (the member its
/// model's error shapes name), and the `x-amzn-ErrorType` header.
fn error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response<Body> {
    let mut r = json_reply(status, &json!({"__type": kind, "Message": message.into()}));
    if let Ok(v) = header::HeaderValue::from_str(kind) {
        r.headers_mut().insert("x-amzn-ErrorType", v);
    }
    r
}

fn validation(message: impl Into<String>) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, "ValidationException", message)
}

fn not_found(message: impl Into<String>) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, "ResourceNotFound", message)
}

fn in_use(message: impl Into<String>) -> Response<Body> {
    error(StatusCode::BAD_REQUEST, "ResourceInUse", message)
}

/// The region from the SigV4 credential scope (`Credential=AKID/20260101/us-east-1/sagemaker/…`).
fn region_of(authorization: Option<&str>) -> String {
    authorization
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("us-east-1")
        .to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl Default for SageMaker {
    fn default() -> Self {
        Self::new(DEFAULT_TRANSITION)
    }
}

impl SageMaker {
    pub fn new(transition: Duration) -> SageMaker {
        SageMaker {
            state: Mutex::new(State::default()),
            transition,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls per operation so far.
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.lock().calls.clone()
    }

    /// Moves finished transitions on: `Pending`/`Updating` → `InService`, `Deleting` → gone.
    fn settle(st: &mut State) {
        let now = Instant::now();
        st.domains
            .retain(|_, d| !matches!(d.busy, Some(("Deleting", until)) if until <= now));
        for d in st.domains.values_mut() {
            if let Some((_, until)) = d.busy
                && until <= now
            {
                d.busy = None;
                d.doc["LastModifiedTime"] = json!(now_f());
            }
        }
        for a in st.apps.iter_mut() {
            if let Some(until) = a.until
                && until <= now
            {
                a.until = None;
                a.status = match a.status {
                    "Pending" => "InService",
                    "Deleting" => "Deleted",
                    other => other,
                };
            }
        }
    }

    fn running_apps(st: &State, domain: &str) -> Vec<String> {
        st.apps
            .iter()
            .filter(|a| {
                a.domain == domain && matches!(a.status, "InService" | "Pending" | "Deleting")
            })
            .map(|a| format!("{} {} ({})", a.key.1, a.key.2, a.key.0))
            .collect()
    }

    /// Answers one awsJson1.1 call.
    pub fn handle(&self, target: &str, authorization: Option<&str>, body: &[u8]) -> Response<Body> {
        let op = target.strip_prefix("SageMaker.").unwrap_or(target);
        let input: Value = match serde_json::from_slice(if body.is_empty() { b"{}" } else { body })
        {
            Ok(v) => v,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    format!("the request body is not JSON: {e}"),
                );
            }
        };
        let region = region_of(authorization);
        let mut st = self.lock();
        *st.calls.entry(op.to_string()).or_default() += 1;
        Self::settle(&mut st);
        match op {
            "CreateDomain" => self.create_domain(&mut st, &region, &input),
            "DescribeDomain" => describe_domain(&st, &input),
            "UpdateDomain" => self.update_domain(&mut st, &input),
            "DeleteDomain" => self.delete_domain(&mut st, &input),
            "ListDomains" => list_domains(&st, &region),
            "CreateApp" => self.create_app(&mut st, &input),
            "DeleteApp" => self.delete_app(&mut st, &input),
            "ListApps" => list_apps(&st, &input),
            other => error(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                format!("the emulator does not implement SageMaker.{other}"),
            ),
        }
    }

    fn create_domain(&self, st: &mut State, region: &str, input: &Value) -> Response<Body> {
        let Some(name) = input["DomainName"].as_str() else {
            return validation(
                "1 validation error detected: Value null at 'domainName' failed to satisfy constraint: Member must not be null",
            );
        };
        for required in ["AuthMode", "DefaultUserSettings", "SubnetIds", "VpcId"] {
            if input.get(required).is_none_or(Value::is_null) {
                return validation(format!(
                    "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                    required[..1].to_lowercase() + &required[1..]
                ));
            }
        }
        if st
            .domains
            .values()
            .any(|d| d.region == region && d.doc["DomainName"] == name)
        {
            return in_use(format!("Domain with name {name} already exists"));
        }
        let network = input["AppNetworkAccessType"]
            .as_str()
            .unwrap_or("PublicInternetOnly");
        if network == "VpcOnly" && strings(&input["SubnetIds"]).is_empty() {
            return validation("SubnetIds must be specified when AppNetworkAccessType is VpcOnly");
        }
        st.counter += 1;
        let id = domain_id(st.counter);
        let arn = format!("arn:aws:sagemaker:{region}:{ACCOUNT}:domain/{id}");
        let url = format!("https://{id}.studio.{region}.sagemaker.aws");
        let mut doc = json!({
            "DomainArn": arn,
            "DomainId": id,
            "DomainName": name,
            "HomeEfsFileSystemId": format!("fs-{:017x}", st.counter),
            "CreationTime": now_f(),
            "LastModifiedTime": now_f(),
            "AuthMode": input["AuthMode"],
            "DefaultUserSettings": input["DefaultUserSettings"],
            "AppNetworkAccessType": network,
            "SubnetIds": input["SubnetIds"],
            "Url": url,
            "VpcId": input["VpcId"],
            "DomainSettings": input.get("DomainSettings").cloned().unwrap_or_else(|| json!({})),
        });
        if let Some(space) = input.get("DefaultSpaceSettings") {
            doc["DefaultSpaceSettings"] = space.clone();
        }
        if let Some(key) = input.get("KmsKeyId") {
            doc["KmsKeyId"] = key.clone();
            doc["HomeEfsFileSystemKmsKeyId"] = key.clone();
        }
        st.domains.insert(
            id.clone(),
            Domain {
                region: region.to_string(),
                doc,
                busy: Some(("Pending", Instant::now() + self.transition)),
            },
        );
        json_reply(StatusCode::OK, &json!({"DomainArn": arn, "Url": url}))
    }

    fn update_domain(&self, st: &mut State, input: &Value) -> Response<Body> {
        let Some(id) = input["DomainId"].as_str() else {
            return validation("DomainId is required");
        };
        // The members UpdateDomain has; anything else (KmsKeyId, …) cannot change in place.
        // VpcId is one of them (since late 2025) but may only repeat the domain's own VPC.
        const UPDATABLE: [&str; 9] = [
            "DomainId",
            "VpcId",
            "DefaultUserSettings",
            "DomainSettingsForUpdate",
            "AppSecurityGroupManagement",
            "DefaultSpaceSettings",
            "SubnetIds",
            "AppNetworkAccessType",
            "TagPropagation",
        ];
        if let Some(other) = input
            .as_object()
            .and_then(|o| o.keys().find(|k| !UPDATABLE.contains(&k.as_str())))
        {
            return validation(format!(
                "{other} cannot be updated: create a new domain to change it"
            ));
        }
        let running = Self::running_apps(st, id);
        let Some(d) = st.domains.get_mut(id) else {
            return not_found(format!("Domain {id} does not exist"));
        };
        if let Some((status, _)) = d.busy {
            return in_use(format!(
                "Domain {id} is {status}; wait until it is InService"
            ));
        }
        if let Some(vpc) = input["VpcId"].as_str()
            && d.doc["VpcId"] != vpc
        {
            return validation(format!(
                "VpcId {vpc} is not the domain's VPC ({}); a domain's VPC cannot be changed",
                d.doc["VpcId"].as_str().unwrap_or("")
            ));
        }
        let network = input["AppNetworkAccessType"].as_str();
        if let Some(n) = network
            && n != "VpcOnly"
            && n != "PublicInternetOnly"
        {
            return validation(format!(
                "Value '{n}' at 'appNetworkAccessType' failed to satisfy constraint: Member must satisfy enum value set: [PublicInternetOnly, VpcOnly]"
            ));
        }
        // As SageMaker: a network change (the access type, or the subnets) while apps are
        // InService, Pending or Deleting is refused as invalid, naming the domain's ARN.
        let changes_network = network.is_some_and(|n| d.doc["AppNetworkAccessType"] != n)
            || input
                .get("SubnetIds")
                .is_some_and(|s| d.doc["SubnetIds"] != *s);
        if changes_network && !running.is_empty() {
            let arn = d.doc["DomainArn"].as_str().unwrap_or("");
            return validation(format!(
                "Unable to update Domain [{arn}] with InService App. Delete all InService apps for domain [{arn}] and try again."
            ));
        }
        if network == Some("VpcOnly")
            && d.doc["AppNetworkAccessType"] != "VpcOnly"
            && (input.get("SubnetIds").is_none() || input.get("VpcId").is_none())
        {
            return validation(
                "VpcId and Subnet IDs are required for updating domains to VpcOnly mode",
            );
        }
        if let Some(n) = network {
            d.doc["AppNetworkAccessType"] = json!(n);
        }
        if let Some(s) = input.get("SubnetIds") {
            d.doc["SubnetIds"] = s.clone();
        }
        if let Some(groups) = input["DomainSettingsForUpdate"].get("SecurityGroupIds") {
            d.doc["DomainSettings"]["SecurityGroupIds"] = groups.clone();
        }
        if let Some(groups) = input["DefaultUserSettings"].get("SecurityGroups") {
            d.doc["DefaultUserSettings"]["SecurityGroups"] = groups.clone();
        }
        if let Some(groups) = input["DefaultSpaceSettings"].get("SecurityGroups") {
            if d.doc.get("DefaultSpaceSettings").is_none() {
                d.doc["DefaultSpaceSettings"] = json!({});
            }
            d.doc["DefaultSpaceSettings"]["SecurityGroups"] = groups.clone();
        }
        d.busy = Some(("Updating", Instant::now() + self.transition));
        json_reply(StatusCode::OK, &json!({"DomainArn": d.doc["DomainArn"]}))
    }

    fn delete_domain(&self, st: &mut State, input: &Value) -> Response<Body> {
        let id = input["DomainId"].as_str().unwrap_or_default().to_string();
        let running = Self::running_apps(st, &id);
        let Some(d) = st.domains.get_mut(&id) else {
            return not_found(format!("Domain {id} does not exist"));
        };
        if !running.is_empty() {
            return in_use(format!(
                "Domain {id} has apps in service ({}); delete them first",
                running.join(", ")
            ));
        }
        d.busy = Some(("Deleting", Instant::now() + self.transition));
        json_reply(StatusCode::OK, &json!({}))
    }

    fn create_app(&self, st: &mut State, input: &Value) -> Response<Body> {
        let id = input["DomainId"].as_str().unwrap_or_default().to_string();
        let Some(region) = st.domains.get(&id).map(|d| d.region.clone()) else {
            return not_found(format!("Domain {id} does not exist"));
        };
        let owner = input["UserProfileName"]
            .as_str()
            .or(input["SpaceName"].as_str())
            .unwrap_or_default()
            .to_string();
        let key = (
            owner,
            input["AppType"]
                .as_str()
                .unwrap_or("JupyterLab")
                .to_string(),
            input["AppName"].as_str().unwrap_or("default").to_string(),
        );
        if st
            .apps
            .iter()
            .any(|a| a.domain == id && a.key == key && a.status != "Deleted")
        {
            return in_use(format!("App {} already exists", key.2));
        }
        let arn = format!(
            "arn:aws:sagemaker:{region}:{ACCOUNT}:app/{id}/{}/{}/{}",
            key.0,
            key.1.to_lowercase(),
            key.2
        );
        st.apps.push(App {
            domain: id,
            key,
            status: "InService",
            until: None,
            created: now(),
        });
        json_reply(StatusCode::OK, &json!({"AppArn": arn}))
    }

    fn delete_app(&self, st: &mut State, input: &Value) -> Response<Body> {
        let id = input["DomainId"].as_str().unwrap_or_default();
        let owner = input["UserProfileName"]
            .as_str()
            .or(input["SpaceName"].as_str())
            .unwrap_or_default();
        let (app_type, name) = (
            input["AppType"].as_str().unwrap_or_default(),
            input["AppName"].as_str().unwrap_or_default(),
        );
        let transition = self.transition;
        match st.apps.iter_mut().find(|a| {
            a.domain == id
                && a.key.0 == owner
                && a.key.1 == app_type
                && a.key.2 == name
                && a.status != "Deleted"
        }) {
            Some(a) => {
                a.status = "Deleting";
                a.until = Some(Instant::now() + transition);
                json_reply(StatusCode::OK, &json!({}))
            }
            None => not_found(format!("App {name} does not exist")),
        }
    }
}

fn now_f() -> f64 {
    k8s_openapi::jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}

/// `d-` and 12 lower-case letters and digits, as SageMaker's ids look.
fn domain_id(n: u64) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    let mut x = h.finish();
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut id = String::from("d-");
    for _ in 0..12 {
        id.push(alphabet[(x % 36) as usize] as char);
        x /= 36;
        if x == 0 {
            x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        }
    }
    id
}

fn describe_domain(st: &State, input: &Value) -> Response<Body> {
    let id = input["DomainId"].as_str().unwrap_or_default();
    match st.domains.get(id) {
        Some(d) => {
            let mut doc = d.doc.clone();
            doc["Status"] = json!(d.busy.map(|(s, _)| s).unwrap_or("InService"));
            json_reply(StatusCode::OK, &doc)
        }
        None => not_found(format!("Domain {id} does not exist")),
    }
}

fn list_domains(st: &State, region: &str) -> Response<Body> {
    let domains: Vec<Value> = st
        .domains
        .values()
        .filter(|d| d.region == region)
        .map(|d| {
            json!({
                "DomainArn": d.doc["DomainArn"], "DomainId": d.doc["DomainId"],
                "DomainName": d.doc["DomainName"], "Url": d.doc["Url"],
                "Status": d.busy.map(|(s, _)| s).unwrap_or("InService"),
                "CreationTime": d.doc["CreationTime"], "LastModifiedTime": d.doc["LastModifiedTime"],
            })
        })
        .collect();
    json_reply(StatusCode::OK, &json!({"Domains": domains}))
}

fn list_apps(st: &State, input: &Value) -> Response<Body> {
    let domain = input["DomainIdEquals"].as_str();
    let apps: Vec<Value> = st
        .apps
        .iter()
        .filter(|a| domain.is_none_or(|d| d == a.domain))
        .map(|a| {
            json!({
                "DomainId": a.domain, "UserProfileName": a.key.0, "AppType": a.key.1,
                "AppName": a.key.2, "Status": a.status, "CreationTime": a.created,
            })
        })
        .collect();
    json_reply(StatusCode::OK, &json!({"Apps": apps}))
}

/// The calls document for `GET /_emulator/sagemaker/calls`.
/// AccessDeniedException as SageMaker answers a role without the permission.
pub fn access_denied(op: &str) -> Response<Body> {
    error(
        StatusCode::BAD_REQUEST,
        "AccessDeniedException",
        format!(
            "User: arn:aws:sts::{ACCOUNT}:assumed-role/airlock/session is not authorized to perform: sagemaker:{op} because no identity-based policy allows the sagemaker:{op} action"
        ),
    )
}

pub fn calls_reply(sm: &SageMaker) -> Response<Body> {
    let calls: HashMap<String, u64> = sm.calls().into_iter().collect();
    json_reply(StatusCode::OK, &json!(calls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn call(sm: &SageMaker, op: &str, body: Value) -> (StatusCode, Value) {
        let r = sm.handle(
            &format!("SageMaker.{op}"),
            Some("AWS4-HMAC-SHA256 Credential=AKID/20261123/eu-west-1/sagemaker/aws4_request"),
            body.to_string().as_bytes(),
        );
        let status = r.status();
        let bytes = r.into_body().collect().await.expect("body").to_bytes();
        (status, serde_json::from_slice(&bytes).expect("json"))
    }

    #[tokio::test]
    async fn domains_move_through_their_states_and_refuse_what_aws_refuses() {
        let sm = SageMaker::new(Duration::from_millis(50));
        let (status, out) = call(
            &sm,
            "CreateDomain",
            json!({"DomainName": "d1", "AuthMode": "IAM",
            "DefaultUserSettings": {"ExecutionRole": "arn:aws:iam::111122223333:role/x"},
            "SubnetIds": ["subnet-1"], "VpcId": "vpc-1", "AppNetworkAccessType": "VpcOnly",
            "KmsKeyId": "k1"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let arn = out["DomainArn"].as_str().expect("arn");
        assert!(
            arn.starts_with("arn:aws:sagemaker:eu-west-1:111122223333:domain/d-"),
            "{arn}"
        );
        let id = arn.rsplit('/').next().expect("id").to_string();
        assert_eq!(id.len(), 14);
        assert!(
            id[2..]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{id}"
        );
        let (_, d) = call(&sm, "DescribeDomain", json!({"DomainId": id})).await;
        assert_eq!(d["Status"], "Pending");
        // Busy: no update until it is InService.
        let (status, e) = call(
            &sm,
            "UpdateDomain",
            json!({"DomainId": id, "AppNetworkAccessType": "PublicInternetOnly"}),
        )
        .await;
        assert_eq!(
            (status, e["__type"].as_str()),
            (StatusCode::BAD_REQUEST, Some("ResourceInUse"))
        );
        tokio::time::sleep(Duration::from_millis(80)).await;
        let (_, d) = call(&sm, "DescribeDomain", json!({"DomainId": id})).await;
        assert_eq!(d["Status"], "InService");
        // The KMS key and the VPC cannot change in place (VpcId may only repeat the domain's).
        for field in ["KmsKeyId", "VpcId"] {
            let (status, e) = call(&sm, "UpdateDomain", json!({"DomainId": id, field: "x"})).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert_eq!(e["__type"], "ValidationException");
            assert!(e["Message"].as_str().unwrap_or("").contains(field));
        }
        // Back to VpcOnly needs the subnets in the same call.
        let (status, _) = call(
            &sm,
            "UpdateDomain",
            json!({"DomainId": id, "AppNetworkAccessType": "PublicInternetOnly"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(80)).await;
        // Back to VpcOnly takes the VPC as well as the subnets, as AWS requires since VpcId joined
        // UpdateDomain.
        for input in [
            json!({"DomainId": id, "AppNetworkAccessType": "VpcOnly"}),
            json!({"DomainId": id, "AppNetworkAccessType": "VpcOnly", "SubnetIds": ["subnet-1"]}),
        ] {
            let (_, e) = call(&sm, "UpdateDomain", input).await;
            assert_eq!(e["__type"], "ValidationException");
            assert_eq!(
                e["Message"],
                "VpcId and Subnet IDs are required for updating domains to VpcOnly mode"
            );
        }
        let (status, e) = call(&sm, "DescribeDomain", json!({"DomainId": "d-000000000000"})).await;
        assert_eq!(
            (status, e["__type"].as_str()),
            (StatusCode::BAD_REQUEST, Some("ResourceNotFound"))
        );
        // A running app blocks deletion and network changes.
        let (_, app) = call(&sm, "CreateApp", json!({"DomainId": id, "UserProfileName": "u", "AppType": "JupyterLab", "AppName": "default"})).await;
        let app_arn = app["AppArn"].as_str().unwrap_or_default();
        assert!(
            app_arn.starts_with(&format!(
                "arn:aws:sagemaker:eu-west-1:111122223333:app/{id}/u/"
            )),
            "an app's ARN carries its domain's region: {app_arn}"
        );
        let (_, e) = call(&sm, "DeleteDomain", json!({"DomainId": id})).await;
        assert_eq!(e["__type"], "ResourceInUse");
        let (_, e) = call(
            &sm,
            "UpdateDomain",
            json!({"DomainId": id, "AppNetworkAccessType": "VpcOnly", "SubnetIds": ["subnet-1"], "VpcId": "vpc-1"}),
        )
        .await;
        assert_eq!(e["__type"], "ValidationException");
        assert!(
            e["Message"]
                .as_str()
                .unwrap_or("")
                .starts_with("Unable to update Domain [arn:aws:sagemaker:"),
            "{e}"
        );
        assert_eq!(sm.calls()["UpdateDomain"], 7);
    }
}
