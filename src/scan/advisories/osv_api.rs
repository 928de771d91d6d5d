//! The OSV API (`POST /v1/querybatch`, then `GET /v1/vulns/{id}`), for advisories newer than the
//! local export. The base URL is configurable (`https://api.osv.dev` upstream, or a mirror).

use serde_json::{Value, json};
use url::Url;

use super::{AdvisoryDb, Record};
use crate::api::package_request::Ecosystem;
use crate::net::client::{HttpClient, HttpError};
use crate::package::normalize_pypi_name;

/// Answers larger than this are not OSV answers.
const MAX_ANSWER_BYTES: u64 = 32 << 20;
/// Pages of one query followed at most (1000 vulnerabilities a page upstream).
const MAX_PAGES: usize = 10;

#[derive(Clone)]
pub struct OsvApi {
    pub http: HttpClient,
    pub base: Url,
}

#[derive(Debug, thiserror::Error)]
pub enum OsvApiError {
    #[error("the OSV API at {base}: {source}")]
    Http {
        base: String,
        #[source]
        source: HttpError,
    },
    #[error("the OSV API at {base} answered something that is not OSV: {reason}")]
    BadAnswer { base: String, reason: String },
}

impl OsvApi {
    fn url(&self, path: &str) -> Result<Url, OsvApiError> {
        self.base.join(path).map_err(|e| OsvApiError::BadAnswer {
            base: self.base.to_string(),
            reason: e.to_string(),
        })
    }

    fn http_error(&self, source: HttpError) -> OsvApiError {
        OsvApiError::Http {
            base: self.base.to_string(),
            source,
        }
    }

    /// The ids of the vulnerabilities the API says affect `name` at `version`.
    pub async fn query(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
    ) -> Result<Vec<String>, OsvApiError> {
        let name = match ecosystem {
            Ecosystem::Pypi => normalize_pypi_name(name),
            Ecosystem::Npm => name.to_string(),
        };
        let url = self.url("v1/querybatch")?;
        let mut ids = Vec::new();
        let mut page_token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut query = json!({"package": {"name": name, "ecosystem": super::osv_name(ecosystem)}, "version": version});
            if let Some(t) = &page_token {
                query["page_token"] = json!(t);
            }
            let body = self
                .http
                .post_json(&url, &json!({"queries": [query]}), MAX_ANSWER_BYTES)
                .await
                .map_err(|e| self.http_error(e))?;
            let answer: Value =
                serde_json::from_slice(&body).map_err(|e| OsvApiError::BadAnswer {
                    base: self.base.to_string(),
                    reason: e.to_string(),
                })?;
            let result = &answer["results"][0];
            ids.extend(
                result["vulns"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["id"].as_str().map(str::to_string)),
            );
            page_token = result["next_page_token"].as_str().map(str::to_string);
            if page_token.is_none() {
                break;
            }
        }
        Ok(ids)
    }

    /// The full records of the vulnerabilities affecting `name` at `version`, in a database of
    /// their own (matched locally like any other, so severities and ranges are judged the same).
    pub async fn advisories(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
    ) -> Result<AdvisoryDb, OsvApiError> {
        let mut db = AdvisoryDb::default();
        db.cover(ecosystem);
        for id in self.query(ecosystem, name, version).await? {
            let url = self.url(&format!("v1/vulns/{id}"))?;
            let body = self
                .http
                .get_bytes(&url, "application/json", MAX_ANSWER_BYTES)
                .await
                .map_err(|e| self.http_error(e))?;
            let record: Record =
                serde_json::from_slice(&body).map_err(|e| OsvApiError::BadAnswer {
                    base: self.base.to_string(),
                    reason: format!("{id}: {e}"),
                })?;
            db.add(record);
        }
        Ok(db)
    }
}
