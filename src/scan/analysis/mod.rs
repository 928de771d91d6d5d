//! Behaviour analysis: what a package's code does, not what a line looks like.
//!
//! Python is parsed into an AST ([`python`]); string expressions are folded where they can be
//! evaluated statically (concatenation, reversal, `chr` arithmetic, `join`, `replace`, escapes)
//! and encoded literals are decoded a bounded number of layers deep ([`decode`]), the decoded code
//! analysed again. Each call and string becomes a [`Fact`] about the unit (function or module)
//! it sits in; values carry where their content came from ([`Origin`]: downloaded, decoded, a
//! credential store, the whole environment, a data file) through assignments, so a sink sees its
//! sources. [`judge`] turns the facts into findings by flows (source → sink) and combinations,
//! each finding's evidence naming both ends with file and line.
//!
//! Files that cannot matter are never parsed: [`worth_parsing`] is a literal prefilter over the
//! bytes, so a package's plain modules cost one pass at memory speed.

pub mod decode;
pub mod javascript;
pub mod python;
pub mod strings;

use std::collections::HashSet;
use std::sync::LazyLock;

use crate::api::package_request::Severity;
use crate::pipeline::unpack::Finding;

/// Where in the package something happens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub file: String,
    pub line: u32,
}

impl std::fmt::Display for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

/// When the code around a fact runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum When {
    /// `setup.py`, a build hook: `pip install` of the sdist runs it.
    Install,
    /// A `.pth` file's import lines: every Python start runs them.
    EveryStart,
    /// A module's top level: importing the package runs it.
    Import,
    /// Inside a function: runs when that function is called.
    Call(String),
}

impl When {
    fn words(&self) -> String {
        match self {
            When::Install => "at install time".into(),
            When::EveryStart => "at every Python start".into(),
            When::Import => "at import time".into(),
            When::Call(f) => format!("when {f}() runs"),
        }
    }
}

/// Where a value's content came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Taint {
    /// Fetched over the network (HTTP, a socket, a DNS TXT record).
    Downloaded,
    /// Decoded from an encoded literal, decompressed or unmarshalled.
    Decoded,
    /// Read from a credential store, a token command or the cloud metadata endpoint.
    Credential,
    /// The whole process environment, or its secrets filtered by name.
    Environment,
    /// Read from a data file (an image, JSON, a blob) rather than from source code.
    DataFile,
    /// A place the system starts things from (a shell rc file, an autostart folder or key, a
    /// scheduled-task directory): persistence once something is written there. Naming one is
    /// not (a syntax highlighter lists `.bashrc` among shell files).
    AutostartPath,
}

/// A source a value carries: what it is and where it entered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Origin {
    pub taint: Taint,
    pub site: Site,
    pub detail: String,
}

/// What a call or a string does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Behaviour {
    Downloads,
    Sends,
    RunsProcess,
    RunsCode,
    MakesExecutable,
    ReadsCredentials,
    Persists,
    Mines,
    DownloadRunCommand,
    StartsAgent,
    Publishes,
    HidesName,
    InvisibleText,
    /// Overrides a browser API (`fetch`, `XMLHttpRequest`, `window.ethereum`).
    HooksBrowser,
    /// Holds cryptocurrency wallet addresses or a pattern matching them.
    NamesWallet,
}

/// One thing the code does, where, and what flowed into it.
#[derive(Clone, Debug)]
pub struct Fact {
    pub behaviour: Behaviour,
    pub site: Site,
    /// The function (or `<module>`) it is in, qualified by file.
    pub unit: String,
    pub when: When,
    pub detail: String,
    /// The sources of the values the call was given.
    pub from: Vec<Origin>,
    /// The line's text, for the evidence.
    pub snippet: String,
}

/// Facts of a whole package, gathered file by file.
#[derive(Debug, Default)]
pub struct Facts {
    pub facts: Vec<Fact>,
    /// Files that were parsed and analysed (their line rules the analysis supersedes are off).
    pub analysed: HashSet<String>,
    /// Analysed `.pth` files with import lines.
    pub pth_imports: Vec<String>,
}

/// Rule ids the analysis decides for the files it parsed, in place of the line patterns of the
/// same name (policies and exceptions keep naming them).
pub const SUPERSEDES: &[&str] = &[
    "heuristics.decode-exec",
    "heuristics.download-exec",
    "heuristics.environment-exfiltration",
    "heuristics.pth-payload",
    "heuristics.pth-exec",
];

/// The analysis' own rules: id, severity when proven, and what a reviewer should know.
pub const RULES: &[(&str, Severity, &str)] = &[
    (
        "heuristics.download-exec",
        Severity::Critical,
        "downloads code and runs it",
    ),
    (
        "heuristics.decode-exec",
        Severity::Critical,
        "decodes hidden code and runs it",
    ),
    (
        "heuristics.data-file-exec",
        Severity::Critical,
        "runs code read from a data file",
    ),
    (
        "heuristics.credential-exfiltration",
        Severity::Critical,
        "sends credentials somewhere",
    ),
    (
        "heuristics.environment-exfiltration",
        Severity::Critical,
        "sends the environment somewhere",
    ),
    (
        "heuristics.pth-payload",
        Severity::Critical,
        "a .pth file decodes, downloads or spawns at every Python start",
    ),
    (
        "heuristics.pth-exec",
        Severity::Low,
        "a .pth file runs code at every Python start",
    ),
    (
        "heuristics.persistence",
        Severity::High,
        "makes itself start again (shell rc, autostart, scheduled task, .pth)",
    ),
    (
        "heuristics.crypto-miner",
        Severity::Critical,
        "runs a cryptocurrency miner",
    ),
    (
        "heuristics.powershell-download",
        Severity::Critical,
        "a hidden PowerShell download-and-run",
    ),
    (
        "heuristics.ai-agent-abuse",
        Severity::Critical,
        "starts an AI coding agent with its permission checks off",
    ),
    (
        "heuristics.worm",
        Severity::Critical,
        "reads publishing tokens and publishes packages",
    ),
    (
        "heuristics.hidden-call",
        Severity::High,
        "reaches code execution through a name built at run time",
    ),
    (
        "heuristics.wallet-drainer",
        Severity::Critical,
        "overrides the browser's requests or wallet provider and holds wallet addresses (a drainer)",
    ),
    (
        "heuristics.browser-hook",
        Severity::Low,
        "overrides a browser API (fetch, XMLHttpRequest, window.ethereum)",
    ),
    (
        "heuristics.invisible-code",
        Severity::High,
        "a string of invisible Unicode characters (a hidden payload)",
    ),
];

/// Bytes whose presence makes a Python file worth parsing: every finding needs a call or string
/// that contains one of them.
static PREFILTER: LazyLock<Option<regex::bytes::Regex>> = LazyLock::new(|| {
    // Tokens a sink needs, not every mention of a module: `re.compile(`, `np.eval(` and
    // `ctypes`/`pickle` (which count only with downloaded or decoded data, whose tokens are
    // here) would otherwise send most of a scientific package through the parser.
    regex::bytes::Regex::new(concat!(
        r"(?m)exec\(|(^|[^\w.])(eval|compile)\(|dns\.resolver|smtplib|ftplib|gethostbyname|",
        r"system\(|popen\(|subprocess|os\.spawn|pty\.spawn|",
        r"posix_spawn|urlopen|urlretrieve|requests\.|httpx|aiohttp|http\.client|socket\.|",
        r"b64decode|b32decode|b85decode|unhexlify|fromhex|decompress\(|marshal\.|__import__|",
        r"import_module|builtins|winreg|chmod\(|stratum|xmrig|powershell|crontab|\.bashrc|",
        r"Start Menu|CurrentVersion|systemd|LaunchAgents|LaunchDaemons|autostart|schtasks|",
        r"\.zshrc|\.bash_profile|\.pth['\x22]|environ\)|environ\.(copy|items|keys|values)|",
        // Variation selectors and tag characters, as their UTF-8 lead bytes.
        r"sys\.modules\[|(?-u:\xef\xb8|\xf3\xa0)",
    ))
    .ok()
});

/// Bytes a JavaScript file needs for any finding: a sink, a decoder, a hooked browser API, a
/// credential file, invisible characters. (`require(` alone is in every module.)
static JS_PREFILTER: LazyLock<Option<regex::bytes::Regex>> = LazyLock::new(|| {
    regex::bytes::Regex::new(concat!(
        r"child_process|(^|[^\w.])eval\(|Function\(|vm\.|runInThisContext|fetch|https?\.(get|request)|",
        r"axios|dns\.|atob\(|Buffer\.from|fromCharCode|XMLHttpRequest|ethereum|\.npmrc|",
        r"\.ssh|credentials|chmod|writeFile|appendFile|_compile|process\.env\b[^.]|",
        r"(?-u:\xef\xb8|\xf3\xa0)",
    ))
    .ok()
});

fn is_javascript(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    [".js", ".cjs", ".mjs", ".ts", ".mts", ".cts"]
        .iter()
        .any(|e| lower.ends_with(e))
        && !lower.ends_with(".d.ts")
}

/// Whether a JavaScript file could hold anything the analysis reports.
pub fn worth_parsing_js(content: &[u8]) -> bool {
    JS_PREFILTER.as_ref().is_none_or(|re| re.is_match(content))
}

/// Whether `content` could hold anything the analysis reports (see [`PREFILTER`]).
pub fn worth_parsing(content: &[u8]) -> bool {
    PREFILTER.as_ref().is_none_or(|re| re.is_match(content))
}

/// Whether the analysis reads this file, and as what.
pub fn language_of(path: &str) -> Option<When> {
    let lower = path.to_ascii_lowercase();
    let name = lower.rsplit('/').next().unwrap_or(&lower);
    if name.ends_with(".pth") {
        Some(When::EveryStart)
    } else if name == "setup.py" {
        Some(When::Install)
    } else if name.ends_with(".py") || name.ends_with(".pyw") {
        Some(When::Import)
    } else {
        None
    }
}

/// Analyses one file of the package into `facts` (a no-op for files the analysis does not read
/// or that the prefilter rules out).
pub fn analyse_file(path: &str, content: &[u8], facts: &mut Facts) {
    if is_javascript(path) {
        if worth_parsing_js(content) {
            let text = String::from_utf8_lossy(content);
            if javascript::analyse(path, &text, When::Import, facts) {
                facts.analysed.insert(path.to_string());
            }
        }
        return;
    }
    let Some(when) = language_of(path) else {
        return;
    };
    // `.pth` files are a few lines and always judged by what they run.
    if when != When::EveryStart && !worth_parsing(content) {
        return;
    }
    let text = String::from_utf8_lossy(content);
    if when == When::EveryStart && text.lines().any(|l| l.trim_start().starts_with("import")) {
        facts.pth_imports.push(path.to_string());
    }
    let source = if when == When::EveryStart {
        // Python runs a .pth line only when it starts with `import`; the rest are paths.
        text.lines()
            .map(|l| {
                if l.trim_start().starts_with("import") {
                    l
                } else {
                    ""
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    } else {
        text.into_owned()
    };
    if python::analyse(path, &source, when, facts) {
        facts.analysed.insert(path.to_string());
    }
}

fn rule(id: &str) -> (Severity, &'static str) {
    RULES
        .iter()
        .find(|(r, _, _)| *r == id)
        .map_or((Severity::High, "suspicious behaviour"), |(_, s, t)| {
            (*s, t)
        })
}

/// The findings the facts add up to: flows first, then combinations within a unit or file, then
/// the behaviours that are enough alone. One finding per rule and file.
pub fn judge(facts: &Facts) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    let all = &facts.facts;
    // Flows: a sink given a value whose content came from a source.
    for f in all {
        for o in &f.from {
            let id = match (f.behaviour, o.taint) {
                (Behaviour::RunsCode | Behaviour::RunsProcess, Taint::Downloaded) => {
                    "heuristics.download-exec"
                }
                (Behaviour::RunsCode | Behaviour::RunsProcess, Taint::Decoded) => {
                    "heuristics.decode-exec"
                }
                (Behaviour::RunsCode, Taint::DataFile) => "heuristics.data-file-exec",
                (Behaviour::Sends, Taint::Credential) => "heuristics.credential-exfiltration",
                (Behaviour::Sends, Taint::Environment) => "heuristics.environment-exfiltration",
                _ => continue,
            };
            let id = if f.when == When::EveryStart && id != "heuristics.credential-exfiltration" {
                "heuristics.pth-payload"
            } else {
                id
            };
            push_finding(&mut out, id, false, &f.site, chain(o, f));
        }
    }
    // A .pth line that does more than import: whatever it does happens at every start.
    for f in all.iter().filter(|f| f.when == When::EveryStart) {
        let active = match f.behaviour {
            Behaviour::RunsProcess
            | Behaviour::Downloads
            | Behaviour::Sends
            | Behaviour::MakesExecutable
            | Behaviour::Persists
            | Behaviour::HidesName
            | Behaviour::DownloadRunCommand => true,
            Behaviour::RunsCode => !f.from.is_empty(),
            _ => false,
        };
        if active {
            push_finding(
                &mut out,
                "heuristics.pth-payload",
                false,
                &f.site,
                format!(
                    "{} ({}), {}: {}",
                    f.detail,
                    f.site,
                    f.when.words(),
                    f.snippet
                ),
            );
        }
    }
    for file in &facts.pth_imports {
        push_finding(
            &mut out,
            "heuristics.pth-exec",
            false,
            &Site {
                file: file.clone(),
                line: 1,
            },
            "imports at every Python start; nothing it runs downloads, decodes, spawns or persists"
                .into(),
        );
    }
    let in_unit =
        |unit: &str, b: Behaviour| all.iter().find(|f| f.unit == unit && f.behaviour == b);
    let in_file =
        |file: &str, b: Behaviour| all.iter().find(|f| f.site.file == file && f.behaviour == b);
    let anywhere = |b: Behaviour| all.iter().find(|f| f.behaviour == b);
    for f in all {
        match f.behaviour {
            // Download, make executable and run in one function, without a proven flow.
            Behaviour::MakesExecutable => {
                if let (Some(d), Some(r)) = (
                    in_unit(&f.unit, Behaviour::Downloads),
                    in_unit(&f.unit, Behaviour::RunsProcess),
                ) {
                    push_finding(
                        &mut out,
                        "heuristics.download-exec",
                        false,
                        &r.site,
                        format!(
                            "{} ({}) → {} ({}) → {} ({}), {}",
                            d.detail,
                            d.site,
                            f.detail,
                            f.site,
                            r.detail,
                            r.site,
                            r.when.words()
                        ),
                    );
                }
            }
            // A credential store read in one function, the data sent in another of the file.
            Behaviour::ReadsCredentials => {
                if let Some(s) = in_file(&f.site.file, Behaviour::Sends) {
                    push_finding(
                        &mut out,
                        "heuristics.credential-exfiltration",
                        true,
                        &f.site,
                        format!(
                            "{} ({}) and {} ({}) in the same file, {}",
                            f.detail,
                            f.site,
                            s.detail,
                            s.site,
                            s.when.words()
                        ),
                    );
                }
            }
            Behaviour::Persists => {
                let active = in_unit(&f.unit, Behaviour::RunsProcess)
                    .or_else(|| in_unit(&f.unit, Behaviour::Downloads));
                let chain = match active {
                    Some(a) => format!(
                        "{} ({}) with {} ({}), {}",
                        f.detail,
                        f.site,
                        a.detail,
                        a.site,
                        f.when.words()
                    ),
                    None => format!("{} ({}), {}", f.detail, f.site, f.when.words()),
                };
                // Set up on an explicit call (a completion installer) it may be what the
                // user asked for; at install or import time nobody asked.
                let on_call = matches!(f.when, When::Call(_));
                push_finding(&mut out, "heuristics.persistence", false, &f.site, chain);
                if on_call && active.is_none() {
                    set_severity(
                        &mut out,
                        "heuristics.persistence",
                        &f.site.file,
                        Severity::Low,
                    );
                }
                if active.is_some() {
                    escalate(&mut out, "heuristics.persistence", &f.site.file);
                }
            }
            Behaviour::Mines => {
                let active =
                    anywhere(Behaviour::RunsProcess).or_else(|| anywhere(Behaviour::Downloads));
                push_finding(
                    &mut out,
                    "heuristics.crypto-miner",
                    active.is_none(),
                    &f.site,
                    format!("{} ({}), {}", f.detail, f.site, f.when.words()),
                );
            }
            Behaviour::DownloadRunCommand | Behaviour::HidesName => {
                let id = match f.behaviour {
                    Behaviour::HidesName => "heuristics.hidden-call",
                    _ if f.detail.contains("PowerShell") => "heuristics.powershell-download",
                    _ => "heuristics.download-exec",
                };
                let chain = format!(
                    "{} ({}), {}: {}",
                    f.detail,
                    f.site,
                    f.when.words(),
                    f.snippet
                );
                push_finding(&mut out, id, false, &f.site, chain);
            }
            Behaviour::StartsAgent => push_finding(
                &mut out,
                "heuristics.ai-agent-abuse",
                false,
                &f.site,
                format!("{} ({}), {}", f.detail, f.site, f.when.words()),
            ),
            // Registry tokens read and packages published by the same file: the worm's loop
            // (a maintainer's `setup.py publish` shortcut reads no token).
            Behaviour::Publishes => {
                if let Some(c) = all.iter().find(|c| {
                    c.behaviour == Behaviour::ReadsCredentials
                        && c.site.file == f.site.file
                        && (c.detail.contains("token")
                            || c.detail.contains("npmrc")
                            || c.detail.contains("pypirc"))
                }) {
                    push_finding(
                        &mut out,
                        "heuristics.worm",
                        false,
                        &f.site,
                        format!("{} ({}) → {} ({})", c.detail, c.site, f.detail, f.site),
                    );
                }
            }
            // Instrumentation (error trackers, polyfills) overrides fetch and XHR too; with
            // wallet addresses beside the hook it is an address swapper.
            Behaviour::HooksBrowser => match in_file(&f.site.file, Behaviour::NamesWallet) {
                Some(w) => push_finding(
                    &mut out,
                    "heuristics.wallet-drainer",
                    false,
                    &f.site,
                    format!("{} ({}) with {} ({})", f.detail, f.site, w.detail, w.site),
                ),
                None => push_finding(
                    &mut out,
                    "heuristics.browser-hook",
                    false,
                    &f.site,
                    format!("{} ({}), {}", f.detail, f.site, f.when.words()),
                ),
            },
            Behaviour::InvisibleText => push_finding(
                &mut out,
                "heuristics.invisible-code",
                false,
                &f.site,
                format!("{} ({})", f.detail, f.site),
            ),
            _ => {}
        }
    }
    out
}

fn push_finding(out: &mut Vec<Finding>, id: &str, lower: bool, site: &Site, chain: String) {
    if out
        .iter()
        .any(|f| f.rule == id && f.file.as_deref() == Some(site.file.as_str()))
    {
        return;
    }
    let (severity, title) = rule(id);
    let tests = super::heuristics::in_tests(&site.file);
    let mut severity = if lower {
        super::heuristics::lowered(severity)
    } else {
        severity
    };
    // Test code runs only under a test runner, never at install or import: a flow there is
    // worth a look, not a hold by itself.
    if tests {
        severity = super::heuristics::lowered(super::heuristics::lowered(severity));
    }
    out.push(Finding {
        rule: id.to_string(),
        severity,
        file: Some(site.file.clone()),
        line: Some(site.line),
        evidence: Some(format!(
            "{title}{}: {chain}",
            if tests { " (in test code)" } else { "" }
        )),
    });
}

fn set_severity(out: &mut [Finding], id: &str, file: &str, severity: Severity) {
    for f in out.iter_mut() {
        if f.rule == id && f.file.as_deref() == Some(file) {
            f.severity = severity;
        }
    }
}

/// Raises a finding already made to Critical (a behaviour that is suspicious alone, proven
/// active by what sits beside it).
fn escalate(out: &mut [Finding], id: &str, file: &str) {
    for f in out.iter_mut() {
        if f.rule == id && f.file.as_deref() == Some(file) && !super::heuristics::in_tests(file) {
            f.severity = Severity::Critical;
        }
    }
}

fn chain(source: &Origin, sink: &Fact) -> String {
    format!(
        "{} ({}) → {} ({}), {}: {}",
        source.detail,
        source.site,
        sink.detail,
        sink.site,
        sink.when.words(),
        sink.snippet
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefilter_passes_sinks_and_hidden_bytes_but_not_look_alike_names() {
        assert!(worth_parsing(b"import subprocess\n"));
        assert!(worth_parsing(b"eval(x)"));
        assert!(worth_parsing("s = '\u{e0069}'".as_bytes()));
        assert!(!worth_parsing(
            b"pattern = re.compile(r'x')\nfrom ctypes import c_int\n"
        ));
        assert!(!worth_parsing(b"timeout = os.environ.get('TIMEOUT')\n"));
    }
}
