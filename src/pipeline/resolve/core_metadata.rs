//! Python core metadata (`METADATA` / `PKG-INFO`, RFC 822 style headers): the fields airlock uses.

/// The fields of a core metadata file that the licence and dependency checks read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CoreMetadata {
    pub name: Option<String>,
    pub version: Option<String>,
    /// PEP 639 `License-Expression`.
    pub license_expression: Option<String>,
    /// The older free-text `License` field.
    pub license: Option<String>,
    /// `License :: …` trove classifiers.
    pub license_classifiers: Vec<String>,
    pub requires_dist: Vec<String>,
    pub metadata_version: Option<String>,
    pub summary: Option<String>,
    pub requires_python: Option<String>,
    pub classifiers: Vec<String>,
}

impl CoreMetadata {
    /// Parses the header block; the description body after the first blank line is ignored.
    pub fn parse(text: &str) -> CoreMetadata {
        let mut m = CoreMetadata::default();
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                break;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, v)) = fields.last_mut() {
                    v.push('\n');
                    v.push_str(line.trim());
                }
                continue;
            }
            if let Some((k, v)) = line.split_once(':') {
                fields.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        for (k, v) in fields {
            match k.as_str() {
                "name" => m.name = Some(v),
                "version" => m.version = Some(v),
                "license-expression" => m.license_expression = Some(v),
                "license" if !v.is_empty() && v != "UNKNOWN" => m.license = Some(v),
                "classifier" => {
                    if v.starts_with("License ::") {
                        m.license_classifiers.push(v.clone());
                    }
                    m.classifiers.push(v);
                }
                "metadata-version" => m.metadata_version = Some(v),
                "summary" => m.summary = Some(v),
                "requires-python" => m.requires_python = Some(v),
                "requires-dist" => m.requires_dist.push(v),
                _ => {}
            }
        }
        m
    }

    /// The best licence statement available: the SPDX expression, else the free text (first
    /// line), else the classifiers.
    pub fn license_summary(&self) -> Option<String> {
        self.license_expression
            .clone()
            .or_else(|| {
                self.license
                    .as_ref()
                    .and_then(|l| l.lines().next())
                    .map(str::to_string)
            })
            .or_else(|| {
                (!self.license_classifiers.is_empty()).then(|| self.license_classifiers.join("; "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_licence_and_dependencies() {
        let m = CoreMetadata::parse(
            "Metadata-Version: 2.4\nName: demo\nVersion: 1.0\nLicense-Expression: MIT OR Apache-2.0\nClassifier: License :: OSI Approved :: MIT License\nClassifier: Programming Language :: Python\nRequires-Dist: requests>=2\nRequires-Dist: numpy; extra == 'fast'\nLicense: long\n        text\n\nRequires-Dist: not-a-header\n",
        );
        assert_eq!(m.license_summary().as_deref(), Some("MIT OR Apache-2.0"));
        assert_eq!(
            m.requires_dist,
            vec!["requests>=2", "numpy; extra == 'fast'"]
        );
        assert_eq!(m.license.as_deref(), Some("long\ntext"));
        assert_eq!(m.license_classifiers.len(), 1);
    }
}
