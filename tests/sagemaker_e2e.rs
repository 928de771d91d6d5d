//! The SageMakerDomain controller end to end: `airlock dev` (API server, controller, SageMaker
//! emulator), out-of-band changes made with the real `aws-sdk-sagemaker` client, the resource
//! driven with the real `kubectl`.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sagemaker::Client;
use aws_sdk_sagemaker::types::{
    AppNetworkAccessType, AppType, AuthMode, DomainSettings, DomainSettingsForUpdate, UserSettings,
};
use common::dev::Dev;
use serde_json::Value;

const KEY_1: &str = "arn:aws:kms:us-east-1:111122223333:key/11111111-1111-1111-1111-111111111111";
const KEY_2: &str = "arn:aws:kms:us-east-1:111122223333:key/22222222-2222-2222-2222-222222222222";

fn sdk(dev: &Dev) -> Client {
    common::aws::sagemaker(dev.var("AWS_ENDPOINT_URL"))
}

fn calls(dev: &Dev) -> HashMap<String, u64> {
    common::aws::sagemaker_calls(dev.var("AWS_ENDPOINT_URL"))
}

fn count(c: &HashMap<String, u64>, op: &str) -> u64 {
    c.get(op).copied().unwrap_or(0)
}

/// Creates a domain out of band and waits until it is InService; its id.
async fn create_domain(sm: &Client, name: &str, network: &str, key: &str) -> String {
    let out = sm
        .create_domain()
        .domain_name(name)
        .auth_mode(AuthMode::Iam)
        .default_user_settings(
            UserSettings::builder()
                .execution_role("arn:aws:iam::111122223333:role/exec")
                .security_groups("sg-0a1b2c3d4e5f60718")
                .build(),
        )
        .domain_settings(
            DomainSettings::builder()
                .security_group_ids("sg-0a1b2c3d4e5f60718")
                .build(),
        )
        .vpc_id("vpc-0a1b2c3d4e5f60718")
        .subnet_ids("subnet-0123456789abcdef0")
        .subnet_ids("subnet-0fedcba9876543210")
        .app_network_access_type(AppNetworkAccessType::from(network))
        .kms_key_id(key)
        .send()
        .await
        .expect("CreateDomain");
    let id = out
        .domain_arn()
        .and_then(|a| a.rsplit('/').next())
        .expect("arn")
        .to_string();
    assert!(id.starts_with("d-") && id.len() == 14, "{id}");
    wait_domain(sm, &id, "InService", |_| true).await;
    id
}

async fn wait_domain(
    sm: &Client,
    id: &str,
    status: &str,
    pred: impl Fn(&aws_sdk_sagemaker::operation::describe_domain::DescribeDomainOutput) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let d = sm
            .describe_domain()
            .domain_id(id)
            .send()
            .await
            .expect("DescribeDomain");
        if d.status().map(|s| s.as_str()) == Some(status) && pred(&d) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "domain {id} never reached {status}: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn manifest(name: &str, id: &str, policy: &str, network: &str, key: &str) -> String {
    format!(
        "apiVersion: airlock.dev/v1alpha1\nkind: SageMakerDomain\nmetadata: {{name: {name}, namespace: default}}\nspec:\n  domainId: {id}\n  region: us-east-1\n  managementPolicy: {policy}\n  resyncPeriod: 2s\n  network:\n    appNetworkAccessType: {network}\n    vpcId: vpc-0a1b2c3d4e5f60718\n    subnetIds: [subnet-0123456789abcdef0, subnet-0fedcba9876543210]\n    securityGroupIds: [sg-0a1b2c3d4e5f60718]\n  encryption:\n    kmsKeyId: {key}\n"
    )
}

fn get(dev: &Dev, name: &str) -> Value {
    dev.get_json(&["smd", name, "-n", "default"])
        .expect("sagemakerdomain")
}

fn condition<'a>(r: &'a Value, type_: &str) -> &'a Value {
    r["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == type_))
        .unwrap_or(&Value::Null)
}

async fn wait_resource(dev: &Dev, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let r = get(dev, name);
        if pred(&r) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never {what}: {}\n{}",
            r["status"],
            dev.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn start(name: &str) -> Dev {
    let name = name.to_string();
    tokio::task::spawn_blocking(move || Dev::start(&name, &[]))
        .await
        .expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_corrects_out_of_band_drift_and_an_idle_resync_is_one_describe() {
    let dev = start("smd-enforce").await;
    let sm = sdk(&dev);
    let id = create_domain(&sm, "team-a-studio", "VpcOnly", KEY_1).await;
    dev.apply(&manifest("studio", &id, "Enforce", "VpcOnly", KEY_1));
    let out = dev.kubectl(
        &[
            "wait",
            "--for=condition=Ready",
            "smd/studio",
            "-n",
            "default",
            "--timeout=30s",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        dev.log()
    );
    let r = get(&dev, "studio");
    assert_eq!(r["status"]["domainId"], id.as_str());
    assert_eq!(r["status"]["inSync"], true);
    assert_eq!(r["status"]["appNetworkAccessType"], "VpcOnly");
    assert!(r["status"]["url"].as_str().unwrap_or("").contains(&id));
    assert!(r["status"]["lastSyncTime"].is_string());
    assert_eq!(condition(&r, "Drifted")["status"], "False");

    // In sync, each resync (every 2 s here) is one DescribeDomain and nothing else.
    let before = calls(&dev);
    tokio::time::sleep(Duration::from_secs(7)).await;
    let after = calls(&dev);
    let describes = count(&after, "DescribeDomain") - count(&before, "DescribeDomain");
    assert!(
        (2..=5).contains(&describes),
        "{describes} DescribeDomain in 7 s at a 2 s resync"
    );
    for op in ["UpdateDomain", "ListApps", "ListDomains", "CreateDomain"] {
        assert_eq!(count(&after, op), count(&before, op), "{op} while in sync");
    }

    // Someone opens the domain to the internet, out of band: no Kubernetes event, only AWS.
    let opened = Instant::now();
    sm.update_domain()
        .domain_id(&id)
        .app_network_access_type(AppNetworkAccessType::PublicInternetOnly)
        .send()
        .await
        .expect("UpdateDomain out of band");
    wait_domain(&sm, &id, "InService", |d| {
        d.app_network_access_type() == Some(&AppNetworkAccessType::VpcOnly)
    })
    .await;
    // Reported, not asserted (timings belong in benchmarks): the resync is 2 s, each SageMaker
    // transition 0.8 s.
    eprintln!(
        "PublicInternetOnly -> VpcOnly again after {:.1}s",
        opened.elapsed().as_secs_f64()
    );

    // Someone adds a security group: removed again.
    sm.update_domain()
        .domain_id(&id)
        .domain_settings_for_update(
            DomainSettingsForUpdate::builder()
                .security_group_ids("sg-0a1b2c3d4e5f60718")
                .security_group_ids("sg-0bad0bad0bad0bad0")
                .build(),
        )
        .send()
        .await
        .expect("UpdateDomain out of band");
    wait_domain(&sm, &id, "InService", |d| {
        d.domain_settings().map(|s| s.security_group_ids().to_vec())
            == Some(vec!["sg-0a1b2c3d4e5f60718".to_string()])
    })
    .await;
    let events: Vec<Value> = dev
        .get_json(&[
            "events",
            "-n",
            "default",
            "--field-selector",
            "involvedObject.name=studio",
        ])
        .and_then(|l| l["items"].as_array().cloned())
        .unwrap_or_default();
    // Each correction is its own event, naming the field it set back.
    let corrections: Vec<&str> = events
        .iter()
        .filter(|e| e["reason"] == "DriftCorrected")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(
        corrections.iter().any(|m| m.starts_with(
            "network.appNetworkAccessType: set back to VpcOnly (was PublicInternetOnly"
        )),
        "{corrections:?}"
    );
    assert!(
        corrections
            .iter()
            .any(|m| m.starts_with("network.securityGroupIds: set back to [sg-0a1b2c3d4e5f60718]")),
        "{corrections:?}"
    );
    let r = get(&dev, "studio");
    assert_eq!(
        r["status"]["lastCorrection"]["fields"][0]["field"], "network.securityGroupIds",
        "status keeps the last correction: {r}"
    );
    wait_resource(&dev, "studio", "back in sync", |r| {
        condition(r, "Ready")["status"] == "True"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn immutable_drift_stalls_observe_reports_and_a_deleted_domain_is_not_recreated() {
    let dev = start("smd-observe").await;
    let sm = sdk(&dev);
    // A domain on another KMS key than declared: reported with both keys, never updated.
    let wrong_key = create_domain(&sm, "wrong-key", "VpcOnly", KEY_2).await;
    // A domain open to the internet, watched in Observe mode.
    let open = create_domain(&sm, "open-domain", "PublicInternetOnly", KEY_1).await;
    dev.apply(&manifest(
        "wrong-key",
        &wrong_key,
        "Enforce",
        "VpcOnly",
        KEY_1,
    ));
    dev.apply(&manifest("observed", &open, "Observe", "VpcOnly", KEY_1));

    let r = wait_resource(&dev, "wrong-key", "stalled", |r| {
        condition(r, "Stalled")["status"] == "True"
    })
    .await;
    let stalled = condition(&r, "Stalled");
    assert_eq!(stalled["reason"], "ImmutableFieldDrift");
    let msg = stalled["message"].as_str().unwrap_or("");
    assert!(
        msg.contains(KEY_1)
            && msg.contains(KEY_2)
            && msg.contains("encryption.kmsKeyId")
            && msg.contains("replaced"),
        "{msg}"
    );
    assert_eq!(condition(&r, "Ready")["status"], "False");
    assert_eq!(condition(&r, "Drifted")["status"], "True");
    assert_eq!(r["status"]["drift"][0]["correctable"], false);

    let r = wait_resource(&dev, "observed", "stalled", |r| {
        condition(r, "Stalled")["status"] == "True"
    })
    .await;
    assert_eq!(condition(&r, "Stalled")["reason"], "DriftObserved");
    assert_eq!(condition(&r, "Drifted")["status"], "True");
    assert!(
        condition(&r, "Drifted")["message"]
            .as_str()
            .unwrap_or("")
            .contains("network.appNetworkAccessType: declared VpcOnly, actual PublicInternetOnly")
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let c = calls(&dev);
    assert_eq!(
        count(&c, "UpdateDomain"),
        0,
        "neither domain was ever updated: {c:?}"
    );
    let d = sm
        .describe_domain()
        .domain_id(&open)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        d.app_network_access_type(),
        Some(&AppNetworkAccessType::PublicInternetOnly)
    );

    // The adopted domain is deleted out of band: reported, not recreated.
    sm.delete_domain()
        .domain_id(&wrong_key)
        .send()
        .await
        .expect("DeleteDomain");
    let r = wait_resource(&dev, "wrong-key", "reported missing", |r| {
        condition(r, "Stalled")["reason"] == "DomainNotFound"
    })
    .await;
    assert!(
        condition(&r, "Stalled")["message"]
            .as_str()
            .unwrap_or("")
            .contains(&wrong_key)
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        count(&calls(&dev), "CreateDomain"),
        2,
        "only the test's own two CreateDomain calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_app_delays_the_network_switch_and_created_domains_are_deleted_by_policy() {
    let dev = start("smd-apps").await;
    let sm = sdk(&dev);
    let id = create_domain(&sm, "busy-domain", "PublicInternetOnly", KEY_1).await;
    sm.create_app()
        .domain_id(&id)
        .user_profile_name("alice")
        .app_type(AppType::JupyterLab)
        .app_name("default")
        .send()
        .await
        .expect("CreateApp");
    dev.apply(&manifest("busy", &id, "Enforce", "VpcOnly", KEY_1));
    let r = wait_resource(&dev, "busy", "waiting on apps", |r| {
        condition(r, "Reconciling")["reason"] == "AppsInService"
    })
    .await;
    assert_eq!(condition(&r, "Reconciling")["status"], "True");
    let msg = condition(&r, "Reconciling")["message"]
        .as_str()
        .unwrap_or("");
    assert!(msg.contains("alice") && msg.contains("default"), "{msg}");
    let d = sm
        .describe_domain()
        .domain_id(&id)
        .send()
        .await
        .expect("describe");
    assert_eq!(
        d.app_network_access_type(),
        Some(&AppNetworkAccessType::PublicInternetOnly)
    );
    sm.delete_app()
        .domain_id(&id)
        .user_profile_name("alice")
        .app_type(AppType::JupyterLab)
        .app_name("default")
        .send()
        .await
        .expect("DeleteApp");
    wait_domain(&sm, &id, "InService", |d| {
        d.app_network_access_type() == Some(&AppNetworkAccessType::VpcOnly)
    })
    .await;
    wait_resource(&dev, "busy", "ready", |r| {
        condition(r, "Ready")["status"] == "True"
    })
    .await;

    // create: true makes the domain; deletionPolicy Delete removes it with the resource.
    dev.apply("apiVersion: airlock.dev/v1alpha1\nkind: SageMakerDomain\nmetadata: {name: fresh, namespace: default}\nspec:\n  domainName: fresh-studio\n  create: true\n  region: us-east-1\n  resyncPeriod: 2s\n  deletionPolicy: Delete\n  executionRoleArn: arn:aws:iam::111122223333:role/exec\n  network:\n    appNetworkAccessType: VpcOnly\n    vpcId: vpc-0a1b2c3d4e5f60718\n    subnetIds: [subnet-0123456789abcdef0]\n    securityGroupIds: [sg-0a1b2c3d4e5f60718]\n  encryption: {kmsKeyId: 11111111-1111-1111-1111-111111111111}\n");
    let r = wait_resource(&dev, "fresh", "ready", |r| {
        condition(r, "Ready")["status"] == "True"
    })
    .await;
    let fresh = r["status"]["domainId"]
        .as_str()
        .expect("domain id")
        .to_string();
    let d = sm
        .describe_domain()
        .domain_id(&fresh)
        .send()
        .await
        .expect("describe");
    assert_eq!(d.domain_name(), Some("fresh-studio"));
    assert_eq!(
        d.app_network_access_type(),
        Some(&AppNetworkAccessType::VpcOnly)
    );
    let out = dev.kubectl(
        &["delete", "smd", "fresh", "-n", "default", "--timeout=30s"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match sm.describe_domain().domain_id(&fresh).send().await {
            Err(e)
                if aws_sdk_sagemaker::error::ProvideErrorMetadata::code(&e)
                    == Some("ResourceNotFound") =>
            {
                break;
            }
            _ => {}
        }
        assert!(Instant::now() < deadline, "the domain was not deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A domain on a long resync is not compared with AWS for an hour; `airlock reconcile smd`
/// compares it now, and returns once the controller has acted on the request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn airlock_reconcile_compares_a_domain_now() {
    let dev = start("smd-reconcile").await;
    let sm = sdk(&dev);
    let id = create_domain(&sm, "team-r-studio", "VpcOnly", KEY_1).await;
    let slow = manifest("slow", &id, "Enforce", "VpcOnly", KEY_1)
        .replace("resyncPeriod: 2s", "resyncPeriod: 1h");
    dev.apply(&slow);
    wait_resource(&dev, "slow", "ready", |r| {
        condition(r, "Ready")["status"] == "True"
    })
    .await;
    sm.update_domain()
        .domain_id(&id)
        .app_network_access_type(AppNetworkAccessType::PublicInternetOnly)
        .send()
        .await
        .expect("UpdateDomain out of band");
    wait_domain(&sm, &id, "InService", |d| {
        d.app_network_access_type() == Some(&AppNetworkAccessType::PublicInternetOnly)
    })
    .await;
    let updates = count(&calls(&dev), "UpdateDomain");
    let kubeconfig = dev.var("KUBECONFIG").to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(common::dev::airlock_bin())
            .args([
                "reconcile",
                "smd",
                "slow",
                "-n",
                "default",
                "--timeout",
                "30s",
            ])
            .env("KUBECONFIG", kubeconfig)
            .output()
            .expect("airlock reconcile runs")
    })
    .await
    .expect("join");
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.starts_with("smd default/slow reconciled: Ready="),
        "{said}"
    );
    let r = get(&dev, "slow");
    assert!(r["status"]["lastHandledReconcileAt"].is_string(), "{r}");
    assert!(
        count(&calls(&dev), "UpdateDomain") > updates,
        "the drift was corrected by the requested reconcile, not a resync an hour away"
    );
    wait_domain(&sm, &id, "InService", |d| {
        d.app_network_access_type() == Some(&AppNetworkAccessType::VpcOnly)
    })
    .await;

    // `kubectl get events` prints the columns it prints against any cluster.
    let out = dev.kubectl(&["get", "events", "-n", "default"], None);
    let table = String::from_utf8_lossy(&out.stdout).to_string();
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains("DriftCorrected") && l.contains("sagemakerdomain/slow")),
        "{table}"
    );

    // Something that is not there is named.
    let kubeconfig = dev.var("KUBECONFIG").to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(common::dev::airlock_bin())
            .args(["reconcile", "pkgreq", "nothing-here", "-n", "default"])
            .env("KUBECONFIG", kubeconfig)
            .output()
            .expect("airlock reconcile runs")
    })
    .await
    .expect("join");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("pkgreq default/nothing-here does not exist"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
