//! What the embedded API server of `airlock dev` holds under the loads issue 18 names: many large
//! updates (the watch log), watchers that never read, and an expensive CEL rule. Each scenario runs
//! on a fresh `airlock dev --no-controller` and prints the server's peak RSS (`VmHWM`) and times.
//!
//! `cargo bench --bench dev_apiserver` (loopback only).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    addr: String,
    dir: std::path::PathBuf,
}

impl Server {
    fn start(name: &str) -> Server {
        let dir =
            std::env::temp_dir().join(format!("airlock-bench-api-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut child = Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args([
                "dev",
                "--no-controller",
                "--port",
                "0",
                "--advisories-url",
                "off",
                "--data-dir",
            ])
            .arg(&dir)
            .env_remove("KUBEBUILDER_ASSETS")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("airlock dev");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("first line");
        let kubeconfig = line
            .trim()
            .trim_start_matches("export KUBECONFIG=")
            .to_string();
        let config = std::fs::read_to_string(&kubeconfig).expect("kubeconfig");
        let addr = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("server: http://"))
            .expect("server")
            .to_string();
        Server { child, addr, dir }
    }

    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }

    fn request(&self, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(300))).ok();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .expect("write");
        s.write_all(body.as_bytes()).expect("body");
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer).into_owned();
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (code, text)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn configmap(name: &str, size: usize, n: usize) -> String {
    let data = format!("{n:08}{}", "x".repeat(size.saturating_sub(8)));
    format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}"}},"data":{{"blob":"{data}"}}}}"#
    )
}

/// 400 updates of a 2.9 MB ConfigMap: what the watch log keeps of them.
fn watch_log() {
    let server = Server::start("log");
    let path = "/api/v1/namespaces/default/configmaps";
    let started = Instant::now();
    let (code, _) = server.request("POST", path, &configmap("big", 2_900_000, 0));
    assert_eq!(code, 201);
    for n in 1..=400 {
        let (code, text) = server.request(
            "PUT",
            &format!("{path}/big"),
            &configmap("big", 2_900_000, n),
        );
        assert_eq!(code, 200, "{}", &text[..text.len().min(300)]);
    }
    println!(
        "watch log: 400 updates of a 2.9 MB ConfigMap in {:.1} s, peak RSS {:.0} MiB",
        started.elapsed().as_secs_f64(),
        server.peak_rss_mib()
    );
}

/// 50 watchers that never read, then 70 writes of 1 MiB: what the server buffers for them.
fn slow_watchers() {
    let server = Server::start("watchers");
    let path = "/api/v1/namespaces/default/configmaps";
    let watchers: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).expect("connect");
            write!(
                s,
                "GET {path}?watch=true HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n"
            )
            .expect("watch");
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let started = Instant::now();
    for n in 0..70 {
        let (code, _) = server.request("POST", path, &configmap(&format!("cm-{n}"), 1 << 20, n));
        assert_eq!(code, 201);
    }
    std::thread::sleep(Duration::from_secs(2));
    println!(
        "slow watchers: 50 that never read, 70 writes of 1 MiB in {:.1} s, peak RSS {:.0} MiB",
        started.elapsed().as_secs_f64(),
        server.peak_rss_mib()
    );
    drop(watchers);
}

/// A CRD whose rule compares every pair of a list's items, and an object with 3 000 of them:
/// how long the create takes, and how long a read waits meanwhile.
fn expensive_cel() {
    let server = Server::start("cel");
    let crd = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"pairs.bench.airlock.dev"},"spec":{"group":"bench.airlock.dev","scope":"Namespaced","names":{"plural":"pairs","singular":"pair","kind":"Pair"},"versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object","properties":{"items":{"type":"array","items":{"type":"string"}}},"x-kubernetes-validations":[{"rule":"self.items.all(a, self.items.all(b, a == b || a != b))"}]}}}}}]}}"#;
    let (code, text) = server.request(
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        crd,
    );
    let crd_line = text
        .lines()
        .last()
        .unwrap_or_default()
        .chars()
        .take(300)
        .collect::<String>();
    println!("expensive CEL: creating the CRD answered {code}: {crd_line}");
    if code != 201 {
        return;
    }
    std::thread::sleep(Duration::from_secs(1));
    let items: Vec<String> = (0..3000).map(|i| format!("\"item-{i}\"")).collect();
    let object = format!(
        r#"{{"apiVersion":"bench.airlock.dev/v1","kind":"Pair","metadata":{{"name":"p"}},"spec":{{"items":[{}]}}}}"#,
        items.join(",")
    );
    let reader = {
        let addr = server.addr.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            let started = Instant::now();
            let mut s = TcpStream::connect(&addr).expect("connect");
            write!(
                s,
                "GET /api/v1/namespaces HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            .expect("get");
            let mut b = Vec::new();
            let _ = s.read_to_end(&mut b);
            started.elapsed()
        })
    };
    let started = Instant::now();
    let (code, text) = server.request(
        "POST",
        "/apis/bench.airlock.dev/v1/namespaces/default/pairs",
        &object,
    );
    let took = started.elapsed();
    let waited = reader.join().unwrap_or_default();
    let last = text
        .lines()
        .last()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect::<String>();
    println!(
        "expensive CEL: create answered {code} after {:.1} s ({last}); a read meanwhile waited {:.2} s",
        took.as_secs_f64(),
        waited.as_secs_f64()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    watch_log();
    slow_watchers();
    expensive_cel();
}
