//! The content rules, as data: adding a rule is one entry here and one positive and one negative
//! fixture in `tests/heuristics.rs`. Patterns are `regex` syntax over bytes (one `RegexSet` runs
//! them all in a single pass per file); the id is what policies and exceptions name.

use crate::api::package_request::Severity;

/// Which files a rule reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Python source (`.py`, `.pyw`).
    Python,
    /// `setup.py` at any depth.
    SetupPy,
    /// `.pth` files, which Python executes at every interpreter start.
    Pth,
    /// JavaScript (`.js`, `.cjs`, `.mjs`, `.ts`).
    JavaScript,
    /// Shell and batch scripts, which installers never run by themselves.
    Shell,
    /// Python and JavaScript: what an install or an import runs.
    Program,
    /// Python, JavaScript and shell scripts.
    Code,
    /// node-gyp build files (`binding.gyp`, `*.gypi`), which `npm install` runs through
    /// `node-gyp rebuild` whenever a package has a `binding.gyp`.
    Gyp,
}

/// How a rule looks at a file.
#[derive(Clone, Copy, Debug)]
pub enum Check {
    /// A regular expression (all of them run together as one `RegexSet`).
    Pattern(&'static str),
    /// A line at least this long.
    LongLine(usize),
    /// A run of at least this many base64 characters, or of `\xNN` escapes (a quarter as many).
    EncodedRun(usize),
    /// The pattern, keeping only matches whose first capture group is a public IPv4 address.
    PublicIp(&'static str),
    /// A gyp command expansion (`<!(…)`, `<!@(…)`) other than the standard look-up of an addon
    /// header package's directory (`node -p "require('node-addon-api').include"`).
    GypCommand,
}

pub struct Rule {
    pub id: &'static str,
    pub severity: Severity,
    pub scope: Scope,
    /// What a reviewer should know.
    pub title: &'static str,
    pub check: Check,
}

pub const RULES: &[Rule] = &[
    Rule {
        id: "heuristics.setup-network",
        severity: Severity::High,
        scope: Scope::SetupPy,
        title: "setup.py reaches the network at install time",
        check: Check::Pattern(
            r"urllib\.request|urlopen\(|requests\.(get|post)\(|http\.client|socket\.socket\(|urllib2",
        ),
    },
    Rule {
        id: "heuristics.setup-command",
        // Low alone: many honest setup.py files shell out (git describe, a publish helper); it
        // counts towards the score with anything else.
        severity: Severity::Low,
        scope: Scope::SetupPy,
        title: "setup.py runs commands at install time",
        check: Check::Pattern(
            r"os\.system\(|os\.popen\(|subprocess\.(Popen|call|run|check_output|check_call)\(",
        ),
    },
    Rule {
        id: "heuristics.pth-exec",
        severity: Severity::Medium,
        scope: Scope::Pth,
        title: "a .pth file runs code at every Python start",
        check: Check::Pattern(r"(?m)^\s*import\s"),
    },
    Rule {
        id: "heuristics.pth-payload",
        severity: Severity::Critical,
        scope: Scope::Pth,
        title: "a .pth file decodes, downloads or spawns at every Python start",
        check: Check::Pattern(
            r"(?m)^\s*import\s.*(b64decode|exec\(|eval\(|urlopen|subprocess|socket|marshal)",
        ),
    },
    Rule {
        id: "heuristics.download-exec",
        severity: Severity::Critical,
        scope: Scope::Program,
        title: "downloads code and runs it",
        check: Check::Pattern(
            r"(curl|wget)\s[^\n|]{0,200}\|\s*(sudo\s+)?(ba|z)?sh\b|(exec|eval)\((urllib\.request\.)?urlopen\(|(exec|eval)\(\s*requests\.get\(|urlretrieve\([^\n]{0,200}\)[^\n]{0,100}(os\.system|subprocess|chmod)|execSync\(\s*['`](curl|wget)\s",
        ),
    },
    Rule {
        id: "heuristics.download-exec-script",
        // CI and packaging scripts shipped in sdists pipe installers into shells all the time;
        // nothing runs them at install time unless setup.py does (which its own rules catch).
        severity: Severity::Low,
        scope: Scope::Shell,
        title: "a shell script downloads code and runs it",
        check: Check::Pattern(r"(curl|wget)\s[^\n|]{0,200}\|\s*(sudo\s+)?(ba|z)?sh\b"),
    },
    Rule {
        id: "heuristics.decode-exec",
        severity: Severity::Critical,
        scope: Scope::Code,
        title: "decodes hidden code and runs it",
        check: Check::Pattern(
            r"(exec|eval)\s*\(\s*(base64\.b64decode|base64\.b32decode|zlib\.decompress|marshal\.loads|bytes\.fromhex|codecs\.decode|binascii\.a2b|__import__\(\s*['\x22](base64|zlib|marshal)|compile\(\s*base64)|\beval\s*\(\s*(atob|Buffer\.from)\s*\(|new\s+Function\s*\(\s*(atob|Buffer\.from)\s*\(",
        ),
    },
    Rule {
        id: "heuristics.encoded-blob",
        severity: Severity::Medium,
        scope: Scope::Python,
        title: "a very long encoded string in source code",
        check: Check::EncodedRun(3000),
    },
    Rule {
        id: "heuristics.minified-python",
        severity: Severity::Medium,
        scope: Scope::Python,
        title: "a Python line longer than 10 000 characters (minified or obfuscated)",
        check: Check::LongLine(10_000),
    },
    Rule {
        id: "heuristics.credential-paths",
        // Low alone: tools that manage credentials name these files (setuptools reads .pypirc);
        // it adds to the score with anything that sends data out.
        severity: Severity::Low,
        scope: Scope::Code,
        title: "reads credential stores",
        check: Check::Pattern(
            r"\.ssh/id_(rsa|ed25519|ecdsa|dsa)\b|\.docker/config\.json|\.pypirc|Login Data|Local State|\.mozilla/firefox|Library/Keychains|\.git-credentials|\.config/gcloud",
        ),
    },
    Rule {
        id: "heuristics.environment-exfiltration",
        severity: Severity::High,
        scope: Scope::Code,
        title: "sends the whole environment somewhere",
        check: Check::Pattern(
            r"(post|put|send|urlopen|request)\([^\n]{0,200}(dict\(os\.environ\)|os\.environ\.copy\(\)|json\.dumps\(\s*(dict\()?os\.environ|JSON\.stringify\(\s*process\.env\s*\))|(dict\(os\.environ\)|JSON\.stringify\(\s*process\.env\s*\))[^\n]{0,200}(post|put|send|urlopen|request)\(",
        ),
    },
    Rule {
        id: "heuristics.exfiltration-endpoint",
        severity: Severity::High,
        scope: Scope::Code,
        title: "a paste site, tunnel or out-of-band collector",
        check: Check::Pattern(
            r"pastebin\.com/raw|paste\.ee/|hastebin\.com|transfer\.sh|\.ngrok(-free)?\.(io|app)|trycloudflare\.com|pipedream\.net|webhook\.site|requestbin|\.oast\.(fun|pro|live|site|online|me)|burpcollaborator\.net|interact\.sh",
        ),
    },
    Rule {
        id: "heuristics.messaging-webhook",
        // Medium: notification integrations are legitimate (tqdm.contrib.telegram); stolen data
        // leaves through the same doors, so a human looks.
        severity: Severity::Medium,
        scope: Scope::Code,
        title: "a chat webhook or bot API",
        check: Check::Pattern(
            r"discord(app)?\.com/api/webhooks|hooks\.slack\.com/services/|api\.telegram\.org/bot",
        ),
    },
    Rule {
        id: "heuristics.raw-ip-url",
        severity: Severity::Medium,
        scope: Scope::Code,
        title: "a URL to a bare public IP address",
        check: Check::PublicIp(r"(?:https?|tcp|wss?)://(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})"),
    },
    Rule {
        id: "heuristics.gyp-command",
        severity: Severity::High,
        scope: Scope::Gyp,
        title: "binding.gyp runs a command while the addon builds at install time",
        check: Check::GypCommand,
    },
    Rule {
        id: "heuristics.reverse-shell",
        severity: Severity::Critical,
        scope: Scope::Code,
        title: "a reverse shell",
        check: Check::Pattern(
            r"bash\s+-i\s+>&\s*/dev/tcp/|/dev/tcp/\d{1,3}\.\d{1,3}|\bnc(at)?\s+(-\w+\s+)*-e\s+/bin/(ba)?sh|pty\.spawn\(\s*['\x22]/bin/(ba)?sh|os\.dup2\(\s*\w+\.fileno\(\)\s*,\s*[012]\s*\)|child_process[^\n]{0,100}spawn\(\s*['\x22]/bin/(ba)?sh['\x22][^\n]{0,100}net\.Socket",
        ),
    },
];
