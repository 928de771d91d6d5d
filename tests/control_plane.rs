//! The real control plane: `airlock dev --control-plane DIR` with kube-apiserver and etcd built by
//! `scripts/control-plane.sh`, and the RBAC in `deploy/` as that server enforces it. Without
//! `AIRLOCK_CONTROL_PLANE=DIR` (scripts/test.sh sets it where Go is installed; CI always) the
//! tests that need the binaries are reported as ignored.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::dev::{Dev, airlock_bin, tmp};

/// The directory with kube-apiserver and etcd.
fn plane() -> String {
    std::env::var("AIRLOCK_CONTROL_PLANE")
        .expect("AIRLOCK_CONTROL_PLANE names the directory scripts/control-plane.sh printed")
}

/// `airlock dev` with `args` on kube-apiserver and etcd.
fn on_the_real_server(name: &str, args: &[&str]) -> Dev {
    let plane = plane();
    let mut all = vec!["--control-plane", plane.as_str()];
    all.extend_from_slice(args);
    Dev::start(name, &all)
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The processes whose command line names `dir`: what `airlock dev` started there.
fn running_in(dir: &Path) -> Vec<String> {
    let out = Command::new("pgrep")
        .arg("-af")
        .arg(dir.join("control-plane"))
        .output()
        .expect("pgrep runs");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("pgrep"))
        .map(str::to_string)
        .collect()
}

fn wait_until_gone(dir: &Path) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = running_in(dir);
        if left.is_empty() || Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `airlock dev` run to its end: exit code and everything it printed.
fn dev_exits(dir: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut child = Command::new(airlock_bin())
        .args(["dev", "--no-controller", "--data-dir"])
        .arg(dir)
        .args(args)
        .env_remove("KUBEBUILDER_ASSETS")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("airlock dev starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("output");
    (out.status.code(), text(&out))
}

#[test]
fn a_control_plane_directory_without_the_binaries_names_what_is_missing_and_how_to_build_it() {
    let dir = tmp("cp-missing");
    let empty = dir.join("bin");
    std::fs::create_dir_all(&empty).expect("dir");
    let (code, out) = dev_exits(
        &dir,
        &["--port", "0", "--control-plane", &empty.to_string_lossy()],
    );
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("has no kube-apiserver") && out.contains("scripts/control-plane.sh"),
        "{out}"
    );

    std::fs::write(empty.join("kube-apiserver"), "").expect("write");
    let (code, out) = dev_exits(
        &dir,
        &["--port", "0", "--control-plane", &empty.to_string_lossy()],
    );
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("has no etcd") && out.contains("scripts/control-plane.sh"),
        "{out}"
    );
}

#[test]
#[cfg_attr(
    not(airlock_control_plane),
    ignore = "the real control plane was not run: AIRLOCK_CONTROL_PLANE=$(scripts/control-plane.sh) (needs Go); scripts/test.sh and CI set it"
)]
fn a_port_in_use_ends_with_the_servers_own_words_and_leaves_nothing_running() {
    let dir = tmp("cp-port");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port().to_string();
    let (code, out) = dev_exits(&dir, &["--port", &port, "--control-plane", &plane()]);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("kube-apiserver exited") && out.contains("address already in use"),
        "the error carries the last lines of kube-apiserver's log: {out}"
    );
    assert_eq!(
        wait_until_gone(&dir),
        Vec::<String>::new(),
        "etcd is stopped too"
    );
}

#[test]
#[cfg_attr(
    not(airlock_control_plane),
    ignore = "the real control plane was not run: AIRLOCK_CONTROL_PLANE=$(scripts/control-plane.sh) (needs Go); scripts/test.sh and CI set it"
)]
fn the_controller_runs_as_its_service_account_with_exactly_the_deployed_roles() {
    let dev = on_the_real_server("cp-identity", &[]);
    let controller = dev.dir.join("controller.kubeconfig");
    let out = Command::new("kubectl")
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .env("KUBECONFIG", &controller)
        .output()
        .expect("kubectl");
    assert_eq!(
        text(&out),
        "system:serviceaccount:airlock-system:airlock-controller"
    );
    // What the server lets that identity do, asked the way an administrator asks.
    let sa = "--as=system:serviceaccount:airlock-system:airlock-controller";
    for (args, allowed) in [
        (
            &[
                "patch",
                "packagerequests.airlock.dev",
                "--subresource=status",
                "-n",
                "team-a",
            ][..],
            true,
        ),
        (&["watch", "sagemakerdomains.airlock.dev", "-A"][..], true),
        (
            &["create", "events.events.k8s.io", "-n", "team-a"][..],
            true,
        ),
        (
            &[
                "update",
                "leases.coordination.k8s.io/airlock-controller",
                "-n",
                "airlock-system",
            ][..],
            true,
        ),
        (
            &[
                "update",
                "leases.coordination.k8s.io/someone-else",
                "-n",
                "airlock-system",
            ][..],
            false,
        ),
        (
            &["create", "packagerequests.airlock.dev", "-n", "team-a"][..],
            false,
        ),
        (
            &["delete", "packagerequests.airlock.dev", "-n", "team-a"][..],
            false,
        ),
        (&["patch", "scanpolicies.airlock.dev"][..], false),
        (&["get", "secrets", "-n", "airlock-system"][..], false),
    ] {
        let mut a = vec!["auth", "can-i"];
        a.extend_from_slice(args);
        a.push(sa);
        let out = dev.kubectl(&a, None);
        let answer = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(
            answer,
            if allowed { "yes" } else { "no" },
            "can-i {args:?}: {}",
            text(&out)
        );
    }
    // It holds its Lease in its own namespace, where the Role lets it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while dev.lease_holder().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        dev.lease_holder()
            .is_some_and(|h| h.starts_with("airlock-dev-")),
        "{}",
        dev.log()
    );
}

#[test]
#[cfg_attr(
    not(airlock_control_plane),
    ignore = "the real control plane was not run: AIRLOCK_CONTROL_PLANE=$(scripts/control-plane.sh) (needs Go); scripts/test.sh and CI set it"
)]
fn approving_takes_the_approver_role_and_a_requester_cannot_write_status() {
    let dev = on_the_real_server("cp-approve", &["--no-controller"]);
    let ok = |args: &[&str]| {
        let out = dev.kubectl(args, None);
        assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    // Two people as the platform team would set them up: a requester and an approver.
    let mut kubeconfigs = Vec::new();
    for (who, role) in [("alice", "airlock-requester"), ("bob", "airlock-approver")] {
        ok(&["create", "serviceaccount", who, "-n", "team-a"]);
        ok(&[
            "create",
            "rolebinding",
            &format!("{who}-{role}"),
            &format!("--clusterrole={role}"),
            &format!("--serviceaccount=team-a:{who}"),
            "-n",
            "team-a",
        ]);
        let token = ok(&["create", "token", who, "-n", "team-a", "--duration=1h"]);
        let path = dev.dir.join(format!("{who}.kubeconfig"));
        std::fs::copy(dev.var("KUBECONFIG"), &path).expect("copy");
        for args in [
            vec![
                "config",
                "set-credentials",
                who,
                &format!("--token={token}"),
            ],
            vec![
                "config",
                "set-context",
                "--current",
                &format!("--user={who}"),
                "--namespace=team-a",
            ],
        ] {
            let out = Command::new("kubectl")
                .args(&args)
                .env("KUBECONFIG", &path)
                .output()
                .expect("kubectl");
            assert!(out.status.success(), "{}", text(&out));
        }
        kubeconfigs.push(path);
    }
    let as_user = |kubeconfig: &Path, program: &str, args: &[&str], stdin: Option<&str>| {
        use std::io::Write;
        let mut child = Command::new(program)
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        let mut input = child.stdin.take().expect("stdin");
        input
            .write_all(stdin.unwrap_or("").as_bytes())
            .expect("write");
        drop(input);
        child.wait_with_output().expect("output")
    };
    let (alice, bob) = (&kubeconfigs[0], &kubeconfigs[1]);

    let out = as_user(
        alice,
        "kubectl",
        &["apply", "-f", "-"],
        Some(
            "apiVersion: airlock.dev/v1alpha1\nkind: PackageRequest\nmetadata: {name: numpy, namespace: team-a}\nspec: {ecosystem: pypi, name: numpy, version: '2.1.3', repositoryRef: builtin, justification: notebooks}\n",
        ),
    );
    assert!(
        out.status.success(),
        "a requester may create requests: {}",
        text(&out)
    );

    let out = as_user(
        alice,
        airlock_bin(),
        &["approve", "numpy", "--reason", "looks fine to me"],
        None,
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(
        said.contains("system:serviceaccount:team-a:alice") && said.contains("airlock-approver"),
        "the refusal names who was refused and the role that is needed: {said}"
    );
    let out = as_user(
        alice,
        "kubectl",
        &[
            "patch",
            "pkgreq",
            "numpy",
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"phase":"Published"}}"#,
        ],
        None,
    );
    assert!(
        !out.status.success() && text(&out).contains("forbidden"),
        "{}",
        text(&out)
    );

    let out = as_user(
        bob,
        airlock_bin(),
        &["approve", "numpy", "--reason", "reviewed in DS-7"],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("approved by system:serviceaccount:team-a:bob"),
        "{}",
        text(&out)
    );
    let r = dev.request("team-a", "numpy");
    let approved = r["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Approved"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        approved["message"],
        "approved by system:serviceaccount:team-a:bob: reviewed in DS-7"
    );
}

#[test]
#[cfg_attr(
    not(airlock_control_plane),
    ignore = "the real control plane was not run: AIRLOCK_CONTROL_PLANE=$(scripts/control-plane.sh) (needs Go); scripts/test.sh and CI set it"
)]
fn the_deploy_base_is_accepted_by_the_real_server() {
    let dev = on_the_real_server("cp-deploy", &["--no-controller"]);
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let out = dev.kubectl(
        &["apply", "-k", &deploy.to_string_lossy(), "--dry-run=server"],
        None,
    );
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    for object in [
        "deployment.apps/airlock-controller",
        "clusterrole.rbac.authorization.k8s.io/airlock-controller",
        "networkpolicy.networking.k8s.io/",
    ] {
        assert!(said.contains(object), "{object} in {said}");
    }
}

#[test]
#[cfg_attr(
    not(airlock_control_plane),
    ignore = "the real control plane was not run: AIRLOCK_CONTROL_PLANE=$(scripts/control-plane.sh) (needs Go); scripts/test.sh and CI set it"
)]
fn nothing_is_left_running_however_airlock_dev_ends() {
    for signal in ["-TERM", "-KILL"] {
        let dev = on_the_real_server(
            &format!("cp-stop{}", signal.to_lowercase()),
            &["--no-controller"],
        );
        let dir = dev.dir.clone();
        assert_eq!(
            running_in(&dir).len(),
            2,
            "etcd and kube-apiserver run: {:?}",
            running_in(&dir)
        );
        let status = Command::new("kill")
            .args([signal, &dev.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        assert_eq!(
            wait_until_gone(&dir),
            Vec::<String>::new(),
            "after kill {signal}"
        );
        drop(dev);
    }
}
