//! Reads apt's source lists (deb822 `.sources` and one-line `.list`) and derives a backports
//! source from the mirror the machine already uses, so no host name is ever hard-coded.

use std::fmt;

/// One repository apt reads: a deb822 stanza or a one-line entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceEntry {
    /// `deb` and/or `deb-src`.
    pub types: Vec<String>,
    pub uris: Vec<String>,
    pub suites: Vec<String>,
    pub components: Vec<String>,
    /// The `Signed-By` value (a keyring path, or an inline key spread over several lines).
    pub signed_by: Option<String>,
    /// False for stanzas with `Enabled: no`.
    pub enabled: bool,
}

/// Why no backports source can be derived.
#[derive(Debug, PartialEq, Eq)]
pub enum SourcesError {
    /// No enabled binary (`deb`) source serves the release itself.
    NoMirrorForRelease { codename: String },
}

impl fmt::Display for SourcesError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourcesError::NoMirrorForRelease { codename } => write!(
                f,
                "no enabled `deb` source for suite `{codename}` in the apt sources, so there is no mirror to take \
                 `{codename}-backports` from; add a Debian mirror for `{codename}` first"
            ),
        }
    }
}

impl std::error::Error for SourcesError {}

/// Parses a deb822 `.sources` file. Comment lines are skipped; continuation lines (starting
/// with a space or tab) extend the previous field, a line holding only ` .` standing for an
/// empty line inside the value.
pub fn parse_deb822(text: &str) -> Vec<SourceEntry> {
    let mut entries = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !fields.is_empty() {
                entries.push(entry_from_fields(&fields));
                fields.clear();
            }
        } else if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim_end());
            }
        } else if let Some((key, value)) = line.split_once(':') {
            fields.push((key.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
    }
    entries
}

fn entry_from_fields(fields: &[(String, String)]) -> SourceEntry {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let words = |name: &str| {
        get(name)
            .map(|v| v.split_whitespace().map(String::from).collect())
            .unwrap_or_default()
    };
    SourceEntry {
        types: words("types"),
        uris: words("uris"),
        suites: words("suites"),
        components: words("components"),
        signed_by: get("signed-by").filter(|v| !v.is_empty()).map(String::from),
        enabled: !matches!(
            get("enabled").map(str::to_ascii_lowercase).as_deref(),
            Some("no")
        ),
    }
}

/// Parses a one-line `sources.list`: `deb [opt=value ...] URI SUITE [COMPONENT...]`.
pub fn parse_one_line(text: &str) -> Vec<SourceEntry> {
    let mut entries = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some((kind, rest)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        if kind != "deb" && kind != "deb-src" {
            continue;
        }
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(options) = rest.strip_prefix('[') {
            let Some((options, after)) = options.split_once(']') else {
                continue;
            };
            signed_by = options
                .split_whitespace()
                .find_map(|o| o.strip_prefix("signed-by="))
                .map(String::from);
            rest = after.trim_start();
        }
        let mut words = rest.split_whitespace().map(String::from);
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        entries.push(SourceEntry {
            types: vec![kind.to_string()],
            uris: vec![uri],
            suites: vec![suite],
            components: words.collect(),
            signed_by,
            enabled: true,
        });
    }
    entries
}

/// What to do to get `<codename>-backports`.
#[derive(Debug, PartialEq, Eq)]
pub enum Backports {
    /// An enabled source already serves the backports suite.
    AlreadyConfigured,
    /// Write this deb822 stanza to a new `.sources` file.
    Add { stanza: String },
}

/// Derives the backports source from the mirror that serves `codename` itself.
pub fn backports_source(
    entries: &[SourceEntry],
    codename: &str,
) -> Result<Backports, SourcesError> {
    let suite = format!("{codename}-backports");
    let binary = entries
        .iter()
        .filter(|e| e.enabled && e.types.iter().any(|t| t == "deb"));
    if binary.clone().any(|e| e.suites.contains(&suite)) {
        return Ok(Backports::AlreadyConfigured);
    }
    let (entry, uri) = binary
        .filter(|e| e.suites.iter().any(|s| s == codename))
        .find_map(|e| e.uris.first().map(|u| (e, u)))
        .ok_or_else(|| SourcesError::NoMirrorForRelease {
            codename: codename.to_string(),
        })?;
    let mut stanza = format!("Types: deb\nURIs: {uri}\nSuites: {suite}\nComponents: main\n");
    if let Some(signed_by) = &entry.signed_by {
        stanza.push_str(&format!("Signed-By: {signed_by}\n"));
    }
    Ok(Backports::Add { stanza })
}

/// The release codename from `/etc/os-release` (`VERSION_CODENAME=bookworm`).
pub fn codename_from_os_release(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
        .map(|v| v.trim().trim_matches('"').to_string())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
#[path = "apt_sources_tests.rs"]
mod tests;
