//! The package pipeline, one module a step: [`resolve`] the exact files
//! of a version, [`fetch`] and verify them into the [`cache`], [`unpack`] them for the scanners.
//! What the steps speak of (names, versions, file kinds, digests) is [`crate::package`]; the way
//! out to a registry is [`crate::net::client`].

pub mod cache;
pub mod fetch;
pub mod resolve;
pub mod unpack;

/// The resolver and fetcher a pipeline runs with: one HTTP client allowed to reach the
/// registries' hosts and `extra_hosts` (mirrors' file hosts, an OSV API), and the download cache
/// at `cache_dir`.
pub fn intake(
    registries: resolve::Registries,
    extra_hosts: &[String],
    cache_dir: &std::path::Path,
) -> Result<(resolve::Resolver, fetch::Fetcher), String> {
    let mut hosts = registries.allowed_hosts();
    hosts.extend(extra_hosts.iter().cloned());
    let http =
        crate::net::client::HttpClient::new(hosts, crate::net::client::HttpConfig::default())?;
    let cache = cache::Cache::open(cache_dir)
        .map_err(|e| format!("the download cache {}: {e}", cache_dir.display()))?;
    Ok((
        resolve::Resolver::new(http.clone(), registries),
        fetch::Fetcher::new(http, cache),
    ))
}
